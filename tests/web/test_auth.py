"""ferapp.web.auth: the token on every route but /healthz, its cookie, Bearer, 429."""

from __future__ import annotations

import pytest

from ferapp.web import auth
from tests.helpers import FakeModel, demo_app

TOKEN = "t0ken-for-the-tests-0123456789"
ROUTES = ["/", "/video_feed", "/video_feed/0", "/api/status", "/api/sources",
          "/static/js/main.js", "/no-such-page"]


@pytest.fixture()
def locked():
    with demo_app(FakeModel(), {"TOKEN": TOKEN}) as app:
        yield app


@pytest.mark.parametrize("path", ROUTES)
def test_every_route_but_healthz_needs_the_token(locked, path):
    resp = locked.test_client().get(path, environ_base={"REMOTE_ADDR": "127.0.0.1"})
    assert resp.status_code == 401  # from loopback too: a proxy makes everyone local
    assert resp.headers["WWW-Authenticate"].startswith("Bearer")
    if path == "/":
        assert resp.mimetype == "text/html" and b'name="token"' in resp.data
    else:
        assert resp.is_json and "token" in resp.get_json()["error"]
    assert TOKEN not in resp.get_data(as_text=True)


@pytest.mark.parametrize("method, path", [("POST", "/api/predict"), ("POST", "/api/frame")])
def test_posts_need_it_too(locked, method, path):
    assert locked.test_client().open(path, method=method, data=b"x").status_code == 401


def test_healthz_is_open(locked):
    assert locked.test_client().get("/healthz").status_code == 200


def test_the_token_url_sets_a_signed_cookie_and_redirects_without_the_token(locked):
    client = locked.test_client()
    resp = client.get(f"/?token={TOKEN}&source=1")
    assert resp.status_code == 303 and resp.headers["Location"] == "/?source=1"
    cookie = resp.headers["Set-Cookie"]
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Expires=" in cookie
    assert "Secure" not in cookie  # plain HTTP here; HTTPS: tests/e2e/test_security.py
    assert TOKEN not in cookie
    for path in ("/", "/api/status", "/video_feed"):
        resp = client.get(path)
        assert resp.status_code == 200
        assert "Set-Cookie" not in resp.headers  # not renewed by the page's own requests


def test_bearer_works_and_sets_no_cookie(locked):
    client = locked.test_client()
    resp = client.get("/api/sources", headers={"Authorization": f"Bearer {TOKEN}"})
    assert resp.status_code == 200 and "Set-Cookie" not in resp.headers
    assert client.get("/api/sources").status_code == 401


@pytest.mark.parametrize("header", ["Basic dXNlcjpwYXNz", "Bearer", "Bearer ", TOKEN,
                                    "Bearer " + "x" * 5000, "Bearer wrong-token"])
def test_bad_authorization_headers_are_401_json(locked, header):
    resp = locked.test_client().get("/api/status", headers={"Authorization": header})
    assert resp.status_code == 401 and resp.is_json


@pytest.mark.parametrize("query", ["token=", "token=wrong", "token=" + "y" * 3000,
                                   "token=%00%ff", f"token={TOKEN[:-1]}"])
def test_wrong_tokens_in_the_url_are_401(locked, query):
    resp = locked.test_client().get(f"/?{query}")
    assert resp.status_code == 401 and "wrong token" in resp.get_data(as_text=True)
    assert "Set-Cookie" not in resp.headers


def test_forged_and_foreign_cookies_are_refused(locked):
    client = locked.test_client()
    client.set_cookie("fer_session", "eyJmZXJfYXV0aCI6dHJ1ZX0.forged.signature")
    assert client.get("/api/status").status_code == 401
    with demo_app(FakeModel(), {"TOKEN": "another-token-0123456789"}) as other:
        issuer = other.test_client()
        issuer.get("/?token=another-token-0123456789")
        stolen = issuer.get_cookie("fer_session").value
    client.set_cookie("fer_session", stolen)  # signed with another server's token
    assert client.get("/api/status").status_code == 401


def test_an_expired_cookie_is_refused():
    with demo_app(FakeModel(), {"TOKEN": TOKEN, "AUTH_DAYS": -1}) as app:
        client = app.test_client()
        client.get(f"/?token={TOKEN}")
        assert client.get("/api/status").status_code == 401


def test_repeated_wrong_tokens_get_429_while_the_right_token_is_served(locked):
    attacker = locked.test_client()
    codes = [attacker.get("/api/status", headers={"Authorization": f"Bearer guess-{k}"})
             for k in range(12)]
    # AUTH_MAX_FAILURES (5, as docs/api.md says) wrong ones are 401, the next ones 429
    assert [r.status_code for r in codes] == [401] * 5 + [429] * 7
    assert int(codes[-1].headers["Retry-After"]) >= 1 and codes[-1].is_json
    # the same address with the right token, a Bearer or a cookie: served at once
    friend = locked.test_client()
    assert friend.get("/api/status", headers={"Authorization": f"Bearer {TOKEN}"})\
        .status_code == 200
    assert friend.get(f"/?token={TOKEN}").status_code == 303
    assert friend.get("/api/status").status_code == 200
    other_client = locked.test_client()  # another address is not blocked
    resp = other_client.get("/api/status", headers={"Authorization": "Bearer guess"},
                            environ_base={"REMOTE_ADDR": "10.1.1.1"})
    assert resp.status_code == 401


def test_failures_window_and_bound():
    now = [0.0]
    failures = auth.Failures(limit=2, window_s=60, max_clients=3, clock=lambda: now[0])
    failures.add("a")
    assert failures.retry_after("a") == 0
    failures.add("a")  # the limit reached: the next wrong one is refused
    assert failures.retry_after("a") == 61
    failures.add("a")
    assert failures.retry_after("a") == 61
    now[0] += 30
    assert 30 <= failures.retry_after("a") <= 31
    now[0] += 31
    assert failures.retry_after("a") == 0
    for name in "bcdef":
        failures.add(name)
    assert len(failures._seen) == 3  # bounded memory under many addresses


def test_the_redirect_never_leaves_this_site(locked):
    for path in ("//evil.example/x", "/\\evil.example/x"):
        resp = locked.test_client().get(f"/?token={TOKEN}",
                                        headers={"Sec-Fetch-Mode": "navigate"},
                                        environ_overrides={"PATH_INFO": path})
        assert resp.status_code == 303 and resp.headers["Location"] == "/evil.example/x"


def test_a_link_from_another_site_reloads_once_to_send_the_strict_cookie(locked):
    client = locked.test_client()
    client.get(f"/?token={TOKEN}")
    # a SameSite=Strict cookie is not sent on a cross-site navigation: the 401 page
    # reloads itself, as a same-origin navigation that carries it
    cross = locked.test_client().get("/", headers={"Sec-Fetch-Site": "cross-site",
                                                   "Sec-Fetch-Mode": "navigate"})
    assert cross.status_code == 401 and b'http-equiv="refresh"' in cross.data
    same = locked.test_client().get("/", headers={"Sec-Fetch-Site": "same-origin",
                                                  "Sec-Fetch-Mode": "navigate"})
    assert same.status_code == 401 and b"refresh" not in same.data  # no loop


@pytest.mark.parametrize("token, problem", [
    ("", "empty"), ("   ", "empty"), ("short", "at least"), ("x" * 300, "at most"),
    ("tab\tinside-the-token-value", "printable"), ("é" * 20, "ASCII"),
])
def test_token_problems(token, problem):
    assert problem in auth.token_problem(token)


def test_new_tokens_are_long_and_random():
    tokens = {auth.new_token() for _ in range(20)}
    assert len(tokens) == 20 and all(len(t) >= 32 and auth.token_problem(t) is None
                                     for t in tokens)


def test_loopback_without_a_token_is_unchanged():
    with demo_app(FakeModel()) as app:
        assert app.test_client().get("/api/status").status_code == 200
