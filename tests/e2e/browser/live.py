"""What the browser tests share: their database marker, password and log-in."""

import pytest
from django.apps import apps
from playwright.sync_api import Page

PASSWORD = "a long unusual passphrase 42"

# The server runs in another process, so the test's data must be committed
# (transaction=True). Leaving auth and contenttypes out of available_apps keeps
# their rows, and so the content type ids the server has cached, across the
# flush that ends each test (TransactionTestCase.available_apps).
live_db = pytest.mark.django_db(
    transaction=True,
    available_apps=[
        config.name
        for config in apps.get_app_configs()
        if config.label not in ("auth", "contenttypes")
    ],
)


def log_in(page: Page, email: str, password: str) -> None:
    """Submit the admin log-in form, from wherever the page is."""
    if "/admin/login/" not in page.url:
        page.goto("/admin/login/?next=/admin/")
    page.locator("#id_username").fill(email)
    page.locator("#id_password").fill(password)
    page.locator("#login-form [type=submit]").click()
    page.wait_for_load_state()
