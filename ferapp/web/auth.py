"""Access control when the server is reachable beyond loopback: one token, as Jupyter does it.

The token (>= 128 bits, made at start-up or given with ``--token``) is checked on every
route but ``/healthz``, whatever address a request comes from (a reverse proxy on the same
machine makes every visitor look local). It is accepted three ways:

* ``?token=...`` on a URL: the answer sets a session cookie (Flask's signed session:
  HttpOnly, SameSite=Strict, Secure under HTTPS; it holds a mark, never the token) and,
  for a page, redirects to the same URL without the token;
* ``Authorization: Bearer <token>`` (scripts, curl);
* the session cookie of an earlier ``?token=``.

Comparison is constant-time (``hmac.compare_digest`` of SHA-256 digests, so not even the
length leaks). A client that has sent ``AUTH_MAX_FAILURES`` wrong tokens within
``AUTH_WINDOW_S`` seconds gets 429 with Retry-After for its further wrong ones; a client
with the right token is served all the while. The cookie key is derived from the token:
a new token (a restart without ``--token``) ends every session.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
import time
from collections import OrderedDict, deque
from datetime import timedelta
from urllib.parse import urlencode

from flask import Flask, Response, redirect, render_template, request, session
from flask.sessions import SecureCookieSessionInterface

from ferapp.web.errors import error_response, retry_later

TOKEN_BYTES = 24  # secrets.token_urlsafe(24): 192 bits, 32 characters
MIN_TOKEN = 16  # characters of a token given with --token / FER_TOKEN
MAX_TOKEN = 256
OPEN_ENDPOINTS = {"pages.healthz"}  # liveness probes carry no token
SESSION_MARK = "fer_auth"


def new_token() -> str:
    return secrets.token_urlsafe(TOKEN_BYTES)


def token_problem(token: str) -> str | None:
    """What is wrong with a token a user chose (one line), or None."""
    if not token.strip():
        return "the token must not be empty"
    if len(token) < MIN_TOKEN:
        return (f"the token must have at least {MIN_TOKEN} characters (make one with: "
                "python -c \"import secrets; print(secrets.token_urlsafe())\")")
    if len(token) > MAX_TOKEN or not token.isascii() or not token.isprintable():
        return f"the token must be at most {MAX_TOKEN} printable ASCII characters"
    return None


def _digest(text: str) -> bytes:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).digest()


class Failures:
    """Wrong tokens per client within a sliding window (bounded number of clients)."""

    def __init__(self, limit: int = 5, window_s: float = 60.0, max_clients: int = 4096,
                 clock=time.monotonic):
        self.limit, self.window_s, self.max_clients, self.clock = (limit, window_s,
                                                                  max_clients, clock)
        self._seen: OrderedDict[str, deque] = OrderedDict()
        self._lock = threading.Lock()

    def _recent(self, client: str, now: float) -> deque:
        times = self._seen.get(client)
        if times is None:
            times = self._seen[client] = deque(maxlen=self.limit + 1)
            while len(self._seen) > self.max_clients:
                self._seen.popitem(last=False)
        while times and now - times[0] > self.window_s:
            times.popleft()
        self._seen.move_to_end(client)
        return times

    def retry_after(self, client: str) -> int:
        """Seconds until ``client`` may try again (0: it may now)."""
        with self._lock:
            now = self.clock()
            times = self._recent(client, now)
            if len(times) < self.limit:  # after ``limit`` wrong ones, the next is refused
                return 0
            return max(1, int(times[0] + self.window_s - now + 1))

    def add(self, client: str):
        with self._lock:
            self._recent(client, self.clock()).append(self.clock())


class _SessionInterface(SecureCookieSessionInterface):
    """Flask's signed cookie session, Secure whenever the request came over HTTPS."""

    def get_cookie_secure(self, app) -> bool:
        return request.is_secure or super().get_cookie_secure(app)


def install(app: Flask, token: str):
    """Require ``token`` on every route but OPEN_ENDPOINTS (see the module's docstring)."""
    expected = _digest(token)
    failures = Failures(app.config["AUTH_MAX_FAILURES"], app.config["AUTH_WINDOW_S"])
    app.secret_key = hmac.new(expected, b"fer-app session cookie", hashlib.sha256).digest()
    app.session_interface = _SessionInterface()
    app.config.update(SESSION_COOKIE_NAME="fer_session", SESSION_COOKIE_HTTPONLY=True,
                      SESSION_COOKIE_SAMESITE="Strict",
                      # the cookie lives AUTH_DAYS from the token URL; answers to the page's
                      # polling do not renew it (nor bring back one the visitor deleted)
                      SESSION_REFRESH_EACH_REQUEST=False,
                      PERMANENT_SESSION_LIFETIME=timedelta(days=app.config["AUTH_DAYS"]))

    def matches(given: str) -> bool:
        return len(given) <= MAX_TOKEN and hmac.compare_digest(_digest(given), expected)

    @app.before_request
    def require_token():
        if request.endpoint in OPEN_ENDPOINTS:
            return None
        given, how = _presented()
        if given is None:
            if session.get(SESSION_MARK) is True:
                return None
            return _unauthorized(how or "this server needs its token")
        if not matches(given):
            wait = failures.retry_after(request.remote_addr or "")
            if wait:
                return retry_later("too many wrong tokens from this client; wait and retry",
                                   429, wait)
            failures.add(request.remote_addr or "")
            return _unauthorized("wrong token")
        if how == "query":
            session[SESSION_MARK] = True
            session.permanent = True
            if request.method == "GET" and _wants_page():
                return redirect(_url_without_token(), 303)
        return None


def _presented() -> tuple[str | None, str | None]:
    """(the token the request carries, how) or (None, what is wrong with the header)."""
    header = request.headers.get("Authorization")
    if header is not None:
        scheme, _, value = header.strip().partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None, "malformed Authorization header"
        return value.strip(), "bearer"
    if "token" in request.args:
        return request.args.get("token", ""), "query"
    return None, None


def _wants_page() -> bool:
    """The page, or a browser navigation to anything but the stream and the API."""
    if request.endpoint == "pages.index":
        return True
    return (request.headers.get("Sec-Fetch-Mode") == "navigate"
            and request.blueprint != "api" and request.endpoint != "pages.video_feed")


def _local_path() -> str:
    """This request's path, never one that names another site (//other.site)."""
    return "/" + request.path.lstrip("/\\")


def _url_without_token() -> str:
    """This request's URL, same path and other parameters, no token; always on this site."""
    path = _local_path()
    rest = [(k, v) for k, v in request.args.items(multi=True) if k != "token"]
    return path + ("?" + urlencode(rest) if rest else "")


def _unauthorized(message: str) -> Response:
    """401: a small page that asks for the token (the page), else JSON."""
    if request.method == "GET" and _wants_page():
        # a link followed from another site arrives without the SameSite=Strict cookie:
        # reload once from this origin, which sends it
        reload = request.headers.get("Sec-Fetch-Site") in ("cross-site", "same-site")
        resp = Response(render_template("token.html", message=message, reload=reload,
                                        action=_local_path()),
                        401, mimetype="text/html")
    else:
        resp = error_response(f"{message}: open the URL printed at start-up "
                              "(.../?token=...) or send 'Authorization: Bearer <token>'", 401)
    resp.headers["WWW-Authenticate"] = 'Bearer realm="fer-app"'
    resp.headers["Cache-Control"] = "no-store"
    return resp
