"""Response headers a real server can send: every value the app sets is plain ASCII.

A WSGI server writes header values as latin-1 bytes (PEP 3333). A value it cannot encode,
such as a Chinese toast in HX-Trigger, makes Werkzeug's server drop the connection halfway
and gunicorn refuse the response; Flask's test client passes it through untouched, so only a
real server shows the fault. Text a person reads therefore goes into a header encoded where
it is put there: JSON with \\u escapes (`json_value`), URLs percent-encoded (`url_value`),
file names as RFC 6266 `filename*=UTF-8''...` beside an ASCII fallback (`attachment`).

`check_headers` (the app's last after_request) is the net under that: a header that is not
ASCII is an error in the log; a testing or debug app raises, so that the test client fails
where a server would; otherwise the header is dropped, so that the person still gets the
page, without that header's effect, instead of a broken connection.
"""

from __future__ import annotations

import json
import re
from typing import Any
from urllib.parse import quote

from flask import Flask, Response, current_app, request
from werkzeug.urls import iri_to_uri

# visible ASCII, space and tab: what RFC 9110 calls a field value, less obs-text (bytes
# above 0x7f, which clients read as latin-1, never as the UTF-8 that was meant)
_SENDABLE = re.compile(r"[\t\x20-\x7e]*")
# Werkzeug percent-encodes these itself when it sends the response
_ENCODED_LATER = {"location", "content-location"}
# characters a plain `filename=` keeps; anything else means the fallback name
_PLAIN_NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9 ._()-]*")
# RFC 8187 attr-char, less the ALPHA / DIGIT that quote() keeps anyway
_ATTR_CHARS = "!#$&+-.^_`|~"


class UnsendableHeader(RuntimeError):
    """A response header no server can send (not ASCII)."""


def json_value(obj: Any) -> str:
    """`obj` as JSON for a header (HX-Trigger): non-ASCII characters as \\u escapes."""
    return json.dumps(obj, ensure_ascii=True, separators=(",", ":"))


def url_value(url: str) -> str:
    """A URL for a header (HX-Push-Url, HX-Redirect): non-ASCII parts percent-encoded."""
    return iri_to_uri(url)


def attachment(name: str, fallback: str) -> str:
    """Content-Disposition of a download called `name` (RFC 6266): `filename` for old
    clients (`name` if it is plain ASCII, else `fallback`), `filename*` in UTF-8."""
    plain = name if _PLAIN_NAME.fullmatch(name) else fallback
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe=_ATTR_CHARS)}"


def unsendable(response: Response) -> list[str]:
    """The names of the response's headers that a server cannot send."""
    return [name for name, value in response.headers.items()
            if name.lower() not in _ENCODED_LATER
            and not (name.isascii() and _SENDABLE.fullmatch(value))]


def check_headers(response: Response) -> Response:
    """Refuse to send a header that is not ASCII (see the module's docstring)."""
    bad = unsendable(response)
    if not bad:
        return response
    message = (f"response header(s) {', '.join(bad)} of {request.method} {request.path} "
               "are not ASCII, and a server cannot send them: encode the value with "
               "lowrise.web.headers")
    current_app.logger.error(message)
    if current_app.testing or current_app.debug:
        raise UnsendableHeader(message)
    for name in bad:
        del response.headers[name]
    return response


def init_app(app: Flask) -> None:
    """Register the check; call it before any other after_request (those run last first)."""
    app.after_request(check_headers)
