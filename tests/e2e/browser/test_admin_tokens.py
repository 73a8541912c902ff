"""Staff issue an API token in the admin."""

import re

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.live import PASSWORD, live_db, log_in
from users.models import User

pytestmark = [pytest.mark.browser, pytest.mark.requires("chromium"), live_db]


def test_token_made_in_admin_is_shown_once_and_works(
    page: Page, live_url: str, superuser: User, ann: User
) -> None:
    """The new token shows once in the message, opens /api/users/me, and is gone on reload."""
    log_in(page, superuser.email, PASSWORD)
    page.goto("/admin/users/apitoken/add/")
    page.locator(".field-user .select2-selection").click()
    page.locator(".select2-search__field").fill("ann@")
    page.locator(".select2-results__option", has_text=ann.email).click()
    page.locator("#id_name").fill("laptop")
    page.locator("input[name=_save]").click()

    message = page.locator(".messagelist", has_text="The new token is")
    expect(message).to_contain_text("copy it now")
    found = re.search(r"The new token is (\S+) — copy it now", message.inner_text())
    assert found, message.inner_text()
    token = found.group(1)
    me = httpx.get(
        f"{live_url}/api/users/me", headers={"Authorization": f"Bearer {token}"}
    )
    assert me.status_code == 200
    assert me.json()["email"] == ann.email
    page.reload()
    expect(page.locator("#result_list")).to_contain_text(ann.email)
    expect(page.locator(".messagelist")).to_have_count(0)
    assert token not in page.content()
