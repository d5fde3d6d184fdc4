"""HTTP limits against slow and greedy clients (docs/security.md, C10).

- request line + headers must be complete within HTTP_HEADER_TIMEOUT_SECONDS
  (slowloris: a client trickling header bytes never trips the inactivity
  timeout, so only a total deadline stops it);
- a body must be complete within HTTP_BODY_TIMEOUT_SECONDS (else the
  connection is closed, logged as 408);
- header fields over 100 / 8 KiB answer 431, a target over 8 KiB 414, both
  in JSON with an X-Request-ID;
- HTTP_MAX_CONNECTIONS in total (more wait in the listen backlog),
  HTTP_MAX_CONNECTIONS_PER_IP per address (more are closed at once);
- JSON nesting deeper than 16 is a 422; tokens and user data are no-store.

Time is only ever a bound here: each test waits for an event (the server
closing the socket, an answer) and fails if it does not come in time.
"""
import json
import select
import socket
import time

import requests

from conftest import read_http_response, raw_request, wait_until
from helpers import Api, new_user, unique_email

HEAD = "GET /api/v1/health HTTP/1.1\r\nHost: 127.0.0.1\r\n"


def closed_by_peer(sock, within):
    """True when the server closes sock within `within` seconds (EOF or reset)."""
    ready, _, _ = select.select([sock], [], [], within)
    if not ready:
        return False
    try:
        return sock.recv(65536) == b""
    except (ConnectionResetError, BrokenPipeError):
        return True


def trickle_until_closed(sock, piece, every, limit):
    """Send `piece` every `every` seconds until the server closes the
    connection; the seconds that took, or None if it was still open at `limit`."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < limit:
        try:
            sock.sendall(piece)
        except (ConnectionResetError, BrokenPipeError):
            return time.monotonic() - t0
        if closed_by_peer(sock, every):
            return time.monotonic() - t0
    return None


def slow_clients_closed(srv):
    text = requests.get(srv.url("/metrics"), timeout=10).text
    line = next(l for l in text.splitlines() if l.startswith("auth_http_slow_clients_closed_total "))
    return int(line.split()[1])


def test_trickled_headers_are_cut_at_the_header_deadline(server_factory):
    srv = server_factory(env={"HTTP_HEADER_TIMEOUT_SECONDS": "2"})
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall(HEAD.encode())
        # One header line every 0.4 s: never 15 s idle, so only the
        # header deadline can end this.
        took = trickle_until_closed(s, b"X-Slow: a\r\n", 0.4, limit=12)
    assert took is not None, "a slowloris connection was still open after 12 s"
    assert 1.5 <= took <= 8, took
    srv.wait_for_log(lambda rec: "request headers not complete in 2 s" in rec.get("msg", ""),
                     message="the reaper's log line")
    assert requests.get(srv.url("/api/v1/health"), timeout=10).status_code == 200
    assert slow_clients_closed(srv) == 1


def test_header_deadline_is_per_request_not_per_connection(server_factory):
    """A busy kept-alive connection outlives the deadline: each request's
    headers arrive at once, so none of them is late."""
    srv = server_factory(env={"HTTP_HEADER_TIMEOUT_SECONDS": "1"})
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        t0, n = time.monotonic(), 0
        while time.monotonic() - t0 < 2.5:
            s.sendall((HEAD + "\r\n").encode())
            r = read_http_response(s, timeout=10)
            assert r.status == 200, r
            n += 1
    assert n >= 2
    assert slow_clients_closed(srv) == 0


def test_trickled_body_is_cut_at_the_body_deadline(server_factory):
    """libmicrohttpd cannot answer in the middle of a body, so the deadline
    closes the connection; the access log records the request as 408."""
    srv = server_factory(env={"HTTP_BODY_TIMEOUT_SECONDS": "2"})
    body = b'{"email": "slow@example.com", "password": "x"}' + b" " * 200
    with socket.create_connection(("127.0.0.1", srv.port), timeout=10) as s:
        s.sendall((f"POST /api/v1/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n"
                   f"X-Request-ID: slow-body-1\r\n"
                   f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n\r\n")
                  .encode())
        took = trickle_until_closed(s, b" ", 0.4, limit=12)
    assert took is not None, "a slow-body connection was still open after 12 s"
    assert 1.5 <= took <= 8, took
    assert srv.access_log("slow-body-1")["status"] == 408
    assert requests.get(srv.url("/api/v1/health"), timeout=10).status_code == 200
    assert slow_clients_closed(srv) == 1


def assert_json_error(r, status):
    assert r.status == status, r
    assert r.header("Content-Type", "").startswith("application/json"), r.headers
    assert isinstance(json.loads(r.body)["detail"], str)
    assert r.header("X-Request-ID"), r.headers


def test_header_fields_over_8k_get_a_json_431(server_factory):
    srv = server_factory()
    assert_json_error(raw_request(srv.port, "GET", "/api/v1/health",
                                  headers={"X-Big": "a" * 9000}), 431)
    # Just under the limit is fine.
    r = raw_request(srv.port, "GET", "/api/v1/health", headers={"X-Big": "a" * 7000})
    assert r.status == 200, r


def test_more_than_100_header_fields_get_a_json_431(server_factory):
    srv = server_factory()
    many = {f"X-F{i}": "v" for i in range(101)}
    assert_json_error(raw_request(srv.port, "GET", "/api/v1/health", headers=many), 431)
    some = {f"X-F{i}": "v" for i in range(60)}
    assert raw_request(srv.port, "GET", "/api/v1/health", headers=some).status == 200


def test_target_over_8k_gets_a_json_414(server_factory):
    srv = server_factory()
    assert_json_error(raw_request(srv.port, "GET", "/api/v1/health?q=" + "a" * 9000), 414)
    assert_json_error(raw_request(srv.port, "GET", "/api/v1/" + "a" * 9000), 414)
    assert raw_request(srv.port, "GET", "/api/v1/health?q=" + "a" * 7000).status == 200


def open_connection(port, source="127.0.0.1"):
    """A kept-alive connection the server has accepted (one request answered)."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    s.bind((source, 0))
    s.connect(("127.0.0.1", port))
    s.sendall((HEAD + "\r\n").encode())
    assert read_http_response(s, timeout=10).status == 200
    return s


def refused(port, source="127.0.0.1"):
    """True when a new connection from `source` is closed without an answer."""
    s = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.bind((source, 0))
        s.connect(("127.0.0.1", port))
        s.sendall((HEAD + "\r\n").encode())
        return closed_by_peer(s, 10)
    except (ConnectionResetError, BrokenPipeError):
        return True
    finally:
        s.close()


def test_connections_per_address_are_capped(server_factory):
    srv = server_factory(env={"HTTP_MAX_CONNECTIONS_PER_IP": "4", "WORKERS": "1"})
    held = [open_connection(srv.port) for _ in range(4)]
    try:
        assert refused(srv.port)
        # Another address (all of 127/8 is loopback) still gets in.
        other = open_connection(srv.port, source="127.0.0.2")
        other.close()
        # A slot freed is a slot reusable.
        held.pop().close()
        wait_until(lambda: not refused(srv.port), message="a freed per-address slot")
    finally:
        for s in held:
            s.close()


def test_connections_in_total_are_capped(server_factory):
    """Over HTTP_MAX_CONNECTIONS libmicrohttpd stops accepting: a new
    connection waits in the listen backlog (the kernel drops SYNs once that
    is full) and is served when a slot frees."""
    srv = server_factory(env={"HTTP_MAX_CONNECTIONS": "4", "WORKERS": "1"})
    held = [open_connection(srv.port, source=f"127.0.0.{i + 1}") for i in range(4)]
    waiting = socket.create_connection(("127.0.0.1", srv.port), timeout=10)
    try:
        waiting.sendall((HEAD + "\r\n").encode())
        ready, _, _ = select.select([waiting], [], [], 1.0)
        assert not ready, "a fifth connection was served while four were open"
        held.pop().close()
        assert read_http_response(waiting, timeout=10).status == 200
    finally:
        waiting.close()
        for s in held:
            s.close()


def nested(levels):
    """A register body whose extra field nests `levels` deep (the object itself is level 1)."""
    inner = "[" * (levels - 1) + "]" * (levels - 1)
    return ('{"email": "%s", "password": "correct horse battery", "x": %s}'
            % (unique_email("deep"), inner)).encode()


def test_json_nesting_is_limited_to_16(server_factory):
    srv = server_factory()
    url = srv.url("/api/v1/auth/register")
    ctype = {"Content-Type": "application/json"}
    assert requests.post(url, data=nested(16), headers=ctype, timeout=10).status_code == 201
    r = requests.post(url, data=nested(17), headers=ctype, timeout=10)
    assert r.status_code == 422, r.text
    assert "nested too deeply" in r.text
    # 60,000 unbalanced brackets: refused by the linear pre-scan, no deep recursion.
    r = requests.post(url, data=b'{"x": ' + b"[" * 60000, headers=ctype, timeout=10)
    assert r.status_code == 422, r.text
    assert requests.get(srv.url("/api/v1/health"), timeout=10).status_code == 200


def test_tokens_and_user_data_are_never_cached(server_factory):
    srv = server_factory()
    api = Api(srv)
    acct = new_user(api)
    login = api.login(acct.email)
    assert login.headers.get("Cache-Control") == "no-store"
    for path in ("/api/v1/users/me", "/api/v1/auth/sessions"):
        r = api.get(path, headers=acct.headers)
        assert r.status_code == 200, (path, r.text)
        assert r.headers.get("Cache-Control") == "no-store", path
        assert r.headers.get("X-Content-Type-Options") == "nosniff", path
    # The public key set is the one thing meant to be cached.
    jwks = requests.get(srv.url("/.well-known/jwks.json"), timeout=10)
    assert "public" in jwks.headers.get("Cache-Control", "")
