"""The example chat page in real headless Chromium (Debian's, driven by Playwright).

Never downloads a browser: Playwright is pointed at ``/usr/bin/chromium``.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.requirements import require_chromium
from tests.support.servers import Server, uvicorn_server

pytestmark = [pytest.mark.slow, pytest.mark.browser]

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


@pytest.fixture
def server(tmp_path: Path) -> Iterator[Server]:
    with uvicorn_server(
        "example_app.main:app", tmp_path, env={"NOVA_PUBSUB_URL": "memory://"}
    ) as s:
        yield s


@pytest.fixture
def browser() -> Iterator[Any]:
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


def open_chat(browser: Any, server: Server) -> Any:
    page = browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(f"{server.url}/chat.html")
    page.wait_for_selector("#status:text('connected')")
    return page


def say(page: Any, text: str) -> None:
    page.fill("#message", text)
    page.click("#send")


def messages(page: Any) -> list[str]:
    result: list[str] = page.locator("#messages li").all_inner_texts()
    return result


def test_two_browser_pages_chat(browser: Any, server: Server) -> None:
    from playwright.sync_api import expect

    first = open_chat(browser, server)
    second = open_chat(browser, server)

    say(first, "hello from the first page")
    for page in (first, second):
        expect(page.locator("#messages li").last).to_have_text(
            "hello from the first page", timeout=TIMEOUT_MS
        )

    say(second, "and hello back")
    for page in (first, second):
        expect(page.locator("#messages li").last).to_have_text("and hello back", timeout=TIMEOUT_MS)

    assert messages(first) == ["hello from the first page", "and hello back"]
    assert messages(second) == ["hello from the first page", "and hello back"]
    assert first.input_value("#message") == ""
