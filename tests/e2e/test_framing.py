"""Request smuggling: a request whose body length is said two ways (Content-Length and
Transfer-Encoding), in a folded header, or with an unknown transfer coding gets 400 JSON
and its connection is closed, so what follows it never runs as a second request; in every
server mode, over raw sockets (RFC 9112 §6.1)."""

from __future__ import annotations

import json
import re
import socket
import ssl

import pytest

from tests.helpers import running_server, tls_certificate

pytestmark = pytest.mark.slow

SMUGGLED = b"GET /api/sources HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n"


def _exchange(port: int, data: bytes, tls: ssl.SSLContext | None) -> bytes:
    """Send ``data`` on one connection and read until the server closes it (or 10 s)."""
    raw = socket.create_connection(("127.0.0.1", port), timeout=10)
    sock = tls.wrap_socket(raw, server_hostname="localhost") if tls else raw
    got = b""
    with sock:
        sock.sendall(data)
        while True:
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                raise AssertionError(f"the connection stayed open: {got[:300]!r}") from None
            except (ConnectionResetError, ssl.SSLError):
                break
            if not chunk:
                break
            got += chunk
    return got


def _status_lines(got: bytes) -> list[bytes]:
    """The status codes of the answers in ``got``, in order."""
    return re.findall(rb"HTTP/1\.[01] (\d{3}) [A-Za-z ]+\r\n", got)


def _cases(host: bytes) -> list[tuple[str, bytes]]:
    post = b"POST /api/frame?session=smuggle-1 HTTP/1.1\r\n" + host
    return [
        ("CL and TE", post + b"Content-Length: 48\r\nTransfer-Encoding: chunked\r\n\r\n"
         + b"0\r\n\r\n" + SMUGGLED),
        ("TE and CL", post + b"Transfer-Encoding: chunked\r\nContent-Length: 5\r\n\r\n"
         + b"0\r\n\r\n" + SMUGGLED),
        ("folded TE", post + b"Transfer-Encoding:\r\n chunked\r\n\r\n0\r\n\r\n" + SMUGGLED),
        ("unknown coding", post + b"Transfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n"
         + SMUGGLED),
        ("two lengths", post + b"Content-Length: 0\r\nContent-Length: 48\r\n\r\n" + SMUGGLED),
        ("TE in 1.0", b"POST /api/frame?session=smuggle-1 HTTP/1.0\r\n" + host
         + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n" + SMUGGLED),
    ]


@pytest.mark.parametrize("mode", ["waitress", "flask", "https"])
def test_ambiguous_framing_is_400_and_closes_the_connection(mode, tmp_path):
    args, tls = ["--server", mode], None
    if mode == "https":
        cert, key, tls = tls_certificate(tmp_path)
        args = ["--cert", cert, "--key", key]
    with running_server(*args, scheme="https" if tls else "http", ssl_context=tls) as (url, _):
        port = int(url.rsplit(":", 1)[1])
        host = f"Host: {'localhost' if tls else '127.0.0.1'}:{port}\r\n".encode()
        for name, data in _cases(host):
            got = _exchange(port, data, tls)
            assert got.startswith(b"HTTP/1.1 400 ") or got.startswith(b"HTTP/1.0 400 "), \
                (mode, name, got[:300])
            assert len(_status_lines(got)) == 1, (mode, name, got)  # nothing smuggled ran
            head, _, body = got.partition(b"\r\n\r\n")
            assert b"content-type: application/json" in head.lower(), (mode, name, head)
            assert json.loads(body)["error"], (mode, name)
        # one framing, said once: served as before, and (waitress) the connection kept for
        # the next; Flask's development server closes a connection whose body it did not
        # read
        ok = _exchange(port, b"GET /healthz HTTP/1.1\r\n" + host
                       + b"Transfer-Encoding: chunked\r\n\r\n0\r\n\r\n"
                       + b"GET /healthz HTTP/1.1\r\n" + host + b"Connection: close\r\n\r\n",
                       tls)
        assert _status_lines(ok) == ([b"200"] if mode == "flask" else [b"200", b"200"]), \
            (mode, ok[:500])
