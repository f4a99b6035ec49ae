"""Fixtures shared by every test module."""

from __future__ import annotations

import pytest


@pytest.fixture
def anyio_backend() -> str:
    # broadcaster and our connection loop use asyncio directly.
    return "asyncio"
