"""Probes and the HTTP layer: routing, limits, CORS, request ids, headers, logs."""

import re

import pytest
import requests

from conftest import expected_redis_check, raw_request, wait_until

HEX32 = re.compile(r"^[0-9a-f]{32}$")


@pytest.fixture
def srv(server_factory):
    return server_factory(env={"APP_VERSION": "9.9.9", "CORS_ORIGINS": "http://allowed.example"})


# ---- probes ----

def test_health_answers_ok_with_app_version(srv):
    r = requests.get(srv.url("/api/v1/health"))
    assert r.status_code == 200
    assert r.headers["Content-Type"].split(";")[0].strip() == "application/json"
    assert r.json() == {"status": "ok", "version": "9.9.9"}
    assert r.headers.get("X-Request-ID")


def test_ready_reports_database_and_cache(srv):
    r = requests.get(srv.url("/api/v1/ready"))
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].split(";")[0].strip() == "application/json"
    assert r.json() == {"status": "ready",
                        "checks": {"database": "ok", "redis": expected_redis_check()}}


def test_common_security_headers(srv):
    for path in ("/api/v1/health", "/api/v1/ready", "/nope"):
        r = requests.get(srv.url(path))
        assert r.headers.get("X-Content-Type-Options") == "nosniff", path
        server_hdr = r.headers.get("Server")
        assert server_hdr is None or not re.search(r"\d", server_hdr), \
            f"Server header reveals a version: {server_hdr!r}"


# ---- routing ----

@pytest.mark.parametrize("path", [
    "/api/v1/nope",
    "/",
    "/api/v1/health/",      # trailing slash is another resource
    "//api/v1/health",      # double slashes are not collapsed
    "/api/v1//health",
    "/API/V1/HEALTH",       # paths are case-sensitive
])
def test_unknown_route_is_404_with_detail(srv, path):
    r = raw_request(srv.port, "GET", path)
    assert r.status == 404, r
    assert r.header("Content-Type", "").startswith("application/json")
    assert r.json() == {"detail": "Not Found"}
    assert r.header("X-Request-ID")


@pytest.mark.parametrize("method,path", [
    ("POST", "/api/v1/health"),
    ("DELETE", "/api/v1/health"),
    ("PUT", "/api/v1/ready"),
])
def test_wrong_method_is_405_with_allow(srv, method, path):
    r = raw_request(srv.port, method, path, body=b"")
    assert r.status == 405, r
    allow = [m.strip() for m in (r.header("Allow") or "").split(",")]
    assert "GET" in allow, r.header("Allow")
    assert method not in allow
    body = r.json()
    assert isinstance(body.get("detail"), str) and body["detail"]


def test_query_string_does_not_change_the_route(srv):
    r = requests.get(srv.url("/api/v1/health?x=1&y=%20"))
    assert r.status_code == 200
    assert r.json()["status"] == "ok"


# ---- body limits ----

def test_body_over_64k_with_content_length_is_413(srv):
    r = requests.post(srv.url("/api/v1/health"), data=b"x" * 70000,
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert isinstance(r.json().get("detail"), str)
    assert r.headers.get("X-Request-ID")


def test_body_exactly_64k_is_accepted_and_one_more_byte_is_not(srv):
    # At the limit the body is read and routing decides (405: health is GET only).
    r = requests.post(srv.url("/api/v1/health"), data=b"x" * 65536)
    assert r.status_code == 405, r.text
    r = requests.post(srv.url("/api/v1/health"), data=b"x" * 65537)
    assert r.status_code == 413, r.text


def test_chunked_body_over_64k_is_413(srv):
    def gen():
        for _ in range(20):
            yield b"y" * 4096          # 80 KiB in total, no Content-Length
    r = requests.post(srv.url("/api/v1/health"), data=gen(),
                      headers={"Content-Type": "application/json"})
    assert r.status_code == 413, r.text
    assert isinstance(r.json().get("detail"), str)


def test_small_chunked_body_is_read_and_routed(srv):
    def gen():
        yield b"{}"
    r = requests.post(srv.url("/api/v1/health"), data=gen())
    assert r.status_code == 405, r.text


def test_oversized_headers_are_refused_and_server_survives(srv):
    r = raw_request(srv.port, "GET", "/api/v1/health", headers={"X-Big": "a" * 40000})
    assert r.status == 431, r
    r = raw_request(srv.port, "GET", "/api/v1/health?q=" + "a" * 40000)
    assert r.status in (414, 431), r
    assert requests.get(srv.url("/api/v1/health")).status_code == 200


# ---- CORS ----

def _vary(r):
    return [v.strip().lower() for v in r.headers.get("Vary", "").split(",")]


def test_cors_allowed_origin_is_echoed_with_credentials(srv):
    r = requests.get(srv.url("/api/v1/health"), headers={"Origin": "http://allowed.example"})
    assert r.status_code == 200
    assert r.headers.get("Access-Control-Allow-Origin") == "http://allowed.example"
    assert r.headers.get("Access-Control-Allow-Credentials") == "true"
    assert "origin" in _vary(r)


def test_cors_disallowed_origin_gets_no_allow_origin(srv):
    r = requests.get(srv.url("/api/v1/health"), headers={"Origin": "http://evil.example"})
    assert r.status_code == 200
    assert "Access-Control-Allow-Origin" not in r.headers
    assert "Access-Control-Allow-Credentials" not in r.headers
    assert "origin" in _vary(r)


@pytest.mark.parametrize("origin", [
    "http://allowed.example.evil",     # exact match only, no prefix
    "http://ALLOWED.example",
    "https://allowed.example",
    "null",
])
def test_cors_origin_must_match_exactly(srv, origin):
    r = requests.get(srv.url("/api/v1/health"), headers={"Origin": origin})
    assert "Access-Control-Allow-Origin" not in r.headers, origin


def _all(raw, name):
    return [v for k, v in raw.headers if k.lower() == name.lower()]


def test_cors_preflight_from_allowed_origin(srv):
    r = raw_request(srv.port, "OPTIONS", "/api/v1/health", headers={
        "Origin": "http://allowed.example",
        "Access-Control-Request-Method": "GET",
    })
    assert r.status == 200, r
    # Exactly one value: browsers reject a preflight whose
    # Access-Control-Allow-Origin appears twice ("multiple values").
    assert _all(r, "Access-Control-Allow-Origin") == ["http://allowed.example"], r.headers
    assert _all(r, "Access-Control-Allow-Credentials") == ["true"], r.headers
    methods = [m.strip() for m in (r.header("Access-Control-Allow-Methods") or "").split(",")]
    assert "GET" in methods
    assert "origin" in [v.strip().lower() for v in (r.header("Vary") or "").split(",")]


def test_cors_simple_request_has_single_allow_origin(srv):
    r = raw_request(srv.port, "GET", "/api/v1/health", headers={"Origin": "http://allowed.example"})
    assert r.status == 200
    assert _all(r, "Access-Control-Allow-Origin") == ["http://allowed.example"], r.headers
    assert _all(r, "Access-Control-Allow-Credentials") == ["true"], r.headers


def test_cors_preflight_from_disallowed_origin_is_400(srv):
    r = requests.options(srv.url("/api/v1/health"), headers={
        "Origin": "http://evil.example",
        "Access-Control-Request-Method": "GET",
    })
    assert r.status_code == 400
    assert "Access-Control-Allow-Origin" not in r.headers
    assert "Access-Control-Allow-Methods" not in r.headers


def test_cors_wildcard_is_never_paired_with_credentials(server_factory):
    srv = server_factory(env={"CORS_ORIGINS": "*"})  # refused in production, allowed here
    r = raw_request(srv.port, "GET", "/api/v1/health", headers={"Origin": "http://any.example"})
    assert _all(r, "Access-Control-Allow-Origin") == ["*"], r.headers
    assert _all(r, "Access-Control-Allow-Credentials") == [], r.headers
    r = raw_request(srv.port, "OPTIONS", "/api/v1/auth/login", headers={
        "Origin": "http://any.example",
        "Access-Control-Request-Method": "POST",
    })
    assert r.status in (200, 204), r
    assert _all(r, "Access-Control-Allow-Origin") == ["*"], r.headers
    assert _all(r, "Access-Control-Allow-Credentials") == [], r.headers


def test_no_cors_headers_without_configured_origins(server_factory):
    srv = server_factory()  # CORS_ORIGINS unset: nothing is allowed
    r = requests.get(srv.url("/api/v1/health"), headers={"Origin": "http://localhost:3000"})
    assert "Access-Control-Allow-Origin" not in r.headers


# ---- request ids ----

@pytest.mark.parametrize("rid", ["abc-123", "0f8fad5b-d9cb-469f-a165-70867728950e", "a.b_c:d"])
def test_sane_request_id_is_echoed(srv, rid):
    r = requests.get(srv.url("/api/v1/health"), headers={"X-Request-ID": rid})
    assert r.headers.get("X-Request-ID") == rid


@pytest.mark.parametrize("rid", [
    "a" * 300,
    "has space",
    'quote"d',
    "semi;colon",
    "<script>",
])
def test_insane_request_id_is_replaced(srv, rid):
    r = requests.get(srv.url("/api/v1/health"), headers={"X-Request-ID": rid})
    got = r.headers.get("X-Request-ID")
    assert got != rid
    assert HEX32.match(got or ""), got


def test_generated_request_ids_are_unique(srv):
    ids = {requests.get(srv.url("/api/v1/health")).headers["X-Request-ID"] for _ in range(5)}
    assert len(ids) == 5
    assert all(HEX32.match(i) for i in ids), ids


def test_request_id_on_error_responses(srv):
    r = requests.get(srv.url("/nope"), headers={"X-Request-ID": "err-404"})
    assert r.status_code == 404
    assert r.headers.get("X-Request-ID") == "err-404"


def test_access_log_line_carries_request_id(srv):
    r = requests.get(srv.url("/api/v1/health"), headers={"X-Request-ID": "log-me-123"})
    assert r.status_code == 200
    line = srv.access_log("log-me-123")
    assert line["method"] == "GET"
    assert line["path"] == "/api/v1/health"
    assert line["status"] == 200
    assert any(k.startswith("duration") for k in line), line
    assert "127.0.0.1" in line.values(), line


def test_generated_request_id_is_logged_too(srv):
    r = requests.get(srv.url("/nope"))
    rid = r.headers["X-Request-ID"]
    line = srv.access_log(rid)
    assert line["status"] == 404
    assert line["path"] == "/nope"


# ---- logging ----

def test_startup_line_names_version_environment_backends_and_address(srv):
    def startup(o):
        msg = o.get("msg", "")
        return "9.9.9" in msg and f"127.0.0.1:{srv.port}" in msg
    line = srv.wait_for_log(startup, message="start-up line")
    assert "test" in line["msg"]
    assert "sqlite" in line["msg"] or "postgres" in line["msg"]
    assert line.get("level") == "INFO"
    assert line.get("ts")


def test_every_log_line_is_a_json_object(srv):
    requests.get(srv.url("/api/v1/health"))
    requests.get(srv.url("/nope"))
    srv.stop()
    lines = srv.log_lines()   # fails on any non-JSON line
    assert len(lines) >= 3
    for o in lines:
        assert "level" in o and "ts" in o, o


def test_no_secret_in_logs(server_factory):
    secret_key = "sk-" + "Q7" * 20
    smtp_password = "hunter2-smtp-secret"
    srv = server_factory(env={"SECRET_KEY": secret_key, "SMTP_PASSWORD": smtp_password,
                              "SMTP_USER": "mailer", "LOG_LEVEL": "DEBUG"})
    requests.get(srv.url("/api/v1/health"))
    requests.get(srv.url("/api/v1/ready"))
    assert srv.stop() == 0
    out = srv.output()
    assert secret_key not in out
    assert smtp_password not in out


def test_text_log_format(server_factory):
    srv = server_factory(env={"LOG_FORMAT": "text"})
    r = requests.get(srv.url("/api/v1/health"), headers={"X-Request-ID": "text-fmt-1"})
    assert r.status_code == 200
    wait_until(lambda: "text-fmt-1" in srv.stdout_text(), message="text access line")
    line = next(l for l in srv.stdout_text().splitlines() if "text-fmt-1" in l)
    assert "/api/v1/health" in line and "200" in line
    assert not line.lstrip().startswith("{")
