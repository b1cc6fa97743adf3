"""Request guards: a Host allow-list (against DNS rebinding), same-origin requests, and the
security headers of every answer (Content-Security-Policy among them).

DNS rebinding: a page on attacker.example can make its own name resolve to 127.0.0.1 and
then read http://attacker.example:5000/video_feed "same-origin" from a visitor's browser.
The browser still sends ``Host: attacker.example``, so only requests whose Host is one of
ours are served. Cross-site requests: a page on another site can still POST a form or a
fetch to 127.0.0.1:5000; browsers label those with ``Sec-Fetch-Site`` (and ``Origin``), so
state-changing requests from another site are refused. Tools such as curl send neither
header and are served. The stream and the API are refused to another site even for GET (an
``<img src=".../video_feed">`` on any page would turn the camera on); only the page itself
(a link to it) and ``/healthz`` may be reached from elsewhere, and every answer carries
``Cross-Origin-Resource-Policy: same-origin``.
"""

from __future__ import annotations

import socket
from urllib.parse import urlsplit

from flask import Flask, request

from ferapp.web.errors import error_response

# 'wasm-unsafe-eval': the page's in-browser mode compiles ONNX Runtime's WebAssembly
# (it allows WebAssembly only, never eval); its worker is a module from 'self'
CSP = ("default-src 'self'; img-src 'self' blob: data:; style-src 'self'; "
       "script-src 'self' 'wasm-unsafe-eval'; worker-src 'self'; connect-src 'self'; "
       "media-src 'self' blob: mediastream:; "
       "object-src 'none'; base-uri 'none'; "
       "form-action 'self'; frame-ancestors 'none'")
SECURITY_HEADERS = {
    "X-Content-Type-Options": "nosniff",
    "Content-Security-Policy": CSP,
    "Referrer-Policy": "no-referrer",
    "X-Frame-Options": "DENY",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    # with COOP, the page is cross-origin isolated: ONNX Runtime Web may run threads
    # (SharedArrayBuffer); the page loads nothing from another origin anyway
    "Cross-Origin-Embedder-Policy": "require-corp",
    "Permissions-Policy": "camera=(self), microphone=(), geolocation=(), usb=(), payment=()",
}
HSTS = "max-age=31536000"  # HTTPS only; browsers apply it to every port of the host name
CROSS_SITE_ENDPOINTS = {"pages.index", "pages.healthz"}  # a link may lead here
LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
SAFE_METHODS = {"GET", "HEAD", "OPTIONS"}


def host_name(host: str) -> str:
    """The name part of a Host header value: no port, no IPv6 brackets, lower case."""
    host = host.strip().lower()
    if host.startswith("["):
        return host[1:host.find("]")] if "]" in host else host[1:]
    if host.count(":") == 1:
        host = host.split(":", 1)[0]
    return host.rstrip(".")


def machine_names() -> set[str]:
    """This machine's own host names and addresses (for --host 0.0.0.0)."""
    names = {socket.gethostname(), socket.getfqdn()}
    for name in list(names):
        try:
            for info in socket.getaddrinfo(name, None):
                names.add(info[4][0])
        except OSError:
            pass
    return {host_name(n) for n in names if n}


def allowed_hosts(bind_host: str, extra=()) -> set[str]:
    """Loopback names always; the machine's names when bound to all interfaces; ``extra``."""
    hosts = set(LOOPBACK_NAMES)
    if bind_host in ("0.0.0.0", "::", ""):
        hosts |= machine_names()
    elif bind_host not in LOOPBACK_NAMES:
        hosts.add(host_name(bind_host))
    hosts |= {host_name(h) for h in extra}
    return hosts


def install(app: Flask):
    """Refuse foreign Host headers (421) and cross-site requests but links to the page
    (403), as JSON, and add SECURITY_HEADERS (and HSTS under HTTPS) to every answer.

    ``app.config["ALLOWED_HOSTS"]``: the accepted names (default: loopback only).
    """
    app.config.setdefault("ALLOWED_HOSTS", set(LOOPBACK_NAMES))

    @app.before_request
    def guard():
        if "," in request.environ.get("HTTP_HOST", ""):  # the servers join repeated headers
            return error_response("the request has more than one Host header", 400)
        allowed = app.config["ALLOWED_HOSTS"]
        if host_name(request.host or "") not in allowed:
            return error_response(f"unknown host {request.host!r}: this server answers only "
                                  "to its own names (start it with --allowed-host NAME to "
                                  "add one)", 421)
        if cross_site() and (request.method not in SAFE_METHODS
                             or request.endpoint not in CROSS_SITE_ENDPOINTS):
            return error_response("cross-site request refused: use the page served by this "
                                  "server", 403)
        return None

    @app.after_request
    def security_headers(resp):
        resp.headers.update(SECURITY_HEADERS)
        if request.is_secure:
            resp.headers["Strict-Transport-Security"] = HSTS
        return resp


def cross_site() -> bool:
    """True when the browser says the request comes from another site or origin."""
    fetch_site = request.headers.get("Sec-Fetch-Site", "").lower()
    if fetch_site in ("cross-site", "same-site"):
        return True
    if fetch_site in ("same-origin", "none"):
        return False
    origin = request.headers.get("Origin")
    if not origin:
        return False  # not a browser's cross-origin request (curl, scripts, old browsers)
    if origin == "null":
        return True  # sandboxed frames, file:// pages
    parts = urlsplit(origin)
    return (parts.netloc.lower() != (request.host or "").lower()
            or parts.scheme != request.scheme)
