"""The example app's OpenAPI document is pinned byte for byte (tests/pinned/example_openapi.json).

Routing internals may change freely; what ``/openapi.json`` says may not, except where an issue
changes it on purpose: then regenerate the pin as below and say so
in the commit message.

    PIN_UPDATE=1 .venv/bin/python -m pytest tests/test_openapi_pin.py
"""

from __future__ import annotations

import os
from pathlib import Path

from fastapi.testclient import TestClient

from example_app.main import app

PIN = Path(__file__).parent / "pinned" / "example_openapi.json"


def test_example_app_openapi_is_byte_identical_to_the_pin() -> None:
    body = TestClient(app).get("/openapi.json").content
    if os.environ.get("PIN_UPDATE") == "1":
        PIN.write_bytes(body)
    assert body == PIN.read_bytes(), "the example app's /openapi.json changed (see module doc)"
