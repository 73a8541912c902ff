"""Staff manage users in the admin; the API sees the result."""

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.live import PASSWORD, live_db, log_in
from users.models import User

pytestmark = [pytest.mark.browser, pytest.mark.requires("chromium"), live_db]


def test_staff_changes_age_and_api_returns_it(
    page: Page,
    live_url: str,
    superuser: User,
    superuser_token: str,
    dora: User,
    ann: User,
) -> None:
    """Staff finds Dora by name, sets her age, and GET /api/users/{id} returns it."""
    page.goto("/admin/")
    log_in(page, superuser.email, PASSWORD)
    expect(page).to_have_url(f"{live_url}/admin/")
    page.locator("tr.model-user").get_by_role("link", name="Users").click()
    page.locator("#searchbar").fill("Dora Smith")
    page.locator("#searchbar").press("Enter")
    expect(page.locator("#result_list")).not_to_contain_text(ann.email)
    page.locator("#result_list").get_by_role("link", name=dora.email).click()
    page.locator("#id_age").fill("41")
    page.locator("input[name=_save]").click()

    expect(page.locator(".messagelist .success")).to_contain_text(
        "changed successfully"
    )
    response = httpx.get(
        f"{live_url}/api/users/{dora.pk}",
        headers={"Authorization": f"Bearer {superuser_token}"},
    )
    assert response.status_code == 200
    assert response.json()["age"] == 41


def test_email_of_another_user_in_other_case_is_a_field_error(
    page: Page,
    live_url: str,
    superuser: User,
    superuser_token: str,
    ann: User,
    bob: User,
) -> None:
    """Giving Bob ANN@example.com shows an error on the email field; nothing is saved."""
    log_in(page, superuser.email, PASSWORD)
    page.goto(f"/admin/users/user/{bob.pk}/change/")
    page.locator("#id_email").fill(ann.email.upper())
    with page.expect_response(lambda r: r.request.method == "POST") as posted:
        page.locator("input[name=_save]").click()

    assert posted.value.status == 200  # the form again: no redirect, no 500
    expect(page.locator(".field-email .errorlist")).to_contain_text("already exists")
    auth = {"Authorization": f"Bearer {superuser_token}"}
    emails = [
        httpx.get(f"{live_url}/api/users/{user.pk}", headers=auth).json()["email"]
        for user in (ann, bob)
    ]
    assert emails == [ann.email, bob.email]


def test_user_who_is_not_staff_cannot_log_in(
    page: Page, live_url: str, member: User
) -> None:
    """Right email and password, but not staff: the log-in page says so and stays."""
    page.goto("/admin/")
    log_in(page, member.email, PASSWORD)

    expect(page.locator(".errornote")).to_contain_text("staff account")
    expect(page).to_have_url(f"{live_url}/admin/login/?next=/admin/")
