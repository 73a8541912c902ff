"""Staff watch a running job in the admin and cancel it."""

import re
import subprocess
import time

import httpx
import pytest
from playwright.sync_api import Page, expect

from tests.e2e.browser.live import PASSWORD, live_db, log_in
from users.models import User

pytestmark = [pytest.mark.browser, pytest.mark.requires("chromium"), live_db]


def test_staff_sees_progress_and_cancels_running_job(
    page: Page,
    live_url: str,
    job_worker: subprocess.Popen[bytes],
    superuser: User,
    member_token: str,
) -> None:
    """A member's count_primes job shows its progress and ends `cancelled`."""
    log_in(page, superuser.email, PASSWORD)
    member = httpx.Client(
        base_url=live_url, headers={"Authorization": f"Bearer {member_token}"}
    )
    with member:
        submitted = member.post(
            "/api/utilities/count_primes/jobs", json={"limit": 1_000_000_000}
        )
        assert submitted.status_code == 202, submitted.text
        job_id = submitted.json()["id"]

        page.goto("/admin/utilities/job/")
        headers = page.locator("#result_list thead th").all_inner_texts()
        row = page.locator("#result_list tbody tr").filter(
            has=page.locator(f'input[name="_selected_action"][value="{job_id}"]')
        )
        column = [header.strip().lower() for header in headers].index("progress")
        progress = row.locator("xpath=./td|./th").nth(column)
        deadline = time.monotonic() + 10  # the worker starts it within 1-2 s
        while not re.fullmatch(r"\d{1,3}%", shown := progress.inner_text().strip()):
            assert time.monotonic() < deadline, f"no progress shown: {shown!r}"
            page.wait_for_timeout(200)
            page.reload()
        assert int(shown.rstrip("%")) < 100  # still running
        row.locator('input[name="_selected_action"]').check()
        page.locator('select[name="action"]').select_option(
            label="Cancel the selected queued or running jobs"
        )
        page.locator('.actions button[name="index"]').click()

        expect(page.locator(".messagelist")).to_contain_text("1 job")
        deadline = time.monotonic() + 10  # checked about every 0.25 s
        while (status := member.get(f"/api/jobs/{job_id}").json()["status"]) not in (
            "cancelled",
            "succeeded",
            "failed",
        ) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert status == "cancelled"
