"""What OpenAPI shows: routes that declare what they return."""

from typing import Any, Literal

from fastapi import FastAPI
from pydantic import BaseModel
from starlette.responses import Response

from fastapi_nova import HandlerRegistry, NovaRequest, NovaRouter


class Note(BaseModel):
    id: int
    text: str


NOTES = {1: Note(id=1, text="hello")}

# The return annotation has the tuple's own shape: a JSON Note, or a 404.
Found = tuple[Literal["json"], Note] | tuple[Literal["status"], Literal[404]]


def show(req: NovaRequest) -> Found:
    key = req.bindings["id"]
    note = NOTES.get(int(key)) if key.isdigit() else None
    return ("status", 404) if note is None else ("json", note)


def create(req: NovaRequest) -> tuple[Literal["json"], Note]:
    note = Note(id=len(NOTES) + 1, text=str(req.json))
    return ("json", note)  # a POST: documented and answered 201


Page = tuple[Literal["ok"], dict[str, Any], dict[str, str]]


def page(req: NovaRequest) -> Page:
    return ("ok", {"notes": list(NOTES.values())}, {"view": "notes"})


def export(req: NovaRequest) -> tuple[Literal["csv"], list[list[str]]]:
    return ("csv", [[str(n.id), n.text] for n in NOTES.values()])


def not_found(req: NovaRequest) -> tuple[Literal["json"], dict[str, str]]:
    return ("json", {"error": "not found"})


def csv_handler(
    status_code: int, headers: dict[str, str], payload: Any
) -> Response:
    body = "".join(",".join(row) + "\n" for row in payload)
    headers = {"content-type": "text/csv", **headers}
    return Response(body, status_code, headers)


registry = HandlerRegistry()
# media_type: what OpenAPI documents for routes that return ("csv", ...)
registry.register("csv", csv_handler, media_type="text/csv")

# A lambda has no annotation: the "returns" option says what it answers.
PING = {"methods": ["get"], "returns": ("status", 204)}

routes = [
    {"prefix": "/notes", "routes": [
        ("/page", page, {"methods": ["get"]}),
        ("/export.csv", export, {"methods": ["get"]}),
        ("/ping", lambda req: ("status", 204), PING),
        ("/:id", show, {"methods": ["get"]}),
        ("/", create, {"methods": ["post"]}),
        (404, not_found, {}),
    ]},
]

app = FastAPI()
app.include_router(NovaRouter(routes, registry=registry))
