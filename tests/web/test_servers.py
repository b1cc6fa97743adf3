"""ferapp.web.servers: the request-size limits answer JSON below the servers' own, the port
probe, and the server choice (the real servers run in tests/e2e/test_servers.py)."""

from __future__ import annotations

import json
import socket

from ferapp.web import servers


def call(app, path="/", query="", headers=None):
    seen = {}

    def start_response(status, hdrs):
        seen["status"], seen["headers"] = status, dict(hdrs)

    environ = {"PATH_INFO": path, "QUERY_STRING": query, **(headers or {})}
    body = b"".join(servers.LimitsMiddleware(app, max_url=100, max_headers=200)(
        environ, start_response))
    return seen, body


def ok_app(environ, start_response):
    start_response("200 OK", [("Content-Type", "text/plain")])
    return [b"ok"]


def test_limits_answer_414_and_431_as_json_and_pass_the_rest():
    seen, body = call(ok_app, "/api/status", "a" * 200)
    assert seen["status"].startswith("414")
    assert seen["headers"]["Content-Type"] == "application/json"
    assert seen["headers"]["X-Content-Type-Options"] == "nosniff"
    assert seen["headers"]["Content-Security-Policy"].startswith("default-src 'self'")
    assert "longer than 100 bytes" in json.loads(body)["error"]
    seen, body = call(ok_app, headers={"HTTP_X_PAD": "x" * 300})
    assert seen["status"].startswith("431") and json.loads(body)["error"]
    assert seen["headers"]["X-Frame-Options"] == "DENY"
    seen, body = call(ok_app, "/api/status", "after=3", {"HTTP_HOST": "localhost"})
    assert seen["status"] == "200 OK" and body == b"ok"


def test_port_in_use():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        s.listen()
        assert servers.port_in_use("127.0.0.1", s.getsockname()[1])
    free = socket.socket()
    free.bind(("127.0.0.1", 0))
    port = free.getsockname()[1]
    free.close()
    assert not servers.port_in_use("127.0.0.1", port)


def test_serve_picks_tls_with_a_certificate_else_the_named_server(monkeypatch):
    used = []

    class App:
        config = {"MAX_CONTENT_LENGTH": 10}

    monkeypatch.setattr(servers, "serve_tls", lambda *a: used.append(("tls", a[4])))
    monkeypatch.setattr(servers, "serve_waitress", lambda *a: used.append(("waitress", a[3])))
    monkeypatch.setattr(servers, "serve_flask", lambda *a: used.append(("flask",)))
    servers.serve(App(), "127.0.0.1", 1, "flask", cert="c.pem", key="k.pem")
    servers.serve(App(), "127.0.0.1", 1, "waitress")
    servers.serve(App(), "127.0.0.1", 1, "flask")
    assert used == [("tls", "k.pem"), ("waitress", 10), ("flask",)]
