"""The example app: ``uvicorn example_app.main:app``.

Pub/sub uses ``$NOVA_PUBSUB_URL`` (default ``memory://``, no external service needed);
set it to ``redis://127.0.0.1:6379/0`` to run several processes as one chat.
"""

from __future__ import annotations

from fastapi import FastAPI

from example_app.handlers import registry
from example_app.router import routes
from fastapi_nova import NovaRouter

app = FastAPI(title="fastapi-nova example", description="The Nova guide's app on FastAPI.")
app.include_router(NovaRouter(routes, registry=registry))
