"""Templates: ("ok", vars) renders the controller's default template; "view"
names another.

This module is greeting_controller, so its default template is greeting.html,
looked up in templates/ beside the module that defines the routes (this one).
"""

from typing import Any

from fastapi import FastAPI

from fastapi_nova import NovaRequest, NovaRouter


def hello(req: NovaRequest) -> Any:
    return ("ok", {"name": req.bindings["name"]})  # templates/greeting.html


def bye(req: NovaRequest) -> Any:
    # templates/farewell.html
    return ("view", {"name": req.bindings["name"]}, {"view": "farewell"})


def teapot(req: NovaRequest) -> Any:
    options = {
        "view": "farewell",
        "status_code": 418,
        "headers": {"content-type": "text/plain"},
    }
    return ("ok", {"name": "teapot"}, options)


def missing(req: NovaRequest) -> Any:
    # A 500; the log names the templates it searched for.
    return ("ok", {}, {"view": "no_such_page"})


routes = [
    {"prefix": "", "routes": [
        ("/hello/:name", hello, {"methods": ["get"]}),
        ("/bye/:name", bye, {"methods": ["get"]}),
        ("/teapot", teapot, {"methods": ["get"]}),
        ("/missing", missing, {"methods": ["get"]}),
    ]},
]

app = FastAPI()
# Or NovaRouter(routes, templates=["views", ...]) for other folders.
app.include_router(NovaRouter(routes))
