"""Waitress, hardened: its channel, parser and maintenance pass, and the server.

Waitress reads requests on one asyncore loop and runs the app on ``THREADS`` threads. What
a probe found that takes it away from its users, and what bounds it here:

* idle, silent and slowloris sockets cost no thread, but waitress stopped accepting at 100
  connections: the limit is ``CONNECTION_LIMIT`` (the open-files limit raised to match,
  ``poll`` instead of ``select``), idle keep-alive sockets close after ``IDLE_TIMEOUT_S``;
* headers trickled one line at a time reset the idle timeout: a request's line and headers
  must arrive within ``HEADER_TIMEOUT_S`` in all, the whole request within
  ``REQUEST_TIMEOUT_S``;
* request bodies were spooled to disk up to 4x the upload limit before the app could refuse
  them: a body over its route's limit (``body_limits``) is refused with 413 as soon as its
  headers say so (or, chunked, as soon as it passes it), and never gets "100 Continue";
* each stream viewer holds a thread while it watches: viewers are capped below the thread
  pool (``MAX_VIEWERS``, pages.py), and a viewer that stops reading is cut off after
  ``STALL_TIMEOUT_S`` without progress, so its thread comes back.
"""

from __future__ import annotations

import contextlib
import logging
import resource
import socket
import time

from ferapp.web.errors import error_body
from ferapp.web.framing import framing_problem, raw_fields
from ferapp.web.guards import SECURITY_HEADERS

log = logging.getLogger(__name__)

SERVER_NAME = "fer-app"
SERVER_MAX_HEADERS = 64 * 1024  # waitress' own limit, above ours
THREADS = 48  # the app's threads; MAX_VIEWERS (state.py) stays well below
CONNECTION_LIMIT = 2000
IDLE_TIMEOUT_S = 30
HEADER_TIMEOUT_S = 10.0
REQUEST_TIMEOUT_S = 60.0
STALL_TIMEOUT_S = 15.0
OTHER_BODY_LIMIT = 64 * 1024  # routes that read no body


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


def body_limits(app) -> dict[str, int]:
    """The largest request body each route takes, by path (others: OTHER_BODY_LIMIT)."""
    return {"/api/predict": app.config["MAX_CONTENT_LENGTH"],
            "/api/frame": app.config["LIVE_MAX_BYTES"]}


def _limited_parser(limits: dict[str, int]):
    """waitress' request parser, timed (for the maintenance pass), refusing bodies over
    their route's limit before they are read (no "100 Continue" for them) and unknown HTTP
    versions."""
    from waitress.parser import HTTPRequestParser, ParsingError
    from waitress.utilities import Error, RequestEntityTooLarge

    class VersionNotSupported(Error):
        code = 505
        reason = "HTTP Version Not Supported"

    class TimedParser(HTTPRequestParser):
        body_limit = OTHER_BODY_LIMIT
        refused = False

        def __init__(self, adj):
            super().__init__(adj)
            self.started = time.monotonic()  # the first bytes of this request

        def parse_header(self, header_plus):
            problem = framing_problem(*raw_fields(header_plus))
            if problem:  # answered 400, and the connection closed (framing.py)
                raise ParsingError(problem)
            super().parse_header(header_plus)
            self.body_limit = limits.get(self.path, OTHER_BODY_LIMIT)

        def received(self, data):
            consumed = super().received(data)
            if not self.headers_finished or self.refused or self.empty:
                return consumed
            if self.version not in ("1.0", "1.1"):  # waitress would answer it as 1.0
                self._refuse(VersionNotSupported(f"HTTP/{self.version}: send HTTP/1.1"))
            # declared over the limit: refused unread; chunked: once it passes the limit
            elif max(self.content_length, self.body_bytes_received) > self.body_limit:
                self._refuse(RequestEntityTooLarge(
                    f"{self.path} takes a body of at most {self.body_limit} bytes"))
            return consumed

        def _refuse(self, error):
            self.refused = True
            self.error = error
            self.completed = True
            self.expect_continue = False  # the client is not asked to send its body

    return TimedParser


def _hardened_channel(limits: dict[str, int]):
    """waitress' channel with JSON errors, the limited parser, and the time of its last
    progress in writing (for the maintenance pass)."""
    from waitress.channel import HTTPChannel
    from waitress.task import ErrorTask

    class JsonErrorTask(ErrorTask):
        def execute(self):
            e = self.request.error
            body = error_body(f"{e.reason}: {e.body}")
            self.status = f"{e.code} {e.reason}"
            self.response_headers.append(("Content-Type", "application/json"))
            self.response_headers.extend(SECURITY_HEADERS.items())
            self.set_close_on_finish()
            self.content_length = len(body)
            self.write(body)

    class Channel(HTTPChannel):
        error_task_class = JsonErrorTask
        parser_class = _limited_parser(limits)
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
                    url_scheme: str = "http", limits: dict[str, int] | None = None):
    """A waitress server for ``app`` with JSON errors, no version in headers and the
    bounds of the module's docstring; ``.run()`` serves until interrupted."""
    from waitress.server import create_server

    channel_class = _hardened_channel(limits or {})

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


