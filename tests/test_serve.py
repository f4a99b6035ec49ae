"""``scripts/serve``, the newcomer's first command: what it installs, its PORT, and its logs.

The library configures no logging; the serve command passes ``example_app/logging.json`` to
uvicorn, so fastapi-nova's INFO lines (refused origins, Redis lost/connected) show with time,
level and logger name.
"""

from __future__ import annotations

import os
import re
import subprocess
import tomllib
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
SERVE = ROOT / "scripts" / "serve"


def extra(name: str) -> list[str]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    result: list[str] = project["optional-dependencies"][name]
    return result


def test_serve_installs_the_serve_extra_which_has_no_dev_or_docs_tools() -> None:
    assert "pip install --quiet -e '.[serve]'" in SERVE.read_text()
    serve = " ".join(extra("serve"))
    assert "uvicorn" in serve
    for tool in ("playwright", "mypy", "mkdocs", "pytest", "ruff", "hypothesis"):
        assert tool not in serve, tool
    assert any(req.startswith("fastapi-nova[") and "serve" in req for req in extra("dev"))


@pytest.mark.slow
def test_serve_listens_on_port_and_logs_library_info_lines(tmp_path: Path) -> None:
    port = free_port()
    log_path = tmp_path / "serve.log"
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(SERVE)],
            cwd=ROOT,
            env={**os.environ, "PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, proc, timeout=120)  # bounded; a first run may install first
        url = f"ws://127.0.0.1:{port}/chat"
        with pytest.raises(InvalidStatus) as refused:
            with connect(url, origin="http://evil.example", open_timeout=10, proxy=None):
                pass
        assert refused.value.response.status_code == 403
    finally:
        proc.terminate()
        proc.wait(timeout=20)
    log_text = log_path.read_text()
    stamp = r"\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"
    refusal = (
        rf"(?m)^{stamp} INFO fastapi_nova\.websocket: "
        r".*refused WebSocket upgrade from origin 'http://evil\.example'"
    )
    assert re.search(refusal, log_text), log_text
    assert re.search(rf"(?m)^{stamp} INFO uvicorn\.error: Uvicorn running on", log_text), log_text
