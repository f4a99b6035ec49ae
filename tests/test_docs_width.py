"""The docs examples fit the docs site's code blocks: no horizontal scrollbar at 1280 px.

``docs/examples/ruff.toml`` caps the examples' line length; this test checks that cap against
the site as built, in real headless Chromium (Debian's, driven by Playwright): a line of
exactly that many characters fits a code block of a 1280 px window, and no included example
scrolls sideways. If the theme changes its widths, this fails and says what fits now.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.support.browser import chromium

pytestmark = [pytest.mark.slow, pytest.mark.browser]

ROOT = Path(__file__).resolve().parent.parent
EXAMPLES = ROOT / "docs" / "examples"
#: The window width the examples are written for (a common laptop).
WINDOW = {"width": 1280, "height": 800}
TIMEOUT_MS = 10_000

#: For every titled code block of a page: its title, whether it scrolls sideways, and how many
#: characters of its font fit its content box (measured with a probe inside the block, so
#: that the block's own font and size apply).
MEASURE_BLOCKS = """
() => [...document.querySelectorAll('.md-content .highlight')].map((block) => {
  const code = block.querySelector('pre > code');
  const style = getComputedStyle(code);
  const probe = document.createElement('span');
  probe.style.whiteSpace = 'pre';
  probe.style.position = 'absolute';
  probe.textContent = 'x'.repeat(200);
  code.appendChild(probe);
  const charWidth = probe.getBoundingClientRect().width / 200;
  probe.remove();
  const inner = code.clientWidth - parseFloat(style.paddingLeft)
    - parseFloat(style.paddingRight);
  return {
    title: block.querySelector('.filename')?.textContent ?? '',
    scrolls: code.scrollWidth > code.clientWidth,
    fits: Math.floor(inner / charWidth + 1e-6),
  };
})
"""

#: Whether a line of ``n`` characters would scroll the first code block of the page.
LINE_SCROLLS = """
(n) => {
  const code = document.querySelector('.md-content .highlight pre > code');
  code.textContent = 'm'.repeat(n);
  return code.scrollWidth > code.clientWidth;
}
"""


def ruff_settings() -> dict[str, Any]:
    with (EXAMPLES / "ruff.toml").open("rb") as file:
        return tomllib.load(file)


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> Path:
    out = tmp_path_factory.mktemp("site")
    result = subprocess.run(
        [str(Path(sys.executable).parent / "mkdocs"), "build", "--quiet", "--site-dir", str(out)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return out


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    with chromium() as launched:
        yield launched


def open_page(browser: Any, path: Path) -> Any:
    page = browser.new_page(viewport=WINDOW)
    page.set_default_timeout(TIMEOUT_MS)
    page.goto(path.as_uri())
    return page


def test_a_line_of_the_configured_length_fits_a_code_block(site: Path, browser: Any) -> None:
    width = ruff_settings()["line-length"]
    page = open_page(browser, site / "index.html")
    try:
        fits = page.evaluate(MEASURE_BLOCKS)[0]["fits"]
        assert not page.evaluate(LINE_SCROLLS, width), (
            f"docs/examples/ruff.toml allows {width} characters, the site shows {fits}"
        )
    finally:
        page.close()


def test_no_example_scrolls_sideways(site: Path, browser: Any) -> None:
    # Files still being rewrapped elsewhere are exempt exactly while ruff.toml exempts them.
    ignores = ruff_settings().get("lint", {}).get("per-file-ignores", {})
    pending = {name for name, rules in ignores.items() if "E501" in rules}
    scrolling: set[str] = set()
    seen: set[str] = set()
    for path in sorted(site.rglob("index.html")):
        page = open_page(browser, path)
        try:
            for block in page.evaluate(MEASURE_BLOCKS):
                if block["title"].endswith(".py"):
                    seen.add(block["title"])
                    if block["scrolls"]:
                        scrolling.add(block["title"])
        finally:
            page.close()
    examples = {path.name for path in EXAMPLES.glob("*.py")}
    assert examples <= seen, f"examples not found on any page: {sorted(examples - seen)}"
    assert scrolling - pending == set(), "these examples scroll sideways at 1280 px"
