"""The parts of a returned tuple that handlers and security both read: status, headers, body.

One strictness for both: a controller's `("status", 403, headers, body)` and a security
function's `(False, 403, headers, body)` accept exactly the same values. A bad value raises
`_InvalidReturn` naming it; handlers let that become a logged 500, security a 401 denial.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Mapping
from typing import Any

from fastapi.encoders import jsonable_encoder

from fastapi_nova.errors import _InvalidReturn

# One encoder for every response (Starlette's JSONResponse settings): building one per call
# is most of json.dumps's cost on small payloads, and this is on every JSON response's path.
_ENCODER = json.JSONEncoder(ensure_ascii=False, allow_nan=False, separators=(",", ":"))

#: What `_one_shot` must encode exactly as `_ENCODER.encode` does before it is used.
_SAMPLE: Any = {"a": [1, -2.5, 1e100, None, True, False], 'ü\n"': {"": "é😀\u2028\x00"}, "n": []}


def _one_shot(encoder: json.JSONEncoder) -> Callable[[Any], str]:
    """`encoder.encode`, less its two Python frames and its per-call set-up, where the C
    encoder is there.

    `JSONEncoder.encode` builds CPython's C encoder on every call, for its per-call markers
    of circular references; that set-up was half of encoding a small payload. This builds
    one C encoder, without markers, and keeps it: a circular payload then fails with
    `RecursionError` rather than `ValueError` (a 500 either way). Used only when it encodes
    a sample exactly as `encoder.encode` does (another Python's json keeps `encoder.encode`).
    """
    make = getattr(json.encoder, "c_make_encoder", None)
    if make is None or encoder.ensure_ascii or encoder.indent is not None:
        return encoder.encode
    separators = (encoder.key_separator, encoder.item_separator)
    basestring, allow_nan = json.encoder.encode_basestring, encoder.allow_nan
    try:
        c_encoder = make(
            None, encoder.default, basestring, None, *separators, False, False, allow_nan
        )
    except Exception:  # another signature
        return encoder.encode

    def encode(data: Any) -> str:
        return "".join(c_encoder(data, 0))

    try:
        same = encode(_SAMPLE) == encoder.encode(_SAMPLE)
    except Exception:  # another signature
        same = False
    return encode if same else encoder.encode


_encode = _one_shot(_ENCODER)


def encode_json(data: Any) -> bytes:
    """JSON bytes for anything FastAPI can encode (models, dataclasses, datetimes, UUIDs)."""
    try:
        text = _encode(data)
    except TypeError:
        # Not plain JSON types: let FastAPI's encoder turn them into some first.
        text = _encode(jsonable_encoder(data))
    return text.encode("utf-8")


def parse_status(value: Any, what: tuple[Any, ...]) -> int:
    """`value` as an HTTP status: an int (not a bool) from 100 to 599."""
    if isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599:
        return value
    raise _InvalidReturn(f"status must be an int from 100 to 599, got {value!r} in {what!r}")


def parse_headers(value: Any, what: tuple[Any, ...]) -> dict[str, str]:
    """`value` as headers: a dict or a list of pairs, str names, str or int values."""
    if isinstance(value, Mapping):
        items = list(value.items())
    elif isinstance(value, list | tuple):
        items = list(value)
    else:
        raise _InvalidReturn(f"headers must be a dict, got {value!r} in {what!r}")
    headers: dict[str, str] = {}
    for item in items:
        if not (isinstance(item, tuple | list) and len(item) == 2):
            raise _InvalidReturn(f"headers must be name/value pairs, got {item!r} in {what!r}")
        name, header_value = item
        if not isinstance(name, str) or not isinstance(header_value, str | int):
            raise _InvalidReturn(f"header {name!r}: {header_value!r} is not a string in {what!r}")
        headers[name] = str(header_value)
    return headers


def with_default(headers: dict[str, str], name: str, value: str) -> dict[str, str]:
    """Set header `name` (lower case) unless `headers` has it in any case."""
    if not any(key.lower() == name for key in headers):
        headers[name] = value
    return headers


def body_bytes(body: Any, headers: dict[str, str]) -> bytes:
    """A body as bytes: a dict or list as JSON (setting its content type), str or bytes as is."""
    if isinstance(body, dict | list):
        with_default(headers, "content-type", "application/json")
        return encode_json(body)
    if isinstance(body, str):
        return body.encode()
    if isinstance(body, bytes):
        return body
    raise _InvalidReturn(f"status body must be a dict, list, str or bytes, got {body!r}")
