"""Skip-or-fail rules for tests that need a real external program.

On a laptop without the program, the test skips with a message naming the install command.
In CI (``CI=true``) the program must be there (``.ci/run`` installs it), so its absence fails.
"""

from __future__ import annotations

import os
import shutil

import pytest


def in_ci() -> bool:
    """True when running under CI, where every external program must be present."""
    return os.environ.get("CI", "").lower() == "true"


def require_binary(name: str, install: str) -> str:
    """Path of executable ``name``; skip (or fail in CI) naming ``install`` when missing."""
    path = shutil.which(name)
    if path is not None:
        return path
    message = f"{name} is not installed; install it with `{install}`"
    if in_ci():
        pytest.fail(f"{message} (CI must install it in .ci/run)")
    pytest.skip(message)


CHROMIUM = "/usr/bin/chromium"


def require_chromium() -> str:
    """Path of Debian's chromium for Playwright; skip (or fail in CI) when missing."""
    if not os.path.exists(CHROMIUM):
        message = f"{CHROMIUM} is not installed; install it with `apt-get install chromium`"
        if in_ci():
            pytest.fail(f"{message} (CI must install it in .ci/run)")
        pytest.skip(message)
    try:
        import playwright  # noqa: F401
    except ImportError:
        message = "playwright is not installed; install it with `pip install -e '.[dev]'`"
        if in_ci():
            pytest.fail(message)
        pytest.skip(message)
    return CHROMIUM
