"""Status pages: one controller answers every 404 (and 405, 500) of the
router.
"""

from typing import Any

from fastapi import FastAPI, HTTPException

from fastapi_nova import NovaRequest, NovaRouter

BOOKS = {"1": {"id": 1, "title": "Programming Erlang"}}


def show_book(req: NovaRequest) -> Any:
    book = BOOKS.get(req.bindings["id"])
    if book is None:
        return ("status", 404)  # rendered by not_found below
    return ("json", book)


def old_book(req: NovaRequest) -> Any:
    raise HTTPException(status_code=404)  # also rendered by not_found


def error_page(req: NovaRequest) -> Any:
    # req.status_code says which status this page answers for; a tuple without a
    # status of its own is answered with that status.
    return ("json", {"error": req.status_code, "path": req.path})


routes = [
    {"prefix": "/books", "routes": [
        ("/:id", show_book, {"methods": ["get"]}),
        ("/old/:id", old_book, {"methods": ["get"]}),
        (404, error_page, {}),
        (405, error_page, {}),
    ]},
]

app = FastAPI()
app.include_router(NovaRouter(routes))
