"""FastAPI's yield endpoints in a route table: SSE and JSON Lines."""

from collections.abc import AsyncIterable

from fastapi import FastAPI
from fastapi.sse import EventSourceResponse
from pydantic import BaseModel

from fastapi_nova import NovaRouter


class Tick(BaseModel):
    n: int


async def ticks(count: int = 3) -> AsyncIterable[Tick]:
    for n in range(count):
        yield Tick(n=n)


SSE = {"methods": ["get"], "response_class": EventSourceResponse}

app = FastAPI()
app.include_router(NovaRouter([
    {"prefix": "/stream", "routes": [
        ("/events", ticks, SSE),  # text/event-stream
        ("/lines", ticks, {"methods": ["get"]}),  # application/jsonl
    ]},
]))
