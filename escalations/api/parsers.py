"""The API's one parser: DRF's JSONParser (strict: no NaN or Infinity), refusing JSON nested deeper
than any request of ours needs. Ten thousand `[` made Python's decoder raise RecursionError, a 500;
a few hundred levels parse, then overflow the stack of whatever walks them next (the idempotency
hash, the error renderer)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from rest_framework.exceptions import ParseError
from rest_framework.parsers import BaseParser, JSONParser

# Bulk is a list of objects of scalars: three levels. Generous for clients that send a little more
# (a list where a string belongs gets its field's own message), far below the recursion limit.
MAX_DEPTH = 32
TOO_DEEP = f"JSON nested deeper than {MAX_DEPTH} levels: send a flat object (a list for bulk)."


def depth_exceeds(data: Any, limit: int) -> bool:
    """Whether lists and objects in `data` nest deeper than `limit`, found without recursion."""
    stack: list[tuple[Any, int]] = [(data, 1)]
    while stack:
        value, depth = stack.pop()
        if isinstance(value, dict):
            children = list(value.values())
        elif isinstance(value, list):
            children = value
        else:
            continue
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def _bounded(parse: Callable[[], Any]) -> Any:
    try:
        data = parse()
    except RecursionError:
        raise ParseError(TOO_DEEP) from None
    if depth_exceeds(data, MAX_DEPTH):
        raise ParseError(TOO_DEEP)
    return data


class BoundedJSONParser(JSONParser):
    """Every API URL's parser. DRF reads the body through request.body, so Django's
    DATA_UPLOAD_MAX_MEMORY_SIZE applies too (escalations.api.guard answers first, in JSON)."""

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return _bounded(lambda: super(BoundedJSONParser, self).parse(stream, media_type, parser_context))


class BulkJSONParser(BaseParser):
    """The bulk URL's parser: the same JSON, read from the request stream rather than request.body
    (DRF does that for a parser that is not a JSONParser), so that its larger allowance
    (settings.API_BULK_MAX_BODY_BYTES, enforced on Content-Length by escalations.api.guard before the
    view runs) is not cut to DATA_UPLOAD_MAX_MEMORY_SIZE by Django."""

    media_type = BoundedJSONParser.media_type
    renderer_class = BoundedJSONParser.renderer_class

    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        return BoundedJSONParser().parse(stream, media_type, parser_context)
