"""OpenAPI for Nova routes: a route documents what it answers.

A Nova controller returns a tuple whose handler decides the status and the media type at run
time, so FastAPI, which reads an endpoint's signature, cannot know them. The router can, where
the route says what the controller returns:

* the route option `returns`: a handler name (`"json"`), a `(name, status)` pair
  (`("status", 200)`), or a list of them;
* else the controller's return annotation, in the tuple's own shape:
  `tuple[Literal["json"], User] | tuple[Literal["status"], Literal[404]]`.

From that, `route_openapi` derives the keyword arguments of `add_api_route` for one
method of a route: the success status (201 for `("json", data)` on POST), the response class
or content of each status, the router's status pages for the codes the route answers, the
security's denials, the bindings of a Nova-style controller as path parameters (declared in
`openapi_extra`, so no 422 is documented where none can happen) and a summary from the path
for a lambda. Pure functions of the route: nothing here runs per request.
"""

from __future__ import annotations

import inspect
import re
import types
import typing
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any, Literal, Union, get_args, get_origin

from fastapi.responses import HTMLResponse, JSONResponse
from pydantic import BaseModel, TypeAdapter
from starlette.responses import Response

from fastapi_nova.controllers import is_streaming
from fastapi_nova.request import is_nova_style

if TYPE_CHECKING:
    from fastapi_nova.controllers import ControllerOptions
    from fastapi_nova.groups import HttpRouteSpec
    from fastapi_nova.handlers import HandlerRegistry

#: A declared status that may be any code (`("status", code)` with `code: int`).
ANY_STATUS = 0

JSON = "application/json"
#: FastAPI's description of a route's own status.
SUCCESS = "Successful Response"
HTML = "text/html"


@dataclass(frozen=True)
class _Declared:
    """One return a route declares: the handler, its status if the tuple carries one, its
    payload type, and (`sendfile`) its media type."""

    kind: str
    #: None: the handler's default (200, 201 for POST json, the route's status_code option).
    status: int | None = None
    payload: Any = Any
    media_type: str | None = None


@dataclass(frozen=True)
class _Outcome:
    """A documented response: status, media type (None: no body) and payload schema type."""

    status: int  # ANY_STATUS documents "default"
    media_type: str | None
    payload: Any = Any
    description: str | None = None


# --------------------------------------------------------------------------- declarations


def returns_error(value: Any) -> str | None:
    """Why `value` is not a valid `returns` route option, or None if it is."""
    items = value if isinstance(value, list) else [value]
    if not items:
        return "returns must name at least one handler, got []"
    for item in items:
        if isinstance(item, str) and item:
            continue
        if (
            isinstance(item, tuple)
            and len(item) == 2
            and isinstance(item[0], str)
            and isinstance(item[1], int)
            and not isinstance(item[1], bool)
            and 100 <= item[1] <= 599
        ):
            continue
        return (
            "returns must be a handler name, a (name, status) pair such as ('status', 200), "
            f"or a list of them; got {item!r}"
        )
    return None


def _from_option(value: Any) -> list[_Declared]:
    items = value if isinstance(value, list) else [value]
    return [
        _Declared(item) if isinstance(item, str) else _Declared(item[0], status=item[1])
        for item in items
    ]


def _alternatives(annotation: Any) -> Iterator[Any]:
    if get_origin(annotation) in (Union, types.UnionType):
        for arg in get_args(annotation):
            yield from _alternatives(arg)
    else:
        yield annotation


def _literals(annotation: Any) -> tuple[Any, ...] | None:
    return get_args(annotation) if get_origin(annotation) is Literal else None


def _statuses(annotation: Any) -> list[int]:
    values = _literals(annotation)
    if values and all(isinstance(v, int) and not isinstance(v, bool) for v in values):
        return list(values)
    return [ANY_STATUS]


def _read_tuple(annotation: Any) -> list[_Declared] | None:
    """The returns one `tuple[Literal[...], ...]` alternative declares, None if unreadable."""
    if get_origin(annotation) is not tuple:
        return None
    args = get_args(annotation)
    kinds = _literals(args[0]) if args else None
    if not kinds or not all(isinstance(k, str) for k in kinds):
        return None
    if len(args) == 2 and args[1] is Ellipsis:
        args = args[:1]
    out: list[_Declared] = []
    for kind in kinds:
        if kind in ("status", "sendfile") or len(args) == 4:
            # The tuple carries its status: ("status", code...), (name, status, headers, payload)
            statuses = _statuses(args[1]) if len(args) > 1 else [ANY_STATUS]
            payload = args[3] if len(args) == 4 else None
            mimes = _literals(args[4]) if kind == "sendfile" and len(args) == 5 else None
            media = mimes[0] if mimes and isinstance(mimes[0], str) else None
            out += [_Declared(kind, s, payload, media) for s in statuses]
        else:
            out.append(_Declared(kind, None, args[1] if len(args) > 1 else Any))
    return out


def _declared_returns(controller: Callable[..., Any], option: Any = None) -> list[_Declared] | None:
    """What a route's controller returns: the `returns` option, else its return annotation.

    None when neither says (an unannotated controller, `-> Any`, a Response, ...): the router
    cannot know and documents FastAPI's default.
    """
    if option is not None:
        return _from_option(option)
    fn: Any = inspect.unwrap(getattr(controller, "__nova_controller__", controller))
    target = fn if inspect.isroutine(fn) else type(fn).__call__
    try:
        annotation = typing.get_type_hints(target).get("return")
    except Exception:  # an unresolvable name: say nothing rather than something wrong
        return None
    if annotation is None:
        return None
    out: list[_Declared] = []
    for alternative in _alternatives(annotation):
        read = _read_tuple(alternative)
        if read is None:
            return None
        out += read
    return out


# --------------------------------------------------------------------------- outcomes


def _payload_media(payload: Any) -> str | None:
    """The media type of a `("status", code, headers, body)` body of this declared type."""
    if payload is None or payload is type(None):
        return None
    origin = get_origin(payload) or payload
    if origin in (dict, list) or (inspect.isclass(origin) and hasattr(origin, "model_fields")):
        return JSON
    return None


def _outcomes(
    declared: Sequence[_Declared],
    *,
    method: str,
    status_option: int | None,
    registry: HandlerRegistry,
    status_pages: Mapping[int, Callable[..., Any]],
) -> list[_Outcome]:
    out: list[_Outcome] = []
    for d in declared:
        default = status_option or 200
        if d.kind == "json":
            success = status_option or (201 if method == "POST" else 200)
            out.append(_Outcome(d.status or success, JSON, d.payload))
        elif d.kind in ("ok", "view"):
            out.append(_Outcome(status_option or 200, HTML))
        elif d.kind == "redirect":
            out.append(_Outcome(302, None, description="Redirect (the Location header)"))
        elif d.kind == "status":
            code = d.status or ANY_STATUS
            page = status_pages.get(code) if d.payload is None else None
            if page is not None:
                out += _page_outcomes(code, page, registry)
            else:
                if code == ANY_STATUS and d.payload is None:  # any code: any status page
                    out += _all_pages(status_pages, registry)
                media = _payload_media(d.payload)
                out.append(_Outcome(code, media, d.payload if media else Any))
        elif d.kind == "sendfile":
            out.append(_Outcome(d.status or ANY_STATUS, d.media_type))
        else:  # a custom handler: the media type it was registered with
            out.append(_Outcome(d.status or default, registry.media_type(d.kind)))
    return out


def _all_pages(
    status_pages: Mapping[int, Callable[..., Any]], registry: HandlerRegistry
) -> list[_Outcome]:
    """Every status page of the router (405 answers methods a path does not document)."""
    return [
        outcome
        for code, page in status_pages.items()
        if code != 405
        for outcome in _page_outcomes(code, page, registry)
    ]


def _page_outcomes(
    code: int, page: Callable[..., Any], registry: HandlerRegistry
) -> list[_Outcome]:
    """A status page answers with its own return, at its code."""
    module = (getattr(page, "__module__", None) or "").rsplit(".", 1)[-1]
    name = getattr(page, "__qualname__", None) or repr(page)
    description = f"Status page ({module}.{name})" if module else f"Status page ({name})"
    declared = _declared_returns(page)
    if declared is None:
        return [_Outcome(code, None, description=description)]
    outcomes = _outcomes(
        declared,
        method="GET",
        status_option=code,
        registry=registry,
        status_pages={},  # a page answering ("status", code) gets no page: no recursion
    )
    return [_Outcome(code, o.media_type, o.payload, description) for o in outcomes]


def _security_outcomes(security: Callable[..., Any] | None) -> list[_Outcome]:
    """The denials of a group's security: 401 always (anything but a pass is a denial),
    plus the statuses its return annotation declares (`tuple[Literal[False], Literal[403],
    dict[str, str]]`) and 302 for `tuple[Literal["redirect"], str]`."""
    if security is None:
        return []
    out = [_Outcome(401, None, description="Denied by the group's security")]
    fn: Any = inspect.unwrap(security)
    try:
        annotation = typing.get_type_hints(fn if inspect.isroutine(fn) else type(fn).__call__).get(
            "return"
        )
    except Exception:
        annotation = None
    for alternative in _alternatives(annotation):
        args = get_args(alternative) if get_origin(alternative) is tuple else ()
        first = _literals(args[0]) if args else None
        if first == (False,) and len(args) >= 3:
            media = _payload_media(args[3]) if len(args) == 4 else None
            out += [
                _Outcome(s, media, description="Denied by the group's security")
                for s in _statuses(args[1])
            ]
        elif first == ("redirect",):
            out.append(_Outcome(302, None, description="Redirected by the group's security"))
    return out


#: Methods whose body a Nova-style route parses by convention (it parses any, see the docs).
BODY_METHODS = frozenset({"POST", "PUT", "PATCH", "DELETE"})


def _reads_body(controller: Callable[..., Any], path: str, nova_style: bool, method: str) -> bool:
    """True if the route may answer 400 for a body it cannot parse.

    A Nova-style route parses a JSON or form body before the controller runs; FastAPI
    answers 400 itself for a body-model route whose body is not JSON at all.
    """
    if nova_style:
        return method in BODY_METHODS
    from fastapi.dependencies.utils import get_dependant

    try:
        return bool(get_dependant(path=path, call=controller).body_params)
    except Exception:  # FastAPI refuses the signature: it says so when the route is added
        return False


def _body_error(status: int) -> _Outcome:
    return _Outcome(status, JSON, ErrorDetail, "The body could not be parsed")


# Its docstring is the schema's description in every app's OpenAPI document.
class ErrorDetail(BaseModel):
    """The JSON error body of FastAPI and fastapi-nova: `{"detail": "..."}`."""

    detail: str


# --------------------------------------------------------------------------- route kwargs


def _summary(spec: HttpRouteSpec) -> str | None:
    """FastAPI summarises by the endpoint's name, "Lambda" for every lambda: use the path."""
    name = getattr(spec.controller, "__name__", "")
    if name != "<lambda>":
        return None
    words = [w for w in re.split(r"[/_\-.:\[\]]+", spec.nova_path) if w]
    return " ".join(w.capitalize() for w in words) or spec.nova_path


def _binding_parameters(path_params: Sequence[str]) -> list[dict[str, Any]]:
    """The bindings of a route as OpenAPI path parameters, as FastAPI writes a `str` one."""
    return [
        {
            "name": name,
            "in": "path",
            "required": True,
            "schema": {"type": "string", "title": name.replace("_", " ").title()},
        }
        for name in path_params
    ]


def _status_key(status: int) -> int | str:
    return "default" if status == ANY_STATUS else status


def _unique(values: Sequence[Any]) -> list[Any]:
    out: list[Any] = []
    for value in values:
        if not any(value == seen for seen in out):
            out.append(value)
    return out


def _inline_schema(model: Any) -> dict[str, Any]:
    """A payload type's JSON schema written in place, or any JSON when it needs definitions."""
    try:
        schema = TypeAdapter(model).json_schema()
    except Exception:  # a type pydantic cannot describe: any JSON
        return {}
    return {} if "$defs" in schema else schema


def _response_entry(
    outcomes: Sequence[_Outcome], *, describe: bool = True, as_model: bool = True
) -> dict[str, Any]:
    """One entry of `responses`: its description, content, and a JSON payload's `model`.

    FastAPI writes a `model` under the route's own media type; on a route whose response
    class is not JSON (`as_model=False`) a JSON payload's schema is written in place instead.
    """
    entry: dict[str, Any] = {}
    descriptions = _unique([o.description for o in outcomes if o.description])
    if describe and descriptions:
        entry["description"] = "; ".join(descriptions)
    media = {o.media_type for o in outcomes}
    if None in media and len(media) > 1:
        # OpenAPI cannot mark a body optional: say it, since one return sends none.
        first = entry.get("description") or SUCCESS
        entry["description"] = f"{first}, or an empty body"
    content: dict[str, Any] = {}
    for o in outcomes:
        if o.media_type is not None and o.media_type != JSON:
            content.setdefault(o.media_type, {"schema": {"type": "string"}})
    json_payloads = [o.payload for o in outcomes if o.media_type == JSON]
    if json_payloads:
        models = _unique(json_payloads)
        if len(models) != 1 or models[0] is Any:
            content[JSON] = {"schema": {}}
        elif as_model:
            entry["model"] = models[0]  # FastAPI writes its schema (and components)
        else:
            content[JSON] = {"schema": _inline_schema(models[0])}
    if content:
        entry["content"] = content
    return entry


def _completed_options(
    spec: HttpRouteSpec, nova_style: bool, fastapi_options: Mapping[str, Any]
) -> dict[str, Any]:
    """The user's FastAPI options, with the derived summary and path parameters added."""
    kwargs = dict(fastapi_options)
    if "summary" not in kwargs and (summary := _summary(spec)) is not None:
        kwargs["summary"] = summary
    if nova_style and spec.path_params:
        # The user's openapi_extra wins: a parameter it describes replaces the derived one.
        extra = dict(kwargs.get("openapi_extra") or {})
        own = list(extra.get("parameters") or [])
        described = {p.get("name") for p in own if isinstance(p, dict) and p.get("in") == "path"}
        derived = [p for p in _binding_parameters(spec.path_params) if p["name"] not in described]
        extra["parameters"] = derived + own
        kwargs["openapi_extra"] = extra
    return kwargs


def _return_outcomes(
    declared: list[_Declared] | None,
    fn: Callable[..., Any],
    method: str,
    status_option: Any,
    options: ControllerOptions,
) -> tuple[list[_Outcome], int | None]:
    """What the controller's returns may answer, and the status documented as its success."""
    if is_streaming(fn):
        return [], None  # a yield endpoint: FastAPI streams its items and documents them itself
    if declared is not None:
        outcomes = _outcomes(
            declared,
            method=method,
            status_option=status_option,
            registry=options.registry,
            status_pages=options.status_pages,
        )
        # The documented "success": the route's status_code, else its first 2xx, else 3xx.
        statuses = sorted(o.status for o in outcomes if o.status != ANY_STATUS)
        main = status_option or next(
            (s for s in statuses if 200 <= s < 300), next((s for s in statuses if s < 400), None)
        )
        return outcomes, main
    # Nothing declared: FastAPI's default entry (200, JSON of any shape) stays; a POST
    # may answer ("json", data) with 201, and any status page may answer.
    outcomes = []
    if method == "POST" and status_option is None:
        outcomes.append(_Outcome(201, JSON, description="Created (a (json, data) return)"))
    outcomes += _all_pages(options.status_pages, options.registry)
    return outcomes, None


def _by_status(outcomes: Sequence[_Outcome], main: int | None) -> dict[int, list[_Outcome]]:
    """The outcomes grouped by status, each group also holding the any-status ones."""
    by_status: dict[int, list[_Outcome]] = {}
    for o in outcomes:
        by_status.setdefault(o.status, []).append(o)
    if main is not None:
        by_status.setdefault(main, [])
    # A return of any status may also answer each documented one, with its own body.
    for status, group in by_status.items():
        if status != ANY_STATUS:
            group += [replace(o, status=status) for o in by_status.get(ANY_STATUS, [])]
    return by_status


def _success_response(
    kwargs: dict[str, Any],
    group: Sequence[_Outcome],
    main: int,
    responses: dict[int | str, Any],
) -> None:
    """Set the success status and response class in `kwargs` (and its entry in `responses`)."""
    kwargs.setdefault("status_code", main)
    media = {o.media_type for o in group}
    # The response class documents the success body as FastAPI does; a mixed one is
    # spelled out in `responses`.
    response_class: type[Response] = Response
    if media == {JSON}:
        response_class = JSONResponse
        entry = _response_entry(group, describe=False)
        if "model" in entry and "response_model" not in kwargs:
            responses[main] = {"model": entry["model"]}
    elif media == {HTML}:
        response_class = HTMLResponse
    elif media - {None}:
        responses[main] = _response_entry(group, describe=False)
    kwargs.setdefault("response_class", response_class)


def route_openapi(
    spec: HttpRouteSpec,
    method: str,
    options: ControllerOptions,
    fastapi_options: Mapping[str, Any],
) -> dict[str, Any]:
    """The `add_api_route` keyword arguments for one method of a route.

    The user's FastAPI options, completed with what the router knows; an option the user
    gave (`status_code`, `responses`, `response_class`, `summary`, `openapi_extra`)
    wins over the derived one.
    """
    controller = spec.controller
    fn = getattr(controller, "__nova_controller__", controller)
    nova_style = is_nova_style(fn)
    kwargs = _completed_options(spec, nova_style, fastapi_options)
    status_option = kwargs.get("status_code")
    declared = _declared_returns(controller, getattr(spec, "returns", None))
    outcomes, main = _return_outcomes(declared, fn, method, status_option, options)
    if _reads_body(fn, spec.path, nova_style, method):
        outcomes.append(_body_error(400))
    outcomes += _security_outcomes(spec.group.security)

    by_status = _by_status(outcomes, main)
    responses: dict[int | str, Any] = {}
    if main is not None:
        _success_response(kwargs, by_status.pop(main, []), main, responses)
    elif declared:
        # Nothing declared succeeds (a route that only redirects): no 200 JSON body either.
        kwargs.setdefault("response_class", Response)
    as_model = kwargs.get("response_class", JSONResponse) is not HTMLResponse
    for status, group in by_status.items():
        responses[_status_key(status)] = _response_entry(group, as_model=as_model)
    responses.update(kwargs.get("responses") or {})
    if responses:
        kwargs["responses"] = responses
    return kwargs
