"""@controller on plain FastAPI routes, and the status_code route option."""

from typing import Any

from fastapi import FastAPI

from fastapi_nova import NovaRequest, NovaRouter, controller

app = FastAPI()


@app.get("/hello/{name}")
@controller
async def hello(name: str) -> Any:
    return ("json", {"hello": name})


@app.post("/items", status_code=201)
@controller
def create_item(name: str) -> Any:
    return ("json", {"name": name})  # POST: 201


def accept_job(req: NovaRequest) -> Any:
    # No status in the tuple: the route's status_code, 202.
    return ("json", {"job": 1})


def reject_job(req: NovaRequest) -> Any:
    return ("status", 409)  # a status of its own wins over status_code


routes = [
    {"prefix": "/jobs", "routes": [
        ("/", accept_job, {"methods": ["put"], "status_code": 202}),
        ("/reject", reject_job, {"methods": ["put"], "status_code": 202}),
    ]},
]

app.include_router(NovaRouter(routes))
