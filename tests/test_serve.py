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
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import pytest
from websockets.exceptions import InvalidStatus
from websockets.sync.client import connect

from tests.support.redis import RedisServer, redis_server  # noqa: F401
from tests.support.servers import eventually, free_port, wait_for_port

ROOT = Path(__file__).resolve().parent.parent
SERVE = ROOT / "scripts" / "serve"
#: A log line's start: time (asctime), level, logger.
STAMP = r"(?m)^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}"


@contextmanager
def serving(log_path: Path, env: dict[str, str]) -> Iterator[int]:
    """Run ``scripts/serve`` on a free port until the block ends; yield the port."""
    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(SERVE)],
            cwd=ROOT,
            env={**os.environ, **env, "PORT": str(port)},
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    try:
        wait_for_port(port, proc, timeout=120)  # bounded; a first run may install first
        yield port
    finally:
        proc.terminate()
        proc.wait(timeout=20)


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
    log_path = tmp_path / "serve.log"
    with serving(log_path, {"NOVA_PUBSUB_URL": "memory://"}) as port:
        url = f"ws://127.0.0.1:{port}/chat"
        with pytest.raises(InvalidStatus) as refused:
            with connect(url, origin="http://evil.example", open_timeout=10, proxy=None):
                pass
        assert refused.value.response.status_code == 403
    log_text = log_path.read_text()
    refusal = (
        rf"{STAMP} INFO fastapi_nova\.connection: "
        r".*refused WebSocket upgrade from origin 'http://evil\.example'"
    )
    assert re.search(refusal, log_text), log_text
    assert re.search(rf"{STAMP} INFO uvicorn\.error: Uvicorn running on", log_text), log_text


@pytest.mark.slow
@pytest.mark.redis
def test_serve_logs_redis_lost_and_connected_again(
    tmp_path: Path,
    redis_server: RedisServer,  # noqa: F811
) -> None:
    log_path = tmp_path / "serve.log"
    connected = rf"{STAMP} INFO fastapi_nova\.redis_backend: connected to Redis at "
    lost = rf"{STAMP} WARNING fastapi_nova\.redis_backend: lost Redis at "

    def count(pattern: str) -> int:
        return len(re.findall(pattern, log_path.read_text()))

    with serving(log_path, {"NOVA_PUBSUB_URL": redis_server.url}) as port:
        with connect(f"ws://127.0.0.1:{port}/chat", open_timeout=10, proxy=None) as chat:
            chat.send("hello")  # the chat works over Redis: the backend is connected
            assert chat.recv(timeout=10) == "hello"
        # A log file has no event to await: poll it, bounded (another process writes it).
        assert eventually(lambda: count(connected), lambda n: n >= 1) >= 1, log_path.read_text()
        redis_server.stop()
        assert eventually(lambda: count(lost), lambda n: n >= 1) >= 1, log_path.read_text()
        redis_server.start()
        assert eventually(lambda: count(connected), lambda n: n >= 2) >= 2, log_path.read_text()
