"""The one reader for JSON a user sent (a dataset line, hyperparameters, an adapter config, a
safetensors header): bounded in size and nesting, and it never raises anything but JSONInputError.

`json.loads` on 50,000 `[` raises RecursionError, which no `except ValueError` catches; a shallower
but still deep document parses and then breaks whatever walks it. Messages name a position, never
the text. Pure Python, no Django: sandbox code imports it too.
"""

from __future__ import annotations

import json
from typing import Any

MAX_DEPTH = 32


class JSONInputError(ValueError):
    """Unreadable JSON from a user; the message says why without quoting the input."""


def _reject_constant(name: str) -> Any:
    raise JSONInputError(f"{name} is not a JSON value")


def _deeper_than(value: Any, limit: int) -> bool:
    stack = [(value, 1)]
    while stack:
        node, depth = stack.pop()
        children = node.values() if isinstance(node, dict) else node
        if depth > limit:
            return True
        stack.extend((child, depth + 1) for child in children if isinstance(child, dict | list))
    return False


def loads(data: str | bytes, *, max_bytes: int | None = None, max_depth: int = MAX_DEPTH) -> Any:
    """Parse one JSON document from a user, within `max_bytes` and `max_depth` levels of nesting."""
    if max_bytes is not None and len(data) > max_bytes:
        raise JSONInputError(f"larger than {max_bytes:,} bytes")
    if isinstance(data, bytes):
        try:
            data = data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise JSONInputError(f"not UTF-8 text (byte {exc.start + 1})") from None
    try:
        value = json.loads(data, parse_constant=_reject_constant)
    except RecursionError:
        raise JSONInputError(f"nested more than {max_depth} levels deep") from None
    except JSONInputError:
        raise
    except ValueError as exc:
        # The decoder's message names a position, never the text.
        where = f"line {exc.lineno}, column {exc.colno}" if exc.lineno > 1 else f"column {exc.colno}"
        raise JSONInputError(f"not valid JSON: {exc.msg} at {where}") from None
    if isinstance(value, dict | list) and _deeper_than(value, max_depth):
        raise JSONInputError(f"nested more than {max_depth} levels deep")
    return value
