"""The interactive API documentation, in a browser."""

from urllib.parse import urlsplit

import pytest
from playwright.sync_api import Page, Request, expect

from tests.e2e.browser.live import live_db
from users.models import User

pytestmark = [pytest.mark.browser, pytest.mark.requires("chromium"), live_db]


def test_docs_stay_local_and_try_out_works_with_bearer_token(
    page: Page, superuser: User, superuser_token: str
) -> None:
    """/api/docs loads nothing from elsewhere, and "Try it out" on /api/users/me is 200."""
    requested: list[str] = []

    def record(request: Request) -> None:
        requested.append(request.url)

    page.on("request", record)

    page.goto("/api/docs")
    expect(page.locator(".opblock").first).to_be_visible()
    page.locator(".auth-wrapper button.authorize").click()
    scheme = page.locator(".auth-container", has_text="BearerAuth")
    scheme.locator("input").fill(superuser_token)
    scheme.locator("button.authorize").click()
    expect(scheme).to_contain_text("Authorized")
    scheme.get_by_role("button", name="Close").click()
    operation = page.locator(".opblock-get").filter(
        has=page.locator('.opblock-summary-path[data-path="/api/users/me"]')
    )
    operation.locator(".opblock-summary").click()
    operation.locator("button.try-out__btn").click()
    operation.locator("button.execute").click()

    live_response = operation.locator(".live-responses-table")
    expect(live_response.locator("tr.response .response-col_status")).to_have_text(
        "200"
    )
    expect(live_response).to_contain_text(superuser.email)
    page.wait_for_load_state("networkidle")
    hosts = {urlsplit(url).hostname for url in requested}
    assert hosts == {"localhost"}, requested
