"""Run a real uvicorn server in a child process on 127.0.0.1 for acceptance tests."""

from __future__ import annotations

import base64
import os
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TypeVar

ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """A TCP port on 127.0.0.1 that nothing listens on right now."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for_port(
    port: int, proc: subprocess.Popen[bytes] | None = None, timeout: float = 20.0
) -> None:
    """Block until something accepts TCP connections on ``port`` (bounded by ``timeout``)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"server process exited early with code {proc.returncode}")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.05)  # a port has no readiness event to await; poll it, bounded
    raise TimeoutError(f"nothing listened on 127.0.0.1:{port} within {timeout}s")


@dataclass
class Server:
    """A running uvicorn child process."""

    proc: subprocess.Popen[bytes]
    port: int
    log_path: Path

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def ws_url(self) -> str:
        return f"ws://127.0.0.1:{self.port}"

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


@contextmanager
def uvicorn_server(
    app: str,
    tmp_path: Path,
    env: Mapping[str, str] | None = None,
    port: int | None = None,
    args: Sequence[str] = (),
) -> Iterator[Server]:
    """Serve ``app`` ("module:attr") with uvicorn on 127.0.0.1, with uvicorn's extra command
    line ``args``; stop it afterwards."""
    port = port or free_port()
    log_path = tmp_path / f"uvicorn-{port}.log"
    child_env = {**os.environ, "PYTHONPATH": str(ROOT), **(env or {})}
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "uvicorn",
                app,
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
                "--log-level",
                "info",
                *args,
            ],
            cwd=ROOT,
            env=child_env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    server = Server(proc, port, log_path)
    try:
        wait_for_port(port, proc)
        yield server
    finally:
        proc.terminate()
        try:
            proc.wait(timeout=10)
        except subprocess.TimeoutExpired:
            proc.kill()
            proc.wait(timeout=10)


T = TypeVar("T")


def eventually(probe: Callable[[], T], accept: Callable[[T], bool], timeout: float = 15.0) -> T:
    """Poll ``probe`` until ``accept`` holds, bounded by ``timeout``; return the last value.

    Only for state another process exposes over HTTP (members of a chat on another node),
    which has no event a test could await. The caller asserts on the value returned.
    """
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if accept(value) or time.monotonic() > deadline:
            return value
        time.sleep(0.05)


def open_raw_websocket(port: int, path: str, timeout: float = 5.0) -> socket.socket:
    """Upgrade a bare TCP socket to a WebSocket on 127.0.0.1 and return it after the 101.

    For tests that make the connection vanish without a close frame
    (``sock.shutdown(SHUT_RDWR)``), which no WebSocket client library does on purpose.
    """
    sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
    key = base64.b64encode(os.urandom(16)).decode()
    sock.sendall(
        (
            f"GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
            f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n\r\n"
        ).encode()
    )
    head = b""
    for _ in range(100):  # bounded: the 101 head is a few hundred bytes
        chunk = sock.recv(4096)
        head += chunk
        if not chunk or b"\r\n\r\n" in head:
            break
    if not head.startswith(b"HTTP/1.1 101"):
        sock.close()
        raise AssertionError(f"the upgrade of {path} was not accepted: {head!r}")
    return sock
