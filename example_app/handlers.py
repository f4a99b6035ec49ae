"""A custom ``xml`` handler (the guide's ``nova_handlers:register_handler(xml, ...)``)."""

from __future__ import annotations

from typing import Any
from xml.sax.saxutils import escape

from starlette.responses import Response

from fastapi_nova import HandlerRegistry


def xml_handler(status_code: int, headers: dict[str, str], payload: Any) -> Response:
    """Render a str as is, or a flat dict as ``<user><key>value</key>...</user>``."""
    if isinstance(payload, dict):
        fields = "".join(f"<{k}>{escape(str(v))}</{k}>" for k, v in payload.items())
        payload = f"<user>{fields}</user>"
    return Response(
        payload, status_code=status_code, headers={"content-type": "application/xml", **headers}
    )


# The app's own registry: the built-ins plus xml, without touching the process-wide one.
registry = HandlerRegistry()
# media_type: what OpenAPI documents for routes that return ("xml", ...).
registry.register("xml", xml_handler, media_type="application/xml")
