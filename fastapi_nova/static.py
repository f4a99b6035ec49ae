"""Static content routes: Nova's `{RemotePath, LocalPath}` and `{RemotePath, LocalPath, Opts}`.

A directory is served with Starlette's `StaticFiles` (ranges, ETags, 304s) plus Nova's
options: `index_files` (default `["index.html"]`) and `list_dir` (default False: a
directory without an index answers 403, as in Nova). A single file is served at its path,
with `mimetype` to override the guessed content type. Only GET and HEAD are answered
(other methods get 405).

Hostile names get 404, never a 500: a NUL byte, a name over the OS limit, a path out of the
root. Dotfiles (`.env`, `.git/`) are served and listed like any file unless the route
has `hide_dotfiles: True`, which answers 404 for any path with a segment starting with
`.` and leaves such names out of listings. Listing links are percent-encoded relative
links (`./name`), so no file name can become a `javascript:` link or break on `#`/`?`.
"""

from __future__ import annotations

import errno
import html
import os
import stat
from collections.abc import Awaitable, Callable, Mapping, Sequence
from pathlib import Path
from typing import Any
from urllib.parse import quote

import anyio
from starlette.datastructures import URL
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from starlette.staticfiles import StaticFiles
from starlette.types import Scope

from fastapi_nova.request import _WILDCARD_PARAM

#: Options a static route accepts.
_STATIC_OPTIONS = frozenset({"index_files", "list_dir", "mimetype", "hide_dotfiles"})
#: The methods a static route answers.
_STATIC_METHODS = ("GET", "HEAD")


class _NovaStaticFiles(StaticFiles):
    """`StaticFiles` with Nova's directory behaviour (index files, 403 or a listing)."""

    def __init__(
        self,
        directory: str,
        *,
        index_files: Sequence[str],
        list_dir: bool,
        hide_dotfiles: bool = False,
    ) -> None:
        super().__init__(directory=directory, check_dir=True)
        self.index_files = tuple(index_files)
        self.list_dir = list_dir
        self.hide_dotfiles = hide_dotfiles

    def lookup_path(self, path: str) -> tuple[str, os.stat_result | None]:
        # A NUL byte (ValueError) or a name over the OS limit cannot name a file here: not
        # found. Starlette maps them in its get_response, which ours bypasses for directories.
        try:
            return super().lookup_path(path)
        except ValueError:
            return "", None
        except OSError as exc:
            if exc.errno == errno.ENAMETOOLONG:
                return "", None
            raise

    async def get_response(self, path: str, scope: Scope) -> Response:
        if scope["method"] not in ("GET", "HEAD"):
            raise HTTPException(status_code=405, headers={"Allow": "GET, HEAD"})
        if self.hide_dotfiles and any(_is_dotfile(part) for part in path.split(os.sep)):
            raise HTTPException(status_code=404)
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
        entries = await anyio.to_thread.run_sync(_list, full_path)
        items = "".join(
            _list_item(name, is_dir)
            for name, is_dir in entries
            if _servable(name) and not (self.hide_dotfiles and _is_dotfile(name))
        )
        return HTMLResponse(f"<!doctype html><ul>{items}</ul>")


def _servable(name: str) -> bool:
    # A backslash is refused as a path separator (traversal), and Starlette's path patterns
    # do not match a line break: such a file can never be served, so a link would be a 404.
    return "\\" not in name and "\n" not in name


def _is_dotfile(name: str) -> bool:
    return name.startswith(".") and name not in (".", "")


def _list(directory: str) -> list[tuple[str, bool]]:
    with os.scandir(directory) as entries:
        return sorted((entry.name, entry.is_dir()) for entry in entries)


def _list_item(name: str, is_dir: bool) -> str:
    # Percent-encode every reserved character and prefix "./": a name such as
    # "javascript:alert(1)" stays a relative link, and "#" or "?" stay part of the name.
    href = "./" + quote(name, safe="") + ("/" if is_dir else "")
    return f'<li><a href="{html.escape(href)}">{html.escape(name)}</a></li>'


def _static_endpoint(local: Path, options: Mapping[str, Any]) -> Callable[..., Awaitable[Response]]:
    """A FastAPI endpoint serving `local` (a directory or one file).

    Served through a route rather than a mount, so the group's security, plugins and the
    router's status pages apply to static content as to any other route.
    """
    if local.is_dir():
        files = _NovaStaticFiles(
            str(local),
            index_files=options.get("index_files", ["index.html"]),
            list_dir=options.get("list_dir", False),
            hide_dotfiles=options.get("hide_dotfiles", False),
        )

        async def directory(request: Request) -> Response:
            rest = str(request.path_params.get(_WILDCARD_PARAM, ""))
            segments = [s for s in rest.split("/") if s]
            path = os.path.normpath(os.path.join(*segments)) if segments else "."
            return await files.get_response(path, request.scope)

        return directory
    mimetype = options.get("mimetype")

    async def single_file(request: Request) -> Response:
        return FileResponse(local, media_type=mimetype)

    return single_file
