"""A custom handler: controllers return ("csv", rows), the handler answers."""

import csv
import io
from typing import Any

from fastapi import FastAPI
from starlette.responses import Response

from fastapi_nova import (
    HandlerExistsError,
    HandlerRegistry,
    NovaRequest,
    NovaRouter,
)


def csv_handler(
    status_code: int, headers: dict[str, str], payload: Any
) -> Response:
    out = io.StringIO()
    csv.writer(out, lineterminator="\n").writerows(payload)
    return Response(
        out.getvalue(),
        status_code=status_code,
        headers={"content-type": "text/csv", **headers},
    )


# An app-wide registry of our own: the built-ins plus csv.
# (register_handler("csv", ...) would add it to the process-wide registry.)
registry = HandlerRegistry()
registry.register("csv", csv_handler)

try:
    registry.register("csv", csv_handler)  # taken: refused, unlike Nova
except HandlerExistsError as exc:
    REFUSED = str(exc)

# An explicit replacement is fine:
registry.register("csv", csv_handler, replace=True)


def report(req: NovaRequest) -> Any:
    return ("csv", [["user", "visits"], ["ann", 3], ["bob", 5]])  # status 200


def report_created(req: NovaRequest) -> Any:
    # Status and headers given:
    return ("csv", 201, {"x-report": "new"}, [["id"], [7]])


routes = [
    {"prefix": "/reports", "routes": [
        ("/visits.csv", report, {"methods": ["get"]}),
        ("/new.csv", report_created, {"methods": ["post"]}),
    ]},
]

app = FastAPI()
app.include_router(NovaRouter(routes, registry=registry))
