"""Order of work: plugins, then security, then body validation, then the
controller.
"""

from typing import Any

from fastapi import FastAPI, Request
from pydantic import BaseModel

from fastapi_nova import NovaRequest, NovaRouter

seen: list[str] = []  # what ran, in order (read by the tests)


async def request_id(request: Request) -> None:
    # A plugin is a FastAPI dependency (Nova's pre_request plugin).
    seen.append("plugin")
    request.state.request_id = request.headers.get("x-request-id", "-")


def must_be_signed_in(req: NovaRequest) -> Any:
    seen.append("security")
    return req.headers.get("authorization") == "Bearer letmein"


class Note(BaseModel):
    text: str


def create_note(note: Note) -> Any:
    seen.append("controller")
    return ("json", {"text": note.text})


routes = [
    {
        "prefix": "/notes",
        "plugins": [request_id],
        "security": must_be_signed_in,
        "routes": [("/", create_note, {"methods": ["post"]})],
    },
]

app = FastAPI()
app.include_router(NovaRouter(routes))
