"""A group's `security` function as a FastAPI dependency, and the answers it can give.

Nova's security function returns `true`, `{true, AuthData}`, `false`, `{false, ...}`
or `{redirect, Url}`; anything else denies (fail closed). Here it runs as a dependency of
every route of the group, so it runs before body validation and the controller, and a
FastAPI-style security function's schemes (`HTTPBasic`, `OAuth2PasswordBearer`, ...)
appear in OpenAPI.
"""

from __future__ import annotations

import copy
import inspect
import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import Annotated, Any, TypeVar

from fastapi import Depends, Security
from fastapi.exceptions import ValidationException
from fastapi.security.base import SecurityBase
from starlette.exceptions import HTTPException
from starlette.requests import HTTPConnection
from starlette.responses import Response
from starlette.websockets import WebSocket

from fastapi_nova._fastapi_compat import call_with_dependencies
from fastapi_nova._shapes import body_bytes, encode_json, parse_headers, parse_status
from fastapi_nova.controllers import _call_user
from fastapi_nova.errors import _HandlerError, _InvalidReturn, _SecurityDenied
from fastapi_nova.handlers import _redirect_location
from fastapi_nova.request import (
    _SCOPE_KEY,
    _auth_data_of,
    _build_nova_request,
    _callable_name,
    _is_nova_style,
    _ready_nova_request,
    _resolved_signature,
    _set_auth_data,
)
from fastapi_nova.types import SecurityFunction

_logger = logging.getLogger(__name__)

_S = TypeVar("_S", bound=Callable[..., Any])

#: Attribute `security_scheme` sets on a Nova-style security function.
_SCHEME_ATTR = "__nova_security_scheme__"


_NO_AUTH_DATA: Any = object()
_PASSED = "security_passed"


@dataclass(frozen=True)
class _Verdict:
    """What a security result means: go on (with auth data) or answer `response`."""

    allowed: bool
    auth_data: Any = _NO_AUTH_DATA
    response: Response | None = None

    @property
    def has_auth_data(self) -> bool:
        """True when security returned `(True, auth_data)` rather than plain `True`."""
        return self.auth_data is not _NO_AUTH_DATA


def _verdict(result: Any, source: str = "security function") -> _Verdict:
    """Interpret a security function's return value (docs: "What each return value does")."""
    if result is True:
        return _Verdict(True)
    if isinstance(result, tuple) and result:
        head = result[0]
        if head is True and len(result) == 2:
            return _Verdict(True, auth_data=result[1])
        if head == "redirect" and len(result) == 2 and isinstance(result[1], str):
            try:
                location = _redirect_location(result[1])
            except _HandlerError as exc:  # CR/LF: still a denial, as a logged server error
                _logger.error("%s: %s", source, exc)
                return _Verdict(False, response=Response(status_code=500))
            redirect = Response(status_code=302, headers={"location": location})
            return _Verdict(False, response=redirect)
        if head is False:
            denial = _denial(result)
            if denial is not None:
                return _Verdict(False, response=denial)
    if result is not False:
        _logger.warning(
            "%s returned %r, which is not a security result; denying (401)", source, result
        )
    return _Verdict(False, response=Response(status_code=401))


def _denial(result: tuple[Any, ...]) -> Response | None:
    """The response of `(False, headers)`, `(False, status, headers[, body])`, or None.

    Status, headers and body are read as a handler's are (one strictness, in `_shapes`);
    a value a handler would refuse makes the result "anything else": a 401.
    """
    try:
        if len(result) == 2:
            return Response(status_code=401, headers=parse_headers(result[1], result))
        if len(result) in (3, 4):
            status = parse_status(result[1], result)
            headers = parse_headers(result[2], result)
            body = body_bytes(result[3], headers) if len(result) == 4 else None
            return Response(body, status_code=status, headers=headers)
    except _InvalidReturn:
        pass
    return None


def _apply(conn: HTTPConnection, result: Any, name: str) -> None:
    decision = _verdict(result, f"security function {name}")
    if not decision.allowed:
        assert decision.response is not None
        raise _SecurityDenied(decision.response)
    conn.scope.setdefault(_SCOPE_KEY, {})[_PASSED] = True
    if decision.has_auth_data:
        _set_auth_data(conn, decision.auth_data)


def _security_passed(conn: HTTPConnection) -> bool:
    """True once the group's security let this request through."""
    return bool(conn.scope.get(_SCOPE_KEY, {}).get(_PASSED))


def _crashed(name: str) -> _SecurityDenied:
    # Never a pass: a security function that raises denies with a logged 500.
    _logger.exception("security function %s raised; answering 500", name)
    return _SecurityDenied(Response(status_code=500))


def _refused(conn: HTTPConnection, exc: HTTPException) -> HTTPException | _SecurityDenied:
    """What an `HTTPException` raised by security becomes.

    On HTTP it is raised on, so the app's `HTTPException` handler answers it exactly as it
    answers one raised by any FastAPI dependency. A WebSocket upgrade has no such handler (an
    HTTPException there ends in a bare 403), so it becomes the denial response FastAPI's handler
    would have sent: its status, its headers and `{"detail": ...}`.
    """
    if not isinstance(conn, WebSocket):
        return exc
    headers = dict(exc.headers or {})
    headers["content-type"] = "application/json"
    body = encode_json({"detail": exc.detail})
    return _SecurityDenied(Response(body, status_code=exc.status_code, headers=headers))


def _override(conn: HTTPConnection, fn: SecurityFunction) -> Callable[..., Any] | None:
    """The replacement for `fn` in `app.dependency_overrides`, if the test set one."""
    overrides = getattr(conn.scope.get("app"), "dependency_overrides", None)
    return overrides.get(fn) if overrides else None


async def _call_replacement(replacement: Callable[..., Any], conn: HTTPConnection) -> Any:
    """Call an override as its own style asks: Nova-style gets the request, a function
    without parameters nothing, any other signature is solved by FastAPI (headers, schemes,
    `Depends`...) as FastAPI solves an overridden dependency."""
    if _is_nova_style(replacement):
        return await _call_user(replacement, await _build_nova_request(conn))
    if not _resolved_signature(replacement).parameters:
        return await _call_user(replacement)
    return await call_with_dependencies(conn, replacement)


async def _run_nova_security(fn: SecurityFunction, conn: HTTPConnection) -> None:
    """Run a Nova-style security function on `conn`; raise SecurityDenied to deny.

    Honours `app.dependency_overrides[fn]` (both the lean path and FastAPI's path call
    this), and lets an `HTTPException` through as FastAPI would (see `_refused`).
    """
    replacement = _override(conn, fn)
    called = fn if replacement is None else replacement
    try:
        if replacement is None:
            nreq = _ready_nova_request(conn) or await _build_nova_request(conn)
            result = await _call_user(fn, nreq)
        else:
            result = await _call_replacement(replacement, conn)
    except HTTPException as exc:
        raise _refused(conn, exc) from None
    except (_SecurityDenied, ValidationException):
        raise  # a denial, or FastAPI's 422 for an override's own parameters
    except Exception as exc:
        raise _crashed(_callable_name(called)) from exc
    if result is True:  # the usual answer: no verdict (nor name for its messages) to build
        conn.scope.setdefault(_SCOPE_KEY, {})[_PASSED] = True
        return
    _apply(conn, result, _callable_name(called))


def security_scheme(scheme: SecurityBase) -> Callable[[_S], _S]:
    """Declare the FastAPI scheme a security function reads, for `/docs`.

    ```python
    @security_scheme(APIKeyHeader(name="X-API-Key"))
    def check_key(req):
        return req.headers.get("x-api-key") == "secret"
    ```

    OpenAPI then lists the scheme on every route of the group (the lock in `/docs`), and
    Swagger's Authorize sends the credential to the function. The scheme never answers by
    itself (it runs with `auto_error=False`): what the request gets is still only what the
    function returns.
    """
    if not isinstance(scheme, SecurityBase):
        raise TypeError(
            f"security_scheme takes a fastapi.security scheme instance (APIKeyHeader, "
            f"HTTPBearer, ...), got {scheme!r}"
        )
    quiet: Any = copy.copy(scheme)  # every concrete scheme is callable; the base is not
    if hasattr(quiet, "auto_error"):
        quiet.auto_error = False

    def declare(fn: _S) -> _S:
        setattr(fn, _SCHEME_ATTR, quiet)
        return fn

    return declare


def _declared_scheme(fn: SecurityFunction) -> Callable[..., Any] | None:
    """The scheme `security_scheme` declared on `fn` (a SecurityBase), if any."""
    scheme = getattr(fn, _SCHEME_ATTR, None)
    return scheme if isinstance(scheme, SecurityBase) and callable(scheme) else None


def _scheme_parameters(fn: SecurityFunction) -> list[inspect.Parameter]:
    """The parameter that shows `fn`'s declared scheme in OpenAPI, if it declared one.

    Only for OpenAPI (and Swagger's Authorize): its value is not used, the function reads
    the credential itself (a FastAPI-style one may also depend on the scheme directly).
    """
    scheme = _declared_scheme(fn)
    if scheme is None:
        return []
    annotation = Annotated[Any, Security(scheme)]
    return [inspect.Parameter("_scheme", inspect.Parameter.KEYWORD_ONLY, annotation=annotation)]


def _conn_parameter() -> inspect.Parameter:
    return inspect.Parameter(
        "conn", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=HTTPConnection
    )


def _security_dependency(fn: SecurityFunction) -> Callable[..., Any]:
    """The FastAPI dependency that runs security function `fn` (either style)."""
    name = _callable_name(fn)
    if _is_nova_style(fn):

        async def nova_security(conn: HTTPConnection, **_scheme: Any) -> None:
            await _run_nova_security(fn, conn)

        parameters = [_conn_parameter()]
        dependency: Callable[..., Any] = nova_security
    else:
        guarded = _Guarded(fn, name)

        async def fastapi_security(conn: HTTPConnection, result: Any, **_scheme: Any) -> None:
            _apply(conn, result, name)

        # By hand: this module's postponed annotations could not name the local `guarded`.
        result = inspect.Parameter(
            "result",
            inspect.Parameter.POSITIONAL_OR_KEYWORD,
            annotation=Annotated[Any, Depends(guarded)],
        )
        parameters = [_conn_parameter(), result]
        dependency = fastapi_security
    dependency.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [*parameters, *_scheme_parameters(fn)], return_annotation=None
    )
    dependency.__nova_security__ = fn  # type: ignore[attr-defined]
    dependency.__qualname__ = dependency.__name__ = f"security[{name}]"
    return dependency


class _Guarded:
    """A FastAPI-style security function, wrapped so that a crash denies with 500.

    It has `fn`'s signature, so FastAPI still resolves (and documents) the schemes it
    depends on, and it hashes and compares equal to `fn`: FastAPI looks a dependency up in
    `app.dependency_overrides` by its callable, so `app.dependency_overrides[fn]` finds
    this wrapper and replaces it, as the user expects. `HTTPException` passes through:
    that is the scheme's own answer (e.g. `HTTPBasic`'s 401 with `WWW-Authenticate`).
    """

    def __init__(self, fn: SecurityFunction, name: str) -> None:
        self.fn = fn
        self.name = name
        self.__signature__ = _resolved_signature(fn)
        self.__name__ = self.__qualname__ = getattr(fn, "__name__", name)
        self.__module__ = getattr(fn, "__module__", None) or __name__

    async def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # Always a coroutine for FastAPI; `def` security still runs in the threadpool.
        try:
            return await _call_user(self.fn, *args, **kwargs)
        except (HTTPException, _SecurityDenied):
            raise
        except Exception as exc:
            raise _crashed(self.name) from exc

    def __hash__(self) -> int:
        return hash(self.fn)

    def __eq__(self, other: object) -> bool:
        return (
            other is self
            or other is self.fn
            or (isinstance(other, _Guarded) and other.fn is self.fn)
        )


def _auth_data(conn: HTTPConnection) -> Any:
    return _auth_data_of(conn)


AuthData = Annotated[Any, Depends(_auth_data)]
"""What the group's security returned with `(True, auth_data)`, as a FastAPI dependency:
`def show(id: int, user: AuthData): ...`
"""
