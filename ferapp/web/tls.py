"""HTTPS in front of waitress: an asyncio TLS terminator in the server's own process.

Waitress has no TLS. Servers that do it in their accept thread (cheroot: a 10 s handshake
timeout per socket, in turn) let a few silent sockets hold every new visitor back, and
their worker threads read request headers, so slowly trickled headers take the threads.
Here the TLS handshakes run on one asyncio event loop (Python's ``ssl`` module), each with
its own timeout, never blocking the accept of others; the decrypted bytes go to waitress
on a loopback port, where the same limits hold as over plain HTTP (header and stall
timeouts, the viewer cap, JSON errors). ``real_client`` gives the app each visitor's
address, not the loopback one of the relay.
"""

from __future__ import annotations

import asyncio
import logging
import socket
import ssl
import threading

log = logging.getLogger(__name__)

HANDSHAKE_TIMEOUT_S = 10.0
MAX_CONNECTIONS = 2000
CHUNK = 64 * 1024


class TLSError(Exception):
    """A certificate or key that cannot be used."""


def server_context(cert: str, key: str) -> ssl.SSLContext:
    """A TLS server context (TLS 1.2 or newer) with the certificate chain and its key."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.minimum_version = ssl.TLSVersion.TLSv1_2
    try:
        context.load_cert_chain(cert, key)
    except (ssl.SSLError, OSError, ValueError) as exc:
        raise TLSError(f"cannot use the certificate {cert} with the key {key}: "
                       f"{exc.__class__.__name__}: {exc}") from None
    return context


def listen(host: str, port: int) -> socket.socket:
    """The listening socket (errors such as a port in use surface here, at once)."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    return socket.create_server((host, port), family=family, backlog=1024,
                                reuse_port=False)


class TLSFront:
    """Accept TLS connections on ``sock`` and relay each to the backend (host, port)."""

    def __init__(self, context: ssl.SSLContext, sock: socket.socket,
                 handshake_timeout: float = HANDSHAKE_TIMEOUT_S,
                 max_connections: int = MAX_CONNECTIONS):
        self.context, self.sock, self.backend = context, sock, None
        self.handshake_timeout, self.max_connections = handshake_timeout, max_connections
        self.peers: dict[int, str] = {}  # the relay's local port -> the visitor's address
        self.open = 0
        self._thread: threading.Thread | None = None

    def start(self, backend: tuple):
        self.backend = backend
        self._thread = threading.Thread(target=asyncio.run, args=(self._main(),),
                                        name="tls-front", daemon=True)
        self._thread.start()

    async def _main(self):
        server = await asyncio.start_server(
            self._relay, sock=self.sock, ssl=self.context,
            ssl_handshake_timeout=self.handshake_timeout, limit=CHUNK)
        async with server:
            await server.serve_forever()

    async def _relay(self, client_r, client_w):
        peer = client_w.get_extra_info("peername") or ("", 0)
        if self.open >= self.max_connections:
            client_w.close()
            return
        self.open += 1
        local = None
        try:
            backend_r, backend_w = await asyncio.open_connection(*self.backend, limit=CHUNK)
            local = backend_w.get_extra_info("sockname")[1]
            self.peers[local] = peer[0]
            up = asyncio.ensure_future(_pipe(client_r, backend_w))
            down = asyncio.ensure_future(_pipe(backend_r, client_w))
            await asyncio.wait({up, down}, return_when=asyncio.FIRST_COMPLETED)
            for task in (up, down):
                task.cancel()
            backend_w.close()
        except OSError as exc:
            log.warning("TLS relay to the app failed: %s", exc)
        finally:
            self.open -= 1
            if local is not None:
                self.peers.pop(local, None)
            client_w.close()

    def real_client(self, app):
        """WSGI middleware: REMOTE_ADDR is the visitor's address, not the relay's."""
        peers = self.peers

        def wrapped(environ, start_response):
            port = environ.get("REMOTE_PORT")
            if port and environ.get("REMOTE_ADDR") in ("127.0.0.1", "::1"):
                real = peers.get(int(port))
                if real:
                    environ["REMOTE_ADDR"] = real
            return app(environ, start_response)

        return wrapped


async def _pipe(reader: asyncio.StreamReader, writer: asyncio.StreamWriter):
    """Copy until end of stream or an error; the writer's buffer bounds what waits."""
    try:
        while data := await reader.read(CHUNK):
            writer.write(data)
            await writer.drain()
    except (OSError, ssl.SSLError, asyncio.IncompleteReadError):
        pass
