"""Fuzzing the request-parsing layer: no body, however odd, gets a 500.

Hypothesis generates JSON values of every shape (and raw bytes) as bodies for
the users endpoints; every answer must be a success or a 4xx in the API's
error shape. Bounded: a fixed number of examples, derandomized (the same
examples each run, so CI is reproducible; a failure prints the body).
"""

from collections.abc import Iterator
from typing import Any

import httpx
import pytest
from asgiref.sync import async_to_sync
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests import factories
from tests.helpers import client, requests_keep_the_test_connection
from users.models import User

pytestmark = pytest.mark.django_db

FUZZ = settings(
    max_examples=150,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)

text = st.text(alphabet=st.characters(codec="utf-8"), max_size=300) | st.sampled_from(
    ["", "\x00", "a\x00b", "x" * 5000, "ａｎｎ＠ｅｘａｍｐｌｅ．ｃｏｍ", "a@b.c"]
)
scalars = (
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | text
)
json_values = st.recursive(
    scalars,
    lambda inner: (
        st.lists(inner, max_size=5)
        | st.dictionaries(
            st.sampled_from(["email", "name", "age", "is_staff", "x"]) | text,
            inner,
            max_size=6,
        )
    ),
    max_leaves=20,
)
user_bodies = (
    st.fixed_dictionaries(
        {},
        optional={
            "email": json_values,
            "name": json_values,
            "age": json_values,
            "is_staff": json_values,
        },
    )
    | json_values
)


def _check(response: httpx.Response) -> None:
    assert response.status_code < 500, response.text
    if response.status_code >= 400:
        body = response.json()
        assert {"detail", "code"} <= body.keys()


@pytest.fixture(autouse=True)
def _requests_share_the_test_transaction() -> Iterator[None]:
    """Requests made from these sync tests run in their thread and transaction,
    as tests/conftest.py's hook arranges for async tests."""
    with requests_keep_the_test_connection():
        yield


@pytest.fixture
def staff_api(db: None) -> httpx.AsyncClient:
    staff = factories.user(email="fuzz-staff@example.com", name="Staff", is_staff=True)
    return client(factories.token(staff))


@FUZZ
@given(body=user_bodies)
def test_create_never_500s(staff_api: httpx.AsyncClient, body: Any) -> None:
    _check(async_to_sync(staff_api.post)("/api/users", json=body))


@FUZZ
@given(body=user_bodies)
def test_patch_never_500s(staff_api: httpx.AsyncClient, body: Any) -> None:
    target = User.objects.get_or_create(
        email="target@example.com", defaults={"name": "T"}
    )[0]
    _check(async_to_sync(staff_api.patch)(f"/api/users/{target.pk}", json=body))


@FUZZ
@given(raw=st.binary(max_size=400))
def test_raw_bytes_never_500(staff_api: httpx.AsyncClient, raw: bytes) -> None:
    headers = {"Content-Type": "application/json"}
    _check(async_to_sync(staff_api.post)("/api/users", content=raw, headers=headers))
    _check(
        async_to_sync(staff_api.post)(
            "/api/utilities/slugify", content=raw, headers=headers
        )
    )
