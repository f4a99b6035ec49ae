"""Every built-in return tuple, one route each."""

import datetime
import uuid
from pathlib import Path
from typing import Any

from fastapi import FastAPI
from pydantic import BaseModel

from fastapi_nova import NovaRequest, NovaRouter

HERE = Path(__file__).parent


class Event(BaseModel):
    id: uuid.UUID
    at: datetime.date


def json_2(req: NovaRequest) -> Any:
    # 200 for GET, 201 for POST; pydantic models, dates and UUIDs are encoded.
    return ("json", Event(id=uuid.UUID(int=1), at=datetime.date(2024, 8, 26)))


def json_4(req: NovaRequest) -> Any:
    return ("json", 202, {"x-queued": "yes"}, {"queued": True})


def status_2(req: NovaRequest) -> Any:
    return ("status", 204)


def status_3(req: NovaRequest) -> Any:
    return ("status", 429, {"retry-after": "30"})


def status_4_json(req: NovaRequest) -> Any:
    return ("status", 409, {}, {"error": "already exists"})  # dict/list -> JSON


def status_4_text(req: NovaRequest) -> Any:
    # A str or bytes body is sent as it is.
    return ("status", 200, {"content-type": "text/plain"}, "plain text")


def redirect(req: NovaRequest) -> Any:
    return ("redirect", "/json")


def sendfile(req: NovaRequest) -> Any:
    # (offset, length, path): the first 10 bytes of static/robots.txt.
    robots = HERE / "static" / "robots.txt"
    return ("sendfile", 200, {}, (0, 10, robots), "text/plain")


routes = [
    {"prefix": "", "routes": [
        ("/json", json_2, {"methods": ["get", "post"]}),
        ("/json/queued", json_4, {"methods": ["post"]}),
        ("/status/empty", status_2, {"methods": ["delete"]}),
        ("/status/slow-down", status_3, {"methods": ["get"]}),
        ("/status/conflict", status_4_json, {"methods": ["put"]}),
        ("/status/text", status_4_text, {"methods": ["get"]}),
        ("/old-json", redirect, {"methods": ["get"]}),
        ("/robots-head", sendfile, {"methods": ["get"]}),
    ]},
]

app = FastAPI()
app.include_router(NovaRouter(routes))
