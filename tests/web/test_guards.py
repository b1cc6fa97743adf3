"""ferapp.web.guards: the Host allow-list, cross-site refusal, security headers, no client paths."""

import socket

import pytest

from ferapp.web import guards as security
from tests.helpers import FakeModel, demo_app, post


def test_no_route_takes_a_path_or_source_from_the_client(app):
    rules = sorted(str(r) for r in app.url_map.iter_rules())
    assert rules == ["/", "/api/frame", "/api/inpage", "/api/predict", "/api/sources",
                     "/api/status", "/healthz", "/inpage/model/<digest>/<name>",
                     "/inpage/ort/<version>/<name>", "/static/<path:filename>", "/video_feed",
                     "/video_feed/<int:index>"]  # sources are picked by index only; the
    # in-page files by digest and name from fixed sets (tests/web/test_inpage.py)
    client = app.test_client()
    before = client.get("/api/status").get_json()["source"]
    client.get("/video_feed?source=/etc/passwd").close()
    assert client.get("/api/status").get_json()["source"] == before
    assert client.get("/static/../main.py").status_code == 404


def test_debug_off_and_headers(app):
    assert not app.debug
    resp = app.test_client().get("/api/status")
    assert resp.headers["X-Content-Type-Options"] == "nosniff"
    assert "frame-ancestors 'none'" in resp.headers["Content-Security-Policy"]
    # cross-origin isolated (the in-page runtime's threads), the stream and uploads intact
    assert resp.headers["Cross-Origin-Embedder-Policy"] == "require-corp"
    assert resp.headers["Cross-Origin-Opener-Policy"] == "same-origin"


@pytest.fixture()
def idle_app():
    with demo_app(FakeModel()) as app:
        yield app


ROUTES = [("GET", "/"), ("GET", "/video_feed"), ("GET", "/api/status"), ("GET", "/healthz"),
          ("POST", "/api/predict"), ("GET", "/static/js/main.js"), ("GET", "/no-such-page")]


@pytest.mark.parametrize("method, path", ROUTES)
def test_foreign_host_is_refused_on_every_route(idle_app, method, path):
    client = idle_app.test_client()
    resp = client.open(path, method=method, headers={"Host": "attacker.example:5000"})
    assert resp.status_code == 421
    assert "unknown host" in resp.get_json()["error"]


@pytest.mark.parametrize("host", ["localhost", "localhost:5000", "127.0.0.1:5000", "[::1]:5000",
                                  "LOCALHOST:5000"])
def test_own_names_are_served(idle_app, host):
    assert idle_app.test_client().get("/healthz", headers={"Host": host}).status_code == 200


def test_allowed_hosts_rules():
    assert security.allowed_hosts("127.0.0.1") == {"localhost", "127.0.0.1", "::1"}
    assert "camera.lan" in security.allowed_hosts("127.0.0.1", ["Camera.LAN"])
    everywhere = security.allowed_hosts("0.0.0.0")

    assert security.host_name(socket.gethostname()) in everywhere
    assert "attacker.example" not in everywhere
    assert security.host_name("[::1]:80") == "::1" and security.host_name("a.b.:5") == "a.b"


@pytest.mark.parametrize("headers, status", [
    ({"Origin": "http://attacker.example"}, 403),
    ({"Origin": "null"}, 403),
    ({"Sec-Fetch-Site": "cross-site"}, 403),
    ({"Sec-Fetch-Site": "same-site", "Origin": "http://localhost:5001"}, 403),
    ({"Origin": "http://localhost"}, 200),  # same origin (the test client's host)
    ({"Sec-Fetch-Site": "same-origin", "Origin": "http://localhost"}, 200),
    ({}, 200),  # curl and scripts send neither header
])
def test_cross_site_posts_are_refused(idle_app, grace_hopper_path, headers, status):
    resp = post(idle_app.test_client(), grace_hopper_path.read_bytes(), headers=headers)
    assert resp.status_code == status, resp.get_json()
    if status == 403:
        assert "cross-site" in resp.get_json()["error"]


def test_cross_site_get_of_the_page_still_works(idle_app):
    """Following a link from another site to the page is fine; only state changes are not."""
    resp = idle_app.test_client().get("/", headers={"Sec-Fetch-Site": "cross-site"})
    assert resp.status_code == 200


@pytest.mark.parametrize("path", ["/video_feed", "/api/status", "/api/sources",
                                  "/static/js/main.js"])
@pytest.mark.parametrize("headers", [{"Sec-Fetch-Site": "cross-site"},
                                     {"Sec-Fetch-Site": "same-site"},
                                     {"Origin": "http://attacker.example"}])
def test_another_site_cannot_embed_the_stream_or_read_the_api(idle_app, path, headers):
    """<img src="http://127.0.0.1:5000/video_feed"> on any page would turn the camera on."""
    resp = idle_app.test_client().get(path, headers=headers)
    assert resp.status_code == 403 and "cross-site" in resp.get_json()["error"]


def test_same_origin_gets_are_served(idle_app):
    client = idle_app.test_client()
    for path in ("/api/status", "/static/js/main.js"):
        assert client.get(path, headers={"Sec-Fetch-Site": "same-origin"}).status_code == 200
    assert client.get("/healthz", headers={"Sec-Fetch-Site": "cross-site"}).status_code == 200


def test_isolation_headers(idle_app):
    client = idle_app.test_client()
    for resp in (client.get("/"), client.get("/api/status"), client.get("/nope")):
        assert resp.headers["Cross-Origin-Resource-Policy"] == "same-origin"
        assert resp.headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert resp.headers["Referrer-Policy"] == "no-referrer"
        assert "camera=(self)" in resp.headers["Permissions-Policy"]
        assert "Strict-Transport-Security" not in resp.headers  # plain HTTP
    secure = client.get("/api/status", base_url="https://localhost")
    assert secure.headers["Strict-Transport-Security"].startswith("max-age=")
