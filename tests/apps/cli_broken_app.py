"""A module whose route table is wrong: importing it raises ``RouteConfigError``."""

from __future__ import annotations

from fastapi import FastAPI

from fastapi_nova import NovaRouter

app = FastAPI()
app.include_router(
    NovaRouter([{"prefix": "/api", "routes": [("/users", print, {"methods": "get"})]}])
)
