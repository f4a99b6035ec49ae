"""Static routes: a directory and a single file, next to ordinary routes."""

from fastapi import FastAPI

from fastapi_nova import NovaRouter

routes = [
    {"prefix": "", "security": False, "routes": [
        # A directory: /site/ serves static/index.html, /site/css/site.css
        # that file.
        ("/site", "static"),
        # A directory without an index file and with a listing would be:
        # ("/files", "uploads", {"index_files": [], "list_dir": True}),
        # One file, with its content type given.
        ("/robots.txt", "static/robots.txt", {"mimetype": "text/plain"}),
    ]},
]

app = FastAPI()
app.include_router(NovaRouter(routes))  # relative paths: beside this module
