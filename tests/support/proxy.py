"""A TCP proxy in front of a real server that can hold back the replies of one connection.

It lets a test act *while* a client waits for an answer, without patching the client: arm it
with the bytes of a request (``b"SUBSCRIBE"``); the first connection that sends them gets no
reply until the test calls :meth:`HoldingProxy.release`. Everything else is passed through.
"""

from __future__ import annotations

import asyncio
import contextlib


class HoldingProxy:
    """Forwards 127.0.0.1:``port`` to 127.0.0.1:``target_port`` (start with :meth:`start`)."""

    def __init__(self, target_port: int) -> None:
        self.target_port = target_port
        self.port = 0
        self.triggered = asyncio.Event()
        self._released = asyncio.Event()
        self._trigger: bytes | None = None
        self._server: asyncio.Server | None = None
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> None:
        self._server = await asyncio.start_server(self._serve, "127.0.0.1", 0)
        self.port = self._server.sockets[0].getsockname()[1]

    def arm(self, trigger: bytes) -> None:
        """Hold the replies of the next connection that sends ``trigger``."""
        self.triggered.clear()
        self._released.clear()
        self._trigger = trigger

    def release(self) -> None:
        """Let the held replies through."""
        self._released.set()

    async def close(self) -> None:
        if self._server is not None:
            self._server.close()
        for task in list(self._tasks):
            task.cancel()
        if self._tasks:
            await asyncio.wait(self._tasks, timeout=5)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        try:
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", self.target_port)
            except OSError:  # the server is down: the client sees its connection closed
                return
            flowing = asyncio.Event()
            flowing.set()
            try:
                await asyncio.gather(
                    self._upstream(reader, up_writer, flowing),
                    self._downstream(up_reader, writer, flowing),
                )
            finally:
                up_writer.close()
        except (ConnectionError, asyncio.IncompleteReadError):
            pass
        finally:
            writer.close()
            self._tasks.discard(task)

    async def _upstream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, flowing: asyncio.Event
    ) -> None:
        while data := await reader.read(65536):
            if self._trigger is not None and self._trigger in data:
                self._trigger = None
                flowing.clear()  # before the request goes out, so its reply is held
                self.triggered.set()
                held = asyncio.create_task(self._resume(flowing))
                self._tasks.add(held)
                held.add_done_callback(self._tasks.discard)
            writer.write(data)
            await writer.drain()
        with contextlib.suppress(OSError):
            writer.write_eof()

    async def _downstream(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, flowing: asyncio.Event
    ) -> None:
        while data := await reader.read(65536):
            await flowing.wait()
            writer.write(data)
            await writer.drain()
        writer.close()

    async def _resume(self, flowing: asyncio.Event) -> None:
        await self._released.wait()
        flowing.set()
