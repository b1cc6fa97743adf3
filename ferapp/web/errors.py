"""Every error is JSON ``{"error": "..."}``: the app's own (HTTP errors and unexpected
exceptions, which log the traceback and answer a plain 500) and the servers' (servers.py)."""

from __future__ import annotations

import json
import logging

from flask import Flask, Response
from werkzeug.exceptions import HTTPException

log = logging.getLogger(__name__)


def error_body(message: str) -> bytes:
    """The JSON body of an error answer."""
    return json.dumps({"error": message}).encode()


def error_response(message: str, status: int) -> Response:
    return Response(error_body(message), status, mimetype="application/json")


def retry_later(message: str, status: int, seconds: int) -> Response:
    """A 429 or 503 that says when to try again (``Retry-After``)."""
    resp = error_response(message, status)
    resp.headers["Retry-After"] = str(max(1, int(seconds)))
    return resp


def install(app: Flask):
    """Answer HTTP errors and unexpected exceptions as JSON (never a traceback page)."""

    @app.errorhandler(HTTPException)
    def http_error(exc: HTTPException):
        return error_response(exc.description or exc.name, exc.code)

    @app.errorhandler(Exception)
    def unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response("internal error; see the server log", 500)
