"""Serve the Flask app: waitress by default, cheroot for HTTPS, Flask's own server on request.

Both answer with ``Server: fer-app`` (no server or Python version) and every error as JSON:
the app's own errors through Flask's handlers, and the ones a server produces before the
app sees the request (header fields too large, body too large, bad request line) through
``JsonErrorTask`` for waitress. Requests whose target or headers are too long are answered
by the app (414, 431), below the server's own limits, so they are JSON too.
"""

from __future__ import annotations

import re
import socket

from ferapp.web.errors import error_body

SERVER_NAME = "fer-app"
SERVERS = ("waitress", "flask")  # without TLS; with --cert/--key: cheroot
MAX_URL = 8 * 1024  # request target (path + query), bytes
MAX_HEADERS = 16 * 1024  # all header lines together, bytes
SERVER_MAX_HEADERS = 64 * 1024  # waitress' own limit, above ours


class LimitsMiddleware:
    """WSGI middleware: 414 for a too-long request target, 431 for too-large headers."""

    def __init__(self, app, max_url: int = MAX_URL, max_headers: int = MAX_HEADERS):
        self.app, self.max_url, self.max_headers = app, max_url, max_headers

    def __call__(self, environ, start_response):
        target = len(environ.get("PATH_INFO", "")) + len(environ.get("QUERY_STRING", ""))
        headers = sum(len(k) + len(str(v)) for k, v in environ.items() if k.startswith("HTTP_"))
        if target > self.max_url:
            return self._refuse(start_response, "414 URI Too Long",
                                f"the request target is longer than {self.max_url} bytes")
        if headers > self.max_headers:
            return self._refuse(start_response, "431 Request Header Fields Too Large",
                                f"the request headers exceed {self.max_headers} bytes")
        return self.app(environ, start_response)

    @staticmethod
    def _refuse(start_response, status, message):
        body = error_body(message)
        start_response(status, [("Content-Type", "application/json"),
                                ("Content-Length", str(len(body)))])
        return [body]


def serve_waitress(app, host: str, port: int, max_body: int, threads: int = 48):
    """Run waitress until interrupted, with JSON errors and no version in headers."""
    from waitress.channel import HTTPChannel
    from waitress.server import create_server
    from waitress.task import ErrorTask

    class JsonErrorTask(ErrorTask):
        def execute(self):
            e = self.request.error
            body = error_body(f"{e.reason}: {e.body}")
            self.status = f"{e.code} {e.reason}"
            self.response_headers.append(("Content-Type", "application/json"))
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)

    class JsonErrorChannel(HTTPChannel):
        error_task_class = JsonErrorTask

    # a slow viewer must skip frames, not queue them: waitress buffers up to 16 MB per
    # connection by default; at ~8 frames the stream generator blocks and then resumes at
    # the newest frame
    server = create_server(
        LimitsMiddleware(app), host=host, port=port, threads=threads, ident=SERVER_NAME,
        outbuf_high_watermark=512 * 1024, outbuf_overflow=1024 * 1024,
        max_request_header_size=SERVER_MAX_HEADERS, max_request_body_size=4 * max_body,
        clear_untrusted_proxy_headers=True)
    servers = [server] if hasattr(server, "channel_class") else list(server.map.values())
    for one in servers:  # one server per listening socket
        if hasattr(one, "channel_class"):
            one.channel_class = JsonErrorChannel
    server.run()


def serve_flask(app, host: str, port: int):
    """Flask's development server (for debugging), with the same header and limits."""
    from werkzeug.serving import WSGIRequestHandler, run_simple

    class Handler(WSGIRequestHandler):
        def version_string(self):
            return SERVER_NAME

        def log_request(self, code="-", size="-"):
            # the access log shows no query: a ?token=... stays out of it
            self.requestline = re.sub(r"\?\S*", "?...", self.requestline, count=1)
            super().log_request(code, size)

    run_simple(host, port, LimitsMiddleware(app), threaded=True, use_reloader=False,
               use_debugger=False, request_handler=Handler)


class TLSError(Exception):
    """A certificate or key that cannot be used."""


def serve_cheroot(app, host: str, port: int, cert: str, key: str, max_body: int,
                  threads: int = 48):
    """Run cheroot with TLS until interrupted (``--cert`` / ``--key``).

    Waitress has no TLS; cheroot (CherryPy's server) is a pure-Python, threaded,
    production WSGI server that does, in this one process, so every viewer shares the
    camera thread and the model as with waitress (gunicorn would fork workers that each
    open the camera, and does not run on Windows).
    """
    import ssl

    from cheroot import wsgi
    from cheroot.ssl.builtin import BuiltinSSLAdapter

    try:
        adapter = BuiltinSSLAdapter(cert, key)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise TLSError(f"cannot use the certificate {cert} with the key {key}: "
                       f"{exc.__class__.__name__}: {exc}") from None
    server = wsgi.Server((host, port), LimitsMiddleware(app), numthreads=threads,
                         server_name=SERVER_NAME, request_queue_size=64)
    server.ssl_adapter = adapter
    server.max_request_header_size = SERVER_MAX_HEADERS
    server.max_request_body_size = 4 * max_body
    try:
        server.start()
    finally:
        server.stop()


def port_in_use(host: str, port: int) -> bool:
    """True when something already listens on host:port."""
    with socket.socket(socket.AF_INET6 if ":" in host else socket.AF_INET) as s:
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError:
            return True
    return False


def serve(app, host: str, port: int, server: str = "waitress", cert: str | None = None,
          key: str | None = None):
    """Serve ``app`` until interrupted: cheroot with TLS when given a certificate, else
    waitress (the default) or Flask's development server (``server="flask"``)."""
    max_body = app.config["MAX_CONTENT_LENGTH"]
    if cert:
        serve_cheroot(app, host, port, cert, key, max_body)
    elif server == "waitress":
        serve_waitress(app, host, port, max_body)
    else:
        serve_flask(app, host, port)
