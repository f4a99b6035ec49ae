"""Jinja2 templates for `("ok", vars)` / `("view", vars)` returns (Nova's ErlyDTL views).

A controller in module `….main_controller` renders `main.html` by default (a trailing
`_controller` is dropped, as Nova maps `x_controller` to `x_dtl`); `{"view": "login"}`
renders `login.html`.

Escaping follows the response, not the file name: a view served as HTML is autoescaped
whatever its template's extension (`.j2`, `.txt`, `.svg`...), because Jinja's own choice
by extension would send user data raw in a `text/html` answer. A view whose `headers`
give another content type is escaped only for `.html`/`.htm`/`.xml` templates.
"""

from __future__ import annotations

import inspect
import os
import sys
from collections.abc import Callable, Mapping, Sequence
from functools import cached_property
from pathlib import Path
from typing import Any

import jinja2

from fastapi_nova.errors import TemplateNotFoundError

_TemplateDirs = str | os.PathLike[str] | Sequence[str | os.PathLike[str]]


class _TemplateFinder:
    """Renders templates found in an ordered list of directories."""

    def __init__(self, directories: Sequence[str | os.PathLike[str]]) -> None:
        self.directories: tuple[Path, ...] = tuple(Path(d).resolve() for d in directories)

    @cached_property
    def environment(self) -> jinja2.Environment:
        """The Jinja2 environment for non-HTML answers (escaping by extension: HTML and XML)."""
        return self._environment(jinja2.select_autoescape(["html", "htm", "xml"]))

    @cached_property
    def html_environment(self) -> jinja2.Environment:
        """The Jinja2 environment for HTML answers: always autoescaping."""
        # A second environment, not a per-render flag: Jinja fixes autoescaping when it
        # compiles (and caches) a template, so one compiled template cannot serve both.
        return self._environment(True)

    def _environment(self, autoescape: bool | Callable[[str | None], bool]) -> jinja2.Environment:
        return jinja2.Environment(
            loader=jinja2.FileSystemLoader([str(d) for d in self.directories]),
            autoescape=autoescape,
            enable_async=False,
        )

    def render(self, name: str, variables: Mapping[str, Any], *, html: bool = True) -> str:
        """Render template `name` with `variables`; raise TemplateNotFoundError if absent.

        `html`: the answer is HTML, so every variable is escaped whatever the extension.
        """
        environment = self.html_environment if html else self.environment
        try:
            template = environment.get_template(name)
        except jinja2.TemplateNotFound as exc:
            searched = ", ".join(str(d) for d in self.directories) or "(no directories)"
            raise TemplateNotFoundError(
                f"template {name!r} not found; searched: {searched}"
            ) from exc
        # One mapping, not **variables: a variable may be named anything, `self` included.
        return template.render(dict(variables))

    def __repr__(self) -> str:
        return f"TemplateFinder({[str(d) for d in self.directories]!r})"


def _template_name(view: str) -> str:
    """`"login"` -> `"login.html"`; a name that has an extension is kept as is."""
    return view if os.path.splitext(view)[1] else f"{view}.html"


def _default_view(controller: Callable[..., Any]) -> str:
    """The default template of a controller: its module's last name without `_controller`."""
    module = getattr(inspect.unwrap(controller), "__module__", None) or "main"
    base = module.rsplit(".", 1)[-1]
    if base.endswith("_controller"):
        base = base[: -len("_controller")]
    return _template_name(base)


def _module_directory(module_name: str | None) -> Path:
    """The directory of an imported module (the working directory if it has no file)."""
    module = sys.modules.get(module_name or "")
    file = getattr(module, "__file__", None)
    return Path(file).resolve().parent if file else Path.cwd()


def _finder_for(templates: _TemplateDirs | None, default_module: str | None) -> _TemplateFinder:
    """A finder for `templates` dirs, else `templates/` beside `default_module`.

    Relative directories are taken relative to `default_module`'s directory, so an app
    finds its templates whatever the working directory is.
    """
    base = _module_directory(default_module)
    if templates is None:
        return _TemplateFinder([base / "templates"])
    dirs = [templates] if isinstance(templates, str | os.PathLike) else list(templates)
    return _TemplateFinder([base / Path(d) for d in dirs])
