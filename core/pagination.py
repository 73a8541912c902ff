"""Limit/offset pages read in one trip to the request's thread."""

from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Field, pagination

from core.db.calls import db_call

# PostgreSQL's OFFSET is a bigint: a larger one would be a 500, not a page.
OFFSET_MAX = 2**63 - 1


class LimitOffsetPagination(pagination.LimitOffsetPagination):
    """Ninja's, but an async view's page and count are read in one sync call.

    Ninja's async version fetches the page and counts with two hops to the
    request's thread (async iteration, then `acount()`); one is enough. An
    offset beyond what the database can take is a 422, as a bad limit is.
    """

    class Input(pagination.LimitOffsetPagination.Input):
        offset: int = Field(0, ge=0, le=OFFSET_MAX)

    async def apaginate_queryset(
        self,
        queryset: QuerySet[Any],
        pagination: pagination.LimitOffsetPagination.Input,
        request: HttpRequest,
        **params: Any,
    ) -> Any:
        return await db_call(self._read_page)(queryset, pagination, request)

    def _read_page(
        self,
        queryset: QuerySet[Any],
        pagination: pagination.LimitOffsetPagination.Input,
        request: HttpRequest,
    ) -> dict[str, Any]:
        page = self.paginate_queryset(queryset, pagination, request)
        page[self.items_attribute] = list(page[self.items_attribute])
        return page  # type: ignore[no-any-return]
