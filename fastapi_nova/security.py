"""A group's ``security`` function as a FastAPI dependency, and the answers it can give.

Nova's security function returns ``true``, ``{true, AuthData}``, ``false``, ``{false, ...}``
or ``{redirect, Url}``; anything else denies (fail closed). Here it runs as a dependency of
every route of the group, so it runs before body validation and the controller, and a
FastAPI-style security function's schemes (``HTTPBasic``, ``OAuth2PasswordBearer``, ...)
appear in OpenAPI.
"""

from __future__ import annotations

import functools
import inspect
import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Annotated, Any

from fastapi import Depends, HTTPException
from starlette.requests import HTTPConnection
from starlette.responses import Response

from fastapi_nova.controllers import call_user, is_async_callable
from fastapi_nova.handlers import HandlerError, encode_json, redirect_location
from fastapi_nova.request import (
    SCOPE_KEY,
    auth_data_of,
    build_nova_request,
    callable_name,
    is_nova_style,
    resolved_signature,
    set_auth_data,
)

logger = logging.getLogger("fastapi_nova.security")

SecurityFunction = Callable[..., Any]


class SecurityDenied(Exception):
    """Raised by the security dependency to answer with ``response`` instead of the route."""

    def __init__(self, response: Response) -> None:
        super().__init__(response.status_code)
        self.response = response


_NO_AUTH_DATA: Any = object()
_PASSED = "security_passed"


@dataclass(frozen=True)
class Verdict:
    """What a security result means: go on (with auth data) or answer ``response``."""

    allowed: bool
    auth_data: Any = _NO_AUTH_DATA
    response: Response | None = None

    @property
    def has_auth_data(self) -> bool:
        """True when security returned ``(True, auth_data)`` rather than plain ``True``."""
        return self.auth_data is not _NO_AUTH_DATA


def _headers(value: Any) -> dict[str, str] | None:
    if isinstance(value, Mapping) and all(isinstance(k, str) for k in value):
        return {k: str(v) for k, v in value.items()}
    if isinstance(value, list | tuple) and all(
        isinstance(item, tuple | list) and len(item) == 2 for item in value
    ):
        return {str(k): str(v) for k, v in value}
    return None


def _is_status(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and 100 <= value <= 599


def _body(value: Any, headers: dict[str, str]) -> bytes | None:
    if isinstance(value, dict | list):
        if not any(k.lower() == "content-type" for k in headers):
            headers["content-type"] = "application/json"
        return encode_json(value)
    if isinstance(value, str):
        return value.encode()
    if isinstance(value, bytes):
        return value
    return None


def verdict(result: Any, source: str = "security function") -> Verdict:
    """Interpret a security function's return value (the table in DESIGN section 1)."""
    if result is True:
        return Verdict(True)
    if isinstance(result, tuple) and result:
        head = result[0]
        if head is True and len(result) == 2:
            return Verdict(True, auth_data=result[1])
        if head == "redirect" and len(result) == 2 and isinstance(result[1], str):
            try:
                location = redirect_location(result[1])
            except HandlerError as exc:  # CR/LF: still a denial, as a logged server error
                logger.error("%s: %s", source, exc)
                return Verdict(False, response=Response(status_code=500))
            redirect = Response(status_code=302, headers={"location": location})
            return Verdict(False, response=redirect)
        if head is False:
            denial = _denial(result)
            if denial is not None:
                return Verdict(False, response=denial)
    if result is not False:
        logger.warning(
            "%s returned %r, which is not a security result; denying (401)", source, result
        )
    return Verdict(False, response=Response(status_code=401))


def _denial(result: tuple[Any, ...]) -> Response | None:
    if len(result) == 2:
        headers = _headers(result[1])
        return None if headers is None else Response(status_code=401, headers=headers)
    if len(result) in (3, 4) and _is_status(result[1]):
        headers = _headers(result[2])
        if headers is None:
            return None
        if len(result) == 3:
            return Response(status_code=result[1], headers=headers)
        body = _body(result[3], headers)
        if body is None:
            return None
        return Response(body, status_code=result[1], headers=headers)
    return None


def _apply(conn: HTTPConnection, result: Any, name: str) -> None:
    decision = verdict(result, f"security function {name}")
    if not decision.allowed:
        assert decision.response is not None
        raise SecurityDenied(decision.response)
    conn.scope.setdefault(SCOPE_KEY, {})[_PASSED] = True
    if decision.has_auth_data:
        set_auth_data(conn, decision.auth_data)


def security_passed(conn: HTTPConnection) -> bool:
    """True once the group's security let this request through."""
    return bool(conn.scope.get(SCOPE_KEY, {}).get(_PASSED))


def _crashed(name: str) -> SecurityDenied:
    # Never a pass: a security function that raises denies with a logged 500.
    logger.exception("security function %s raised; answering 500", name)
    return SecurityDenied(Response(status_code=500))


async def run_nova_security(fn: SecurityFunction, conn: HTTPConnection) -> None:
    """Run a Nova-style security function on ``conn``; raise SecurityDenied to deny."""
    name = callable_name(fn)
    nreq = await build_nova_request(conn)
    try:
        result = await call_user(fn, nreq)
    except Exception as exc:
        raise _crashed(name) from exc
    _apply(conn, result, name)


def security_dependency(fn: SecurityFunction) -> Callable[..., Any]:
    """The FastAPI dependency that runs security function ``fn`` (either style)."""
    name = callable_name(fn)
    if is_nova_style(fn):

        async def nova_security(conn: HTTPConnection) -> None:
            await run_nova_security(fn, conn)

        nova_security.__nova_security__ = fn  # type: ignore[attr-defined]
        nova_security.__qualname__ = nova_security.__name__ = f"security[{name}]"
        return nova_security

    guarded = _guard(fn, name)

    async def fastapi_security(conn: HTTPConnection, result: Any) -> None:
        _apply(conn, result, name)

    # Built by hand: this module's postponed annotations could not name the local ``guarded``.
    fastapi_security.__signature__ = inspect.Signature(  # type: ignore[attr-defined]
        [
            inspect.Parameter(
                "conn", inspect.Parameter.POSITIONAL_OR_KEYWORD, annotation=HTTPConnection
            ),
            inspect.Parameter(
                "result",
                inspect.Parameter.POSITIONAL_OR_KEYWORD,
                annotation=Annotated[Any, Depends(guarded)],
            ),
        ],
        return_annotation=None,
    )
    fastapi_security.__nova_security__ = fn  # type: ignore[attr-defined]
    fastapi_security.__qualname__ = fastapi_security.__name__ = f"security[{name}]"
    return fastapi_security


def _guard(fn: SecurityFunction, name: str) -> Callable[..., Any]:
    """Wrap a FastAPI-style security function so a crash denies with 500.

    The wrapper keeps ``fn``'s signature, so FastAPI still resolves (and documents) the
    schemes it depends on. ``HTTPException`` passes through: that is the scheme's own answer
    (e.g. ``HTTPBasic``'s 401 with ``WWW-Authenticate``).
    """
    signature = resolved_signature(fn)
    if is_async_callable(fn):

        @functools.wraps(fn)
        async def guarded_async(*args: Any, **kwargs: Any) -> Any:
            try:
                return await fn(*args, **kwargs)
            except (HTTPException, SecurityDenied):
                raise
            except Exception as exc:
                raise _crashed(name) from exc

        guarded: Callable[..., Any] = guarded_async
    else:

        @functools.wraps(fn)
        def guarded_sync(*args: Any, **kwargs: Any) -> Any:
            try:
                result = fn(*args, **kwargs)
            except (HTTPException, SecurityDenied):
                raise
            except Exception as exc:
                raise _crashed(name) from exc
            if inspect.isawaitable(result):  # pragma: no cover - a sync fn returning a coroutine
                raise TypeError(f"security function {name} returned an awaitable from def")
            return result

        guarded = guarded_sync
    guarded.__signature__ = signature  # type: ignore[attr-defined]
    return guarded


def _auth_data(conn: HTTPConnection) -> Any:
    return auth_data_of(conn)


#: What the group's security returned with ``(True, auth_data)``, as a FastAPI dependency:
#: ``def show(id: int, user: AuthData): ...``
AuthData = Annotated[Any, Depends(_auth_data)]
