"""Serve the Flask app: waitress, over plain HTTP or behind the TLS front (``tls.py``) for
HTTPS; Flask's own server on request.

Every answer says ``Server: fer-app`` (no server or Python version) and every error is
JSON: the app's own through Flask's handlers, the ones waitress makes before the app sees
the request (header fields too large, body too large, bad request line) through
``JsonErrorTask``. Requests whose target or headers are too long are answered by the app
(414, 431), below the server's own limits, so they are JSON too.

Waitress reads requests on one asyncore loop and runs the app on ``THREADS`` threads. What
a probe found that takes it away from its users, and what bounds it here:

* idle, silent and slowloris sockets cost no thread, but waitress stopped accepting at 100
  connections: the limit is ``CONNECTION_LIMIT`` (the open-files limit raised to match,
  ``poll`` instead of ``select``), idle keep-alive sockets close after ``IDLE_TIMEOUT_S``;
* headers trickled one line at a time reset the idle timeout: a request's line and headers
  must arrive within ``HEADER_TIMEOUT_S`` in all, the whole request within
  ``REQUEST_TIMEOUT_S``;
* each stream viewer holds a thread while it watches: viewers are capped below the thread
  pool (``MAX_VIEWERS``, pages.py), and a viewer that stops reading is cut off after
  ``STALL_TIMEOUT_S`` without progress, so its thread comes back.
"""

from __future__ import annotations

import contextlib
import logging
import re
import resource
import socket
import time

from ferapp.web import tls
from ferapp.web.errors import error_body

log = logging.getLogger(__name__)

SERVER_NAME = "fer-app"
SERVERS = ("waitress", "flask")  # with --cert/--key: waitress behind the TLS front
MAX_URL = 8 * 1024  # request target (path + query), bytes
MAX_HEADERS = 16 * 1024  # all header lines together, bytes
SERVER_MAX_HEADERS = 64 * 1024  # waitress' own limit, above ours
THREADS = 48  # the app's threads; MAX_VIEWERS (state.py) stays well below
CONNECTION_LIMIT = 2000
IDLE_TIMEOUT_S = 30
HEADER_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 60.0
STALL_TIMEOUT_S = 15.0


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


def open_files_for(connections: int) -> int:
    """Raise this process' open-files limit towards ``connections`` (+ headroom); return
    how many connections it allows."""
    soft, hard = resource.getrlimit(resource.RLIMIT_NOFILE)
    want = connections + 256
    if soft != resource.RLIM_INFINITY and soft < want:
        new = want if hard == resource.RLIM_INFINITY else min(want, hard)
        try:
            resource.setrlimit(resource.RLIMIT_NOFILE, (new, hard))
            soft = new
        except (ValueError, OSError):
            pass
    return connections if soft == resource.RLIM_INFINITY else max(64, min(connections,
                                                                          soft - 256))


def _hardened_channel():
    """waitress' channel with JSON errors and the times the maintenance pass checks."""
    from waitress.channel import HTTPChannel
    from waitress.parser import HTTPRequestParser
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

    class TimedParser(HTTPRequestParser):
        def __init__(self, adj):
            super().__init__(adj)
            self.started = time.monotonic()  # the first bytes of this request

    class Channel(HTTPChannel):
        error_task_class = JsonErrorTask
        parser_class = TimedParser
        last_sent = 0.0

        def _flush_some(self, do_close=True):
            sent = super()._flush_some(do_close)
            if sent:
                self.last_sent = time.monotonic()
            return sent

    return Channel


def overdue(channel, now: float) -> str | None:
    """Why a waitress channel should be closed now (a slow request, a stalled reader)."""
    req = channel.request
    if req is not None and not req.completed:
        if not req.headers_finished and now - req.started > HEADER_TIMEOUT_S:
            return "headers too slow"
        if now - req.started > REQUEST_TIMEOUT_S:
            return "request too slow"
    if channel.requests and channel.total_outbufs_len and \
            now - max(channel.last_sent, channel.started) > STALL_TIMEOUT_S:
        return "reader stalled"
    return None


def waitress_server(app, host: str, port: int, max_body: int, threads: int = THREADS,
                    url_scheme: str = "http"):
    """A waitress server for ``app`` with JSON errors, no version in headers and the
    bounds of the module's docstring; ``.run()`` serves until interrupted."""
    from waitress.server import create_server

    channel_class = _hardened_channel()

    # a slow viewer must skip frames, not queue them: waitress buffers up to 16 MB per
    # connection by default; at ~8 frames the stream generator blocks and then resumes at
    # the newest frame
    server = create_server(
        app, host=host, port=port, threads=threads, ident=SERVER_NAME,
        url_scheme=url_scheme, outbuf_high_watermark=512 * 1024,
        outbuf_overflow=1024 * 1024, max_request_header_size=SERVER_MAX_HEADERS,
        max_request_body_size=4 * max_body, clear_untrusted_proxy_headers=True,
        connection_limit=open_files_for(CONNECTION_LIMIT), asyncore_use_poll=True,
        channel_timeout=IDLE_TIMEOUT_S, cleanup_interval=1, backlog=1024)
    listeners = [server] if hasattr(server, "channel_class") else list(server.map.values())
    for one in listeners:  # one server per listening socket
        if not hasattr(one, "channel_class"):
            continue
        one.channel_class = channel_class
        one.maintenance = _maintenance(one, one.maintenance)
    return server


def _maintenance(server, original):
    def maintenance(now):
        original(now)  # idle keep-alive channels
        mono = time.monotonic()
        for channel in list(server.active_channels.values()):
            if not hasattr(channel, "started"):
                channel.started = mono
            why = overdue(channel, mono)
            if why and not channel.will_close:
                log.info("closing a connection from %s: %s", channel.addr, why)
                channel.will_close = True
                # a stalled peer never makes the socket writable, so waitress would not
                # get to close it: shut it down, the loop then sees the error and closes
                # the channel, which wakes a task thread blocked on its output
                with contextlib.suppress(OSError):
                    channel.socket.shutdown(socket.SHUT_RDWR)
                server.pull_trigger()

    return maintenance


def serve_waitress(app, host: str, port: int, max_body: int):
    """Run waitress until interrupted."""
    waitress_server(LimitsMiddleware(app), host, port, max_body).run()


def serve_flask(app, host: str, port: int):
    """Flask's development server (for debugging), with the same header and limits."""
    from werkzeug.serving import WSGIRequestHandler, run_simple

    class Handler(WSGIRequestHandler):
        def version_string(self):
            return SERVER_NAME

        def log_request(self, code="-", size="-"):
            # the access log shows no query: a ?token=... stays out of it
            # (it is logged once the app answered: the app has had the full path)
            self.requestline = re.sub(r"\?\S*", "?...", self.requestline, count=1)
            if "?" in getattr(self, "path", ""):
                self.path = self.path.split("?", 1)[0] + "?..."
            super().log_request(code, size)

    run_simple(host, port, LimitsMiddleware(app), threaded=True, use_reloader=False,
               use_debugger=False, request_handler=Handler)


def serve_tls(app, host: str, port: int, cert: str, key: str, max_body: int):
    """HTTPS until interrupted: the TLS front on host:port, waitress behind it on a
    loopback port (``--cert`` / ``--key``)."""
    context = tls.server_context(cert, key)
    sock = tls.listen(host, port)
    front = tls.TLSFront(context, sock)
    server = waitress_server(front.real_client(LimitsMiddleware(app)), "127.0.0.1", 0,
                             max_body, url_scheme="https")
    front.start(("127.0.0.1", server.effective_port))
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
          key: str | None = None):
    """Serve ``app`` until interrupted: HTTPS (waitress behind the TLS front) when given a
    certificate, else waitress (the default) or Flask's development server
    (``server="flask"``)."""
    max_body = app.config["MAX_CONTENT_LENGTH"]
    if cert:
        serve_tls(app, host, port, cert, key, max_body)
    elif server == "waitress":
        serve_waitress(app, host, port, max_body)
    else:
        serve_flask(app, host, port)
