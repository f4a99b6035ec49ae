"""A real ``redis-server`` on 127.0.0.1 for tests: the ``redis_server`` fixture.

Import it into a test module with
``from tests.support.redis import redis_server_fixture  # noqa: F401``; tests then take a
``redis_server`` argument. (The function has another name than the fixture so that the
argument does not shadow the import, which ruff flags as F811; ``redis_server`` is the same
fixture under the fixture's own name, for modules that import it that way.)
It skips on a machine without redis-server (fails under ``CI=true``), and can kill and restart
the server on the same port, for the tests of what happens while Redis is away.
"""

from __future__ import annotations

import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.requirements import require_binary
from tests.support.servers import free_port

#: Seconds redis-server may take to answer PING after it was started.
READY_TIMEOUT = 10.0


class RedisServer:
    """A redis-server child process on 127.0.0.1 that a test can stop and start again."""

    def __init__(self, binary: str, port: int, workdir: Path) -> None:
        self.binary = binary
        self.port = port
        self.workdir = workdir
        self.proc: subprocess.Popen[bytes] | None = None
        self.starts = 0

    @property
    def url(self) -> str:
        """The URL a client connects with (database 0)."""
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        """Start the server (again, on the same port) and return once it answers PING."""
        if self.proc is not None:
            raise RuntimeError(f"redis-server on port {self.port} is already running")
        self.starts += 1
        log = self.workdir / f"redis-{self.port}-{self.starts}.log"
        self.proc = subprocess.Popen(
            [
                self.binary,
                "--port",
                str(self.port),
                "--bind",
                "127.0.0.1",
                "--save",
                "",
                "--appendonly",
                "no",
                "--dir",
                str(self.workdir),
                "--logfile",
                str(log),
            ],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        self._wait_ready(log)

    def stop(self) -> None:
        """Kill the server at once, as a crash would (clients see their sockets close)."""
        proc, self.proc = self.proc, None
        if proc is not None:
            proc.kill()  # SIGKILL also ends a paused server
            proc.wait(timeout=10)

    def pause(self) -> None:
        """Freeze the server (SIGSTOP): sockets stay open but nothing answers, as a hung peer."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGSTOP)

    def resume(self) -> None:
        """Undo :meth:`pause`."""
        if self.proc is not None:
            self.proc.send_signal(signal.SIGCONT)

    def _wait_ready(self, log: Path) -> None:
        deadline = time.monotonic() + READY_TIMEOUT
        while time.monotonic() < deadline:
            if self.proc is not None and self.proc.poll() is not None:
                text = log.read_text(errors="replace") if log.exists() else ""
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}:\n{text}")
            if _pings(self.port):
                return
            time.sleep(0.02)  # a starting server has no readiness event to await; poll, bounded
        self.stop()
        raise TimeoutError(f"redis-server on port {self.port} did not answer PING in time")


def _pings(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=0.5) as sock:
            sock.sendall(b"PING\r\n")
            return sock.recv(16).startswith(b"+PONG")
    except OSError:
        return False


@pytest.fixture(name="redis_server")
def redis_server_fixture(tmp_path: Path) -> Iterator[RedisServer]:
    """A running redis-server on a free 127.0.0.1 port, stopped after the test."""
    binary = require_binary("redis-server", "apt-get install redis-server")
    server = RedisServer(binary, free_port(), tmp_path)
    server.start()
    try:
        yield server
    finally:
        server.stop()


#: The same fixture, importable under its fixture name.
redis_server = redis_server_fixture
