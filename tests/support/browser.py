"""Real headless Chromium (Debian's ``/usr/bin/chromium``) driven by Playwright, for tests.

Never downloads a browser: Playwright is pointed at the system's chromium, and the test
skips (or fails under ``CI=true``) naming ``apt-get install chromium`` when it is missing.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from tests.support.requirements import require_chromium

#: Milliseconds any single expected page event may take.
TIMEOUT_MS = 10_000

# What the machine's closed network needs (see the environment notes): no background
# connections, no sandbox as root, no GPU.
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


@contextmanager
def chromium() -> Iterator[Any]:
    """A launched headless Chromium (a Playwright ``Browser``), closed afterwards."""
    executable = require_chromium()
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        launched = playwright.chromium.launch(
            executable_path=executable, headless=True, args=CHROMIUM_ARGS
        )
        try:
            yield launched
        finally:
            launched.close()
