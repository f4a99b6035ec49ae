"""A controller module whose invalid returns go to its fallback (a module
attribute).
"""

from typing import Any

from fastapi import FastAPI

import fallback_resolver
from fastapi_nova import NovaRequest, NovaRouter

# Nova: -fallback_controller(fallback_resolver).
fallback_controller = fallback_resolver


def legacy(req: NovaRequest) -> Any:
    return "something_unexpected"  # not a tuple: no handler takes it


def typo(req: NovaRequest) -> Any:
    return ("jsn", {"id": 1})  # no handler is registered for "jsn"


def fine(req: NovaRequest) -> Any:
    return ("json", {"ok": True})


routes = [
    {"prefix": "/api", "routes": [
        ("/legacy", legacy, {"methods": ["get"]}),
        ("/typo", typo, {"methods": ["get"]}),
        ("/fine", fine, {"methods": ["get"]}),
    ]},
]

app = FastAPI()
app.include_router(NovaRouter(routes))
