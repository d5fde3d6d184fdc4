"""HTTP limits against slow and greedy clients (docs/security.md, C10).

- request line + headers must be complete within HTTP_HEADER_TIMEOUT_SECONDS
  (slowloris: a client trickling header bytes never trips the inactivity
  timeout, so only a total deadline stops it);
- a body must be complete within HTTP_BODY_TIMEOUT_SECONDS (else the
  connection is closed, logged as 408);
- header fields over 100 / 8 KiB answer 431, a target over 8 KiB 414, both
  in JSON with an X-Request-ID;
- HTTP_MAX_CONNECTIONS in total (more wait in the listen backlog),
  HTTP_MAX_CONNECTIONS_PER_IP per peer bucket (an IPv4 address, an IPv6
  network of RATE_LIMIT_IPV6_PREFIX bits; more are closed at once, without
  an answer), off behind TRUSTED_PROXIES and at 0;
- JSON nesting deeper than 16 is a 422; tokens and user data are no-store.

Time is only ever a bound here: each test waits for an event (the server
closing the socket, an answer) and fails if it does not come in time.
"""
import json
import select
import signal
import socket
import subprocess
import sys
import time

import pytest
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


def open_connection(port, source="127.0.0.1", dest="127.0.0.1"):
    """A kept-alive connection the server has accepted (one request answered)."""
    s = socket.socket(socket.AF_INET6 if ":" in dest else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    s.bind((source, 0))
    s.connect((dest, port))
    s.sendall((HEAD + "\r\n").encode())
    assert read_http_response(s, timeout=10).status == 200
    return s


def refused(port, source="127.0.0.1", dest="127.0.0.1"):
    """True when a new connection from `source` is closed without an answer."""
    s = socket.socket(socket.AF_INET6 if ":" in dest else socket.AF_INET, socket.SOCK_STREAM)
    s.settimeout(10)
    try:
        s.bind((source, 0))
        s.connect((dest, port))
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


def still_answers(sock):
    sock.sendall((HEAD + "\r\n").encode())
    return read_http_response(sock, timeout=10).status == 200


def test_refusals_free_no_slot_and_each_address_counts_alone(server_factory):
    """The cap is one count per peer address over all event-loop threads
    (WORKERS=2): a refused connection is never counted, so refusing it
    frees nothing; connections already in keep working; closing one of
    127.0.0.2's frees a slot for 127.0.0.2 only.  Refusals are not slow
    clients."""
    srv = server_factory(env={"HTTP_MAX_CONNECTIONS_PER_IP": "2", "WORKERS": "2"})
    one = [open_connection(srv.port) for _ in range(2)]
    two = [open_connection(srv.port, source="127.0.0.2") for _ in range(2)]
    try:
        for _ in range(3):
            assert refused(srv.port)
            assert refused(srv.port, source="127.0.0.2")
        assert all(still_answers(s) for s in one + two)
        two.pop().close()
        wait_until(lambda: not refused(srv.port, source="127.0.0.2"),
                   message="127.0.0.2's freed slot")
        assert refused(srv.port)
        with open_connection(srv.port, source="127.0.0.3") as m:
            m.sendall(b"GET /metrics HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n")
            metrics = read_http_response(m, timeout=10).body.decode()
        assert "\nauth_http_slow_clients_closed_total 0\n" in metrics
    finally:
        for s in one + two:
            s.close()


@pytest.mark.parametrize("env", [
    {"HTTP_MAX_CONNECTIONS_PER_IP": "2", "TRUSTED_PROXIES": "127.0.0.1/32"},
    {"HTTP_MAX_CONNECTIONS_PER_IP": "0"},
], ids=["behind-trusted-proxies", "zero"])
def test_no_per_address_cap_behind_proxies_or_at_zero(server_factory, env):
    """Behind a trusted proxy every connection comes from the proxy; 0 turns
    the cap off."""
    srv = server_factory(env=dict(env, WORKERS="1"))
    held = [open_connection(srv.port) for _ in range(5)]
    try:
        assert all(still_answers(s) for s in held)
    finally:
        for s in held:
            s.close()


def ipv6_loopback():
    try:
        with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
            s.bind(("::1", 0))
        return True
    except OSError:
        return False


@pytest.mark.skipif(not ipv6_loopback(), reason="no IPv6 loopback")
def test_ipv6_peers_are_capped(server_factory):
    """An IPv6 peer is counted in its RATE_LIMIT_IPV6_PREFIX network (::1
    in ::/64).  (Other addresses of one /64 cannot be reached on a host
    without them; tests/unit/test_forwarded.c test_bucket covers the
    grouping the cap shares with the rate limits.)"""
    srv = server_factory(env={"HOST": "::1", "HTTP_MAX_CONNECTIONS_PER_IP": "2",
                              "WORKERS": "1"}, start=False)
    srv.start(wait=False)

    def healthy():
        try:
            s = open_connection(srv.port, source="::1", dest="::1")
        except OSError:
            return False
        s.close()
        return True

    wait_until(healthy, timeout=20, message="the server on ::1")
    wait_until(lambda: not refused(srv.port, source="::1", dest="::1"),
               message="the probe's slot back")
    held = [open_connection(srv.port, source="::1", dest="::1") for _ in range(2)]
    try:
        assert refused(srv.port, source="::1", dest="::1")
        held.pop().close()
        wait_until(lambda: not refused(srv.port, source="::1", dest="::1"),
                   message="a freed slot of ::/64")
    finally:
        for s in held:
            s.close()


# Three addresses, two in one /64, on the loopback of a private network
# namespace (unshare -rn: no privilege needed where user namespaces are
# allowed), since a host has only ::1 on its own loopback.
NETNS_SAME_64 = ("2001:db8:1:2::a", "2001:db8:1:2::b", "2001:db8:1:2::c")
NETNS_OTHER_64 = "2001:db8:1:3::a"


def netns_usable():
    try:
        return subprocess.run(["unshare", "-rn", "ip", "link", "set", "lo", "up"],
                              capture_output=True, timeout=10).returncode == 0
    except (OSError, subprocess.SubprocessError):
        return False


def netns_driver(binary, workdir, env, out, err):
    """Run inside the namespace: one server on [::], cap 2 per /64.  Exits
    non-zero (an AssertionError or a pytest failure) when a check fails."""
    subprocess.run(["ip", "link", "set", "lo", "up"], check=True)
    for a in NETNS_SAME_64 + (NETNS_OTHER_64,):
        subprocess.run(["ip", "-6", "addr", "add", a + "/128", "dev", "lo", "nodad"], check=True)
    with socket.socket(socket.AF_INET6, socket.SOCK_STREAM) as s:
        s.bind(("::1", 0))
        port = s.getsockname()[1]
    env = dict(env, HOST="::", PORT=str(port))
    with open(out, "wb") as o, open(err, "wb") as e:
        proc = subprocess.Popen([binary, "serve"], env=env, cwd=workdir, stdin=subprocess.DEVNULL,
                                stdout=o, stderr=e)
    try:
        def up():
            assert proc.poll() is None, "auth-service exited"
            try:
                open_connection(port, source=NETNS_OTHER_64, dest="::1").close()
                return True
            except OSError:
                return False

        wait_until(up, timeout=20, message="the server in the namespace")
        a, b, c = NETNS_SAME_64
        wait_until(lambda: not refused(port, source=NETNS_OTHER_64, dest="::1"),
                   message="the start-up probe's slot back")
        held = [open_connection(port, source=a, dest="::1"),
                open_connection(port, source=b, dest="::1")]
        assert refused(port, source=c, dest="::1"), "a third address of one /64 got in"
        assert refused(port, source=a, dest="::1")
        other = open_connection(port, source=NETNS_OTHER_64, dest="::1")
        other.close()
        held.pop().close()
        wait_until(lambda: not refused(port, source=c, dest="::1"),
                   message="the /64's freed slot")
        for s in held:
            s.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=15) == 0


@pytest.mark.skipif(not netns_usable(), reason="no private network namespace (unshare -rn)")
def test_ipv6_peers_share_the_cap_of_their_64(server_factory):
    """The cap counts an IPv6 peer in its RATE_LIMIT_IPV6_PREFIX network
    (64): two connections from 2001:db8:1:2::a and ::b fill a cap of 2, so
    ::c of the same /64 is closed without an answer, while 2001:db8:1:3::a
    gets in.  (libmicrohttpd's own limit counted per address: ::c got in.)"""
    srv = server_factory(env={"HTTP_MAX_CONNECTIONS_PER_IP": "2", "WORKERS": "2",
                              "REDIS_URL": None}, start=False)
    # Nothing outside the namespace is reachable from inside: SQLite in the workdir.
    srv.env["DATABASE_URL"] = f"sqlite:///{srv.workdir}/auth.db"
    srv.run_index, srv.sanitizer_checked = 1, False  # teardown checks its stderr
    r = subprocess.run(["unshare", "-rn", sys.executable, __file__,
                        json.dumps([srv.binary, str(srv.workdir), srv.env,
                                    str(srv.stdout_path), str(srv.stderr_path)])],
                       capture_output=True, text=True, timeout=120)
    assert r.returncode == 0, f"{r.stdout}\n{r.stderr}\n{srv.describe()}"


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


if __name__ == "__main__":
    # test_ipv6_peers_share_the_cap_of_their_64, inside its network namespace.
    netns_driver(*json.loads(sys.argv[1]))
