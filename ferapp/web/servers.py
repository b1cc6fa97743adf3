"""Serve the Flask app: waitress, over plain HTTP or behind the TLS front (``tls.py``) for
HTTPS; Flask's own server on request.

Every answer says ``Server: fer-app`` (no server or Python version) and every error is
JSON: the app's own through Flask's handlers, the ones waitress makes before the app sees
the request (header fields too large, body too large, bad request line) through
``JsonErrorTask``. Requests whose target or headers are too long are answered by the app
(414, 431), below the server's own limits, so they are JSON too.

Waitress is hardened against hostile sockets in ``channels.py``.
"""

from __future__ import annotations

import re
import socket

from ferapp.web import tls
from ferapp.web.channels import SERVER_NAME, body_limits, waitress_server
from ferapp.web.errors import error_body
from ferapp.web.framing import framing_problem
from ferapp.web.guards import SECURITY_HEADERS

SERVERS = ("waitress", "flask")  # with --cert/--key: waitress behind the TLS front
MAX_URL = 8 * 1024  # request target (path + query), bytes
MAX_HEADERS = 16 * 1024  # all header lines together, bytes


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
                                ("Content-Length", str(len(body))),
                                *SECURITY_HEADERS.items()])
        return [body]


def serve_waitress(app, host: str, port: int, max_body: int, bound=None):
    """Run waitress until interrupted; ``bound(port)`` once it listens."""
    server = waitress_server(LimitsMiddleware(app), host, port, max_body,
                             limits=body_limits(app))
    (bound or _ignore)(server.effective_port)
    server.run()


def _ignore(port: int) -> None:
    pass


def serve_flask(app, host: str, port: int, bound=None):
    """Flask's development server (for debugging), with the same header and limits;
    ``bound(port)`` once it listens."""
    from werkzeug.serving import WSGIRequestHandler, make_server

    class Handler(WSGIRequestHandler):
        def version_string(self):
            return SERVER_NAME

        def parse_request(self):
            if not super().parse_request():
                return False
            fields = self.headers.items()
            problem = framing_problem(self.request_version.partition("/")[2], fields,
                                      any("\r" in v or "\n" in v for _, v in fields))
            if problem:  # 400 and close (framing.py)
                self.send_error(400, problem)
                return False
            return True

        def send_error(self, code, message=None, explain=None):
            # http.server's own answers (a bad request line or version, 414, 431) as JSON
            short = self.responses.get(code, ("Error",))[0]
            body = error_body(f"{short}: {message or short}")
            if getattr(self, "request_version", "HTTP/0.9") == "HTTP/0.9":
                self.request_version = "HTTP/1.0"  # else no status line or headers
            self.close_connection = True
            self.log_error("code %d, message %s", code, message)
            self.send_response(code, short)
            self.send_header("Content-Type", "application/json")
            for name, value in SECURITY_HEADERS.items():
                self.send_header(name, value)
            self.send_header("Connection", "close")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            if getattr(self, "command", None) != "HEAD" and code >= 200 and \
                    code not in (204, 304):
                self.wfile.write(body)

        def log_request(self, code="-", size="-"):
            # the access log shows no query: a ?token=... stays out of it
            # (it is logged once the app answered: the app has had the full path)
            self.requestline = re.sub(r"\?\S*", "?...", self.requestline, count=1)
            if "?" in getattr(self, "path", ""):
                self.path = self.path.split("?", 1)[0] + "?..."
            super().log_request(code, size)

    server = make_server(host, port, LimitsMiddleware(app), threaded=True,
                         request_handler=Handler)
    (bound or _ignore)(server.server_port)
    server.serve_forever()


def serve_tls(app, host: str, port: int, cert: str, key: str, max_body: int, bound=None):
    """HTTPS until interrupted: the TLS front on host:port, waitress behind it on a
    loopback port (``--cert`` / ``--key``); ``bound(port)`` once the front listens."""
    context = tls.server_context(cert, key)
    sock = tls.listen(host, port)
    front = tls.TLSFront(context, sock)
    server = waitress_server(front.real_client(LimitsMiddleware(app)), "127.0.0.1", 0,
                             max_body, url_scheme="https", limits=body_limits(app))
    front.start(("127.0.0.1", server.effective_port))
    (bound or _ignore)(sock.getsockname()[1])
    try:
        server.run()
    finally:
        sock.close()


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
          key: str | None = None, bound=None):
    """Serve ``app`` until interrupted: HTTPS (waitress behind the TLS front) when given a
    certificate, else waitress (the default) or Flask's development server
    (``server="flask"``). ``bound(port)`` is called once it listens, with the port it
    bound (port 0: one the system chose)."""
    max_body = app.config["MAX_CONTENT_LENGTH"]
    if cert:
        serve_tls(app, host, port, cert, key, max_body, bound)
    elif server == "waitress":
        serve_waitress(app, host, port, max_body, bound)
    else:
        serve_flask(app, host, port, bound)
