"""The newcomer path: what README and the getting-started page tell you to run, run as written.

Each test takes the command or snippet from the page itself (not a copy), runs it against
real processes on 127.0.0.1 and checks what the page says it does.
"""

from __future__ import annotations

import json
import os
import re
import shlex
import signal
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

import httpx2 as httpx
import pytest
from fastapi.testclient import TestClient

from tests.support.servers import free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
README = ROOT / "README.md"
GETTING_STARTED = ROOT / "docs" / "index.md"
#: Seconds a started server may take to listen: the docs server builds the site first, and
#: scripts/docs reinstalls .venv first when pyproject.toml is newer than the last install.
START_TIMEOUT = 300.0


def code_blocks(page: Path, language: str) -> list[str]:
    return re.findall(rf"^```{language}\n(.*?)^```", page.read_text(), re.S | re.M)


def command_lines(page: Path, program: str) -> list[str]:
    """Lines of the page's bash blocks that run ``program``."""
    return [
        line.strip()
        for block in code_blocks(page, "bash")
        for line in block.splitlines()
        if line.strip().startswith(program)
    ]


@contextmanager
def running(argv: list[str], port: int, log: Path, env: dict[str, str]) -> Iterator[None]:
    """Run ``argv`` from the repository root until the block ends; it must listen on ``port``."""
    with log.open("wb") as out:
        proc = subprocess.Popen(
            argv,
            cwd=ROOT,
            env={**os.environ, **env},
            stdout=out,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # scripts/docs' children go with it
        )
    try:
        try:
            wait_for_port(port, proc, timeout=START_TIMEOUT)
        except (RuntimeError, TimeoutError) as exc:
            raise AssertionError(f"{argv} did not serve: {exc}\n{log.read_text()}") from exc
        yield
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=20)


def test_readme_snippet_runs_as_written() -> None:
    (snippet,) = code_blocks(README, "python")
    namespace: dict[str, Any] = {}
    # Our own README, run as a reader would paste it.
    exec(compile(snippet, str(README), "exec"), namespace)
    with TestClient(namespace["app"]) as client:
        assert client.get("/api/users/7").json() == {"id": 7}
        assert "/api/users/{id}" in client.get("/openapi.json").json()["paths"]


def test_documented_servers_use_different_ports() -> None:
    # scripts/serve, scripts/docs and the getting-started app can all run at once.
    serve = re.search(r"PORT:-(\d+)", (ROOT / "scripts" / "serve").read_text())
    docs = re.search(r"PORT:-(\d+)", (ROOT / "scripts" / "docs").read_text())
    (uvicorn,) = command_lines(GETTING_STARTED, ".venv/bin/uvicorn")
    first_app = re.search(r"--port (\d+)", uvicorn)
    assert serve and docs and first_app
    ports = [serve[1], docs[1], first_app[1]]
    assert len(set(ports)) == 3, f"scripts/serve, scripts/docs, getting started: {ports}"


@pytest.mark.slow
def test_getting_started_command_and_curls_run_as_written(tmp_path: Path) -> None:
    (command,) = command_lines(GETTING_STARTED, ".venv/bin/uvicorn")
    written = re.search(r"--port (\d+)", command)
    assert written
    port = free_port()  # the only change: a port nothing else on this machine uses
    argv = shlex.split(command.replace(f"--port {written[1]}", f"--port {port}"))
    if not (ROOT / argv[0]).exists():
        # Not installed by scripts/install: the page's other form, "drop the .venv/bin/".
        argv[0] = str(Path(sys.executable).parent / "uvicorn")
    curls = command_lines(GETTING_STARTED, "curl")
    assert len(curls) == 3
    with running(argv, port, tmp_path / "uvicorn.log", {}):
        for curl in curls:
            match = re.fullmatch(
                rf"curl (?:-i )?http://127\.0\.0\.1:{written[1]}(\S+)\s+# (.*)", curl
            )
            assert match, f"unexpected curl line: {curl!r}"
            path, says = match[1], match[2]
            response = httpx.get(f"http://127.0.0.1:{port}{path}", timeout=10)
            if says.startswith("{"):
                assert response.status_code == 200
                assert response.json() == json.loads(says)
            else:
                status, body = says.split(", ")
                assert response.status_code == int(status), curl
                assert body == "empty body" and response.content == b"", curl


@pytest.mark.slow
def test_scripts_docs_serves_the_site_without_the_theme_banner(tmp_path: Path) -> None:
    port = free_port()
    log = tmp_path / "docs.log"
    with running(["scripts/docs"], port, log, {"PORT": str(port)}):
        page = httpx.get(f"http://127.0.0.1:{port}/", timeout=10)
        assert page.status_code == 200
        assert "<title>fastapi-nova</title>" in page.text
        assert 'id="a-first-router"' in page.text  # the getting-started page, rendered
    output = log.read_text()
    assert f"Serving on http://127.0.0.1:{port}/" in output
    assert "end of life" not in output, output
