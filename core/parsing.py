"""The API's JSON body parser: Ninja's, with a bound on nesting depth."""

import json
from typing import Any

from django.conf import settings
from django.http import HttpRequest
from ninja.parser import Parser
from ninja.types import DictStrAny


class NestingTooDeep(ValueError):
    """A JSON body nested deeper than API_MAX_JSON_DEPTH."""


class NotJSON(ValueError):
    """A body whose Content-Type is not JSON (form, multipart, text)."""


def is_json(content_type: str) -> bool:
    """Whether a media type is JSON: application/json or a +json type."""
    return content_type == "application/json" or (
        content_type.startswith("application/") and content_type.endswith("+json")
    )


def _depth(value: Any) -> int:
    """Return how deeply `value` nests lists and objects, without recursion."""
    deepest, stack = 0, [(value, 1)]
    while stack:
        item, depth = stack.pop()
        if isinstance(item, dict | list):
            deepest = max(deepest, depth)
            children = item.values() if isinstance(item, dict) else item
            stack.extend((child, depth + 1) for child in children)
    return deepest


class BoundedJSONParser(Parser):
    """Parse JSON bodies only, and none nested deeper than the API's schemas need.

    Ninja would parse any body as JSON whatever its Content-Type: a form or
    a text/plain body is refused instead (415), so a client learns it sent
    the wrong thing. Python's own parser fails (RecursionError) only near
    1,000 levels; the depth bound keeps validation and logging of odd bodies
    cheap well before that.
    """

    def parse_body(self, request: HttpRequest) -> DictStrAny:
        if not is_json(request.content_type or ""):
            raise NotJSON(request.content_type)
        try:
            data = json.loads(request.body)
        except RecursionError:
            raise NestingTooDeep() from None
        if _depth(data) > settings.API_MAX_JSON_DEPTH:
            raise NestingTooDeep()
        return data  # type: ignore[no-any-return]  # any JSON; the schema checks its type
