"""Static content routes: Nova's ``{RemotePath, LocalPath}`` and ``{RemotePath, LocalPath, Opts}``.

A directory is served with Starlette's ``StaticFiles`` (ranges, ETags, 304s) plus Nova's
options: ``index_files`` (default ``["index.html"]``) and ``list_dir`` (default False: a
directory without an index answers 403, as in Nova). A single file is served at its path,
with ``mimetype`` to override the guessed content type. Only GET and HEAD are answered
(other methods get 405).
"""

from __future__ import annotations

import html
import os
import stat
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any

import anyio
from starlette.datastructures import URL
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from fastapi_nova.request import WILDCARD_PARAM

#: Options a static route accepts.
STATIC_OPTIONS = frozenset({"index_files", "list_dir", "mimetype"})
#: The methods a static route answers.
STATIC_METHODS = ("GET", "HEAD")


class NovaStaticFiles(StaticFiles):
    """``StaticFiles`` with Nova's directory behaviour (index files, 403 or a listing)."""

    def __init__(self, directory: str, *, index_files: Sequence[str], list_dir: bool) -> None:
        super().__init__(directory=directory, check_dir=True)
        self.index_files = tuple(index_files)
        self.list_dir = list_dir

    async def get_response(self, path: str, scope: Scope) -> Response:
        if scope["method"] not in ("GET", "HEAD"):
            raise HTTPException(status_code=405, headers={"Allow": "GET, HEAD"})
        full_path, stat_result = await anyio.to_thread.run_sync(self.lookup_path, path)
        if stat_result is None or not stat.S_ISDIR(stat_result.st_mode):
            return await super().get_response(path, scope)
        if not scope["path"].endswith("/"):
            # Relative links in an index page need the trailing slash.
            url = URL(scope=scope)
            return RedirectResponse(url=url.replace(path=url.path + "/"))
        for index in self.index_files:
            index_path, index_stat = await anyio.to_thread.run_sync(
                self.lookup_path, os.path.join(path, index)
            )
            if index_stat is not None and stat.S_ISREG(index_stat.st_mode):
                return self.file_response(index_path, index_stat, scope)
        if not self.list_dir:
            raise HTTPException(status_code=403)
        names = sorted(await anyio.to_thread.run_sync(os.listdir, full_path))
        items = "".join(
            f'<li><a href="{html.escape(name)}">{html.escape(name)}</a></li>' for name in names
        )
        return HTMLResponse(f"<!doctype html><ul>{items}</ul>")


def static_endpoint(local: Path, options: Mapping[str, Any]) -> Callable[..., Awaitable[Response]]:
    """A FastAPI endpoint serving ``local`` (a directory or one file).

    Served through a route rather than a mount, so the group's security, plugins and the
    router's status pages apply to static content as to any other route.
    """
    if local.is_dir():
        files = NovaStaticFiles(
            str(local),
            index_files=options.get("index_files", ["index.html"]),
            list_dir=options.get("list_dir", False),
        )

        async def directory(request: Request) -> Response:
            rest = str(request.path_params.get(WILDCARD_PARAM, ""))
            segments = [s for s in rest.split("/") if s]
            path = os.path.normpath(os.path.join(*segments)) if segments else "."
            return await files.get_response(path, request.scope)

        return directory
    mimetype = options.get("mimetype")

    async def single_file(request: Request) -> Response:
        return FileResponse(local, media_type=mimetype)

    return single_file
