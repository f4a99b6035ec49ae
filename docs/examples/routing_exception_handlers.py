"""App exception handlers come first; the 500 page answers the rest."""

from typing import Any

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from fastapi_nova import NovaRequest, NovaRouter


class Conflict(Exception):
    """A domain error the app answers itself."""


TAKEN = {"ann"}


def create_user(req: NovaRequest) -> Any:
    name = req.json["name"]
    if name in TAKEN:
        raise Conflict(f"{name} is taken")  # answered by on_conflict: 409
    return ("json", {"name": name})


def broken(req: NovaRequest) -> Any:
    raise RuntimeError("a bug")  # nothing handles it: the router's 500 page


def error_page(req: NovaRequest) -> Any:
    return ("json", {"error": req.status_code})


routes = [
    {"prefix": "/users", "routes": [
        ("/", create_user, {"methods": ["post"]}),
        ("/broken", broken, {"methods": ["get"]}),
        (500, error_page, {}),
    ]},
]

app = FastAPI()
app.include_router(NovaRouter(routes))


@app.exception_handler(Conflict)
async def on_conflict(request: Request, exc: Conflict) -> JSONResponse:
    return JSONResponse({"detail": str(exc)}, status_code=409)
