"""The Origin check of WebSocket upgrades, which stops cross-site WebSocket hijacking.

Browsers send `Origin` on every WebSocket upgrade and let any page open a socket to any
site, cookies included; the server must refuse origins it does not trust. Non-browser clients
send no `Origin` and are always allowed (the header is the browsers' cross-site signal).
With no `allowed_origins` only the request's own host is trusted.
"""

from __future__ import annotations

from urllib.parse import urlsplit

from starlette.websockets import WebSocket

__all__ = ["normalize_origin", "origin_allowed"]

#: The port a scheme means when the origin or Host header names none.
_DEFAULT_PORTS = {"http": 80, "ws": 80, "https": 443, "wss": 443}


def normalize_origin(origin: str, *, strict: bool = False) -> str | None:
    """`scheme://host[:port]` lowercased without the default port; None if not an origin.

    `strict` also refuses a path, query, fragment or user part (for configured origins).
    """
    parts = urlsplit(origin.strip().lower())
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname:
        return None
    if strict and (parts.path not in ("", "/") or parts.query or parts.fragment or parts.username):
        return None
    try:
        port = parts.port
    except ValueError:
        return None
    host = f"[{parts.hostname}]" if ":" in parts.hostname else parts.hostname
    if port is None or port == _DEFAULT_PORTS[parts.scheme]:
        return f"{parts.scheme}://{host}"
    return f"{parts.scheme}://{host}:{port}"


def _same_host(origin: str, host_header: str) -> bool:
    # A Host header carries no scheme. Without a port it means the default port of whatever
    # scheme the browser used, which keeps TLS-terminating proxies (Origin https://x, Host x)
    # working; an explicit port must match the origin's.
    parts = urlsplit(origin.strip().lower())
    host = urlsplit("//" + host_header.strip().lower())
    if parts.scheme not in _DEFAULT_PORTS or not parts.hostname or not host.hostname:
        return False
    try:
        origin_port = parts.port or _DEFAULT_PORTS[parts.scheme]
        host_port = host.port or _DEFAULT_PORTS[parts.scheme]
    except ValueError:
        return False
    return parts.hostname == host.hostname and origin_port == host_port


def origin_allowed(websocket: WebSocket, allowed: tuple[str, ...] | None) -> bool:
    """True when the upgrade's `Origin` may connect under `allowed` (normalized origins)."""
    origin = websocket.headers.get("origin")
    if origin is None:  # not a browser: Origin is the browsers' cross-site signal
        return True
    if allowed is None:
        host = websocket.headers.get("host")
        return host is not None and _same_host(origin, host)
    return "*" in allowed or normalize_origin(origin) in allowed
