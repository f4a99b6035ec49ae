"""Tiny ASGI apps that acceptance tests serve with a real uvicorn (``tests.support.servers``)."""
