"""The client address behind TRUSTED_PROXIES and its rate-limit bucket
(docs/security.md, "Review findings (issue 13)", items 4 and 6).

- every X-Forwarded-For line counts (HAProxy appends a second line rather
  than merging), walked from the right past trusted proxies;
- a hop that is not an address is the client ("unknown" or its RFC 7239
  obfuscated identifier), never the proxy: one bad entry must not put
  every user in the proxy's bucket;
- RFC 7239 Forwarded is read when X-Forwarded-For is absent;
- IPv6 clients are limited per RATE_LIMIT_IPV6_PREFIX network (default
  /64), IPv4-mapped IPv6 counts as the IPv4 address;
- /password/forgot with an invalid body answers 422 without counting.

The proxy is the test itself on loopback (TRUSTED_PROXIES=127.0.0.1/32);
http.client sends a header twice through putheader.  Every test uses its
own random addresses and accounts, so counters shared through Redis never
collide.  The client address is read from the access log line of a
request (found by its X-Request-ID) and from the rate limits it trips.
"""
import http.client
import json
import random
import secrets

import pytest

from conftest import wait_until
from helpers import _module_servers_in_reports, module_server_factory  # noqa: F401 (fixtures)
from helpers import unique_email

PROXY = {"TRUSTED_PROXIES": "127.0.0.1/32", "RATE_LIMIT_LOGIN_PER_MINUTE": "2"}


def v4():
    return "10.%d.%d.%d" % (random.randint(0, 255), random.randint(0, 255),
                            random.randint(1, 254))


def v6_net():
    """A random 2001:db8::/32 /64, as its first four groups."""
    return "2001:db8:%x:%x" % (random.randint(0, 0xffff), random.randint(0, 0xffff))


def send(srv, path, body, headers):
    """POST JSON with headers given as (name, value) pairs, repeats allowed;
    (status, parsed body, request id)."""
    rid = "fwd-" + secrets.token_hex(8)
    data = json.dumps(body).encode()
    conn = http.client.HTTPConnection("127.0.0.1", srv.port, timeout=30)
    try:
        conn.putrequest("POST", path)
        conn.putheader("Content-Type", "application/json")
        conn.putheader("Content-Length", str(len(data)))
        conn.putheader("X-Request-ID", rid)
        for name, value in headers:
            conn.putheader(name, value)
        conn.endheaders(data)
        r = conn.getresponse()
        text = r.read()
        return r.status, (json.loads(text) if text else None), rid
    finally:
        conn.close()


def bad_login(srv, email, headers):
    return send(srv, "/api/v1/auth/login", {"email": email, "password": "wrong password!"},
                headers)[0]


def client_of(srv, headers):
    """The client address the server logged for one request with these headers."""
    _, _, rid = send(srv, "/api/v1/auth/login",
                     {"email": unique_email("fwd"), "password": "wrong password!"}, headers)

    def logged():
        for line in srv.log_lines():
            if line.get("msg") == "request" and line.get("request_id") == rid:
                return line
        return None
    return wait_until(logged, message=f"the access log line of {rid}")["client"]


def assert_limited_after_two(srv, first, then_limited, then_free):
    """Two failed logins with headers `first` use up the bucket; one more
    with `then_limited` is 429, one with `then_free` is not."""
    email = unique_email("fwd")
    assert bad_login(srv, email, first) == 401
    assert bad_login(srv, email, first) == 401
    assert bad_login(srv, email, then_limited) == 429
    assert bad_login(srv, email, then_free) == 401


@pytest.fixture(scope="module")
def proxied(module_server_factory):
    return module_server_factory(env=PROXY)


# ---- item 4: every X-Forwarded-For line, and Forwarded ----

def test_second_xff_line_is_read(proxied):
    """HAProxy appends its own line: the client's forged first line must not
    choose the bucket (before the fix each forged value was a new bucket)."""
    client = v4()

    def hops(forged):
        return [("X-Forwarded-For", forged), ("X-Forwarded-For", client)]
    assert client_of(proxied, hops(v4())) == client
    assert_limited_after_two(proxied, hops(v4()), hops(v4()), hops(v4())[:1])


def test_lines_are_walked_from_the_right_past_trusted_proxies(proxied):
    client = v4()
    assert client_of(proxied, [("X-Forwarded-For", v4()),
                               ("X-Forwarded-For", client + ", 127.0.0.1"),
                               ("X-Forwarded-For", "127.0.0.1")]) == client


def test_garbage_does_not_put_everyone_in_the_proxys_bucket(proxied):
    """A bad entry a client puts in front of the proxy's line is never read;
    a bad hop itself is "unknown", not 127.0.0.1 (before the fix both fell
    back to the proxy's address, one bucket for every user)."""
    a, b = v4(), v4()
    assert client_of(proxied, [("X-Forwarded-For", "garbage"), ("X-Forwarded-For", a)]) == a
    assert client_of(proxied, [("X-Forwarded-For", "garbage")]) == "unknown"
    assert client_of(proxied, [("X-Forwarded-For", a + ", not-an-ip, 127.0.0.1")]) == "unknown"
    assert_limited_after_two(proxied,
                             [("X-Forwarded-For", "garbage"), ("X-Forwarded-For", a)],
                             [("X-Forwarded-For", a)],
                             [("X-Forwarded-For", "garbage"), ("X-Forwarded-For", b)])


def test_forwarded_header_alone_is_read(proxied):
    net = v6_net()
    assert client_of(proxied, [("Forwarded", 'for="[%s::17]:4711";proto=https' % net)]) \
        == net + "::17"
    a, b = v4(), v4()
    assert client_of(proxied, [("Forwarded", "for=%s" % v4()),
                               ("Forwarded", "for=%s;by=127.0.0.1, for=127.0.0.1" % a)]) == a
    assert_limited_after_two(proxied, [("Forwarded", "for=" + a)],
                             [("Forwarded", 'for="%s:80"' % a)], [("Forwarded", "for=" + b)])


def test_forwarded_unknown_and_obfuscated_hops(proxied):
    assert client_of(proxied, [("Forwarded", "for=unknown")]) == "unknown"
    assert client_of(proxied, [("Forwarded", "for=_hidden7, for=127.0.0.1")]) == "_hidden7"
    assert client_of(proxied, [("Forwarded", "proto=https")]) == "unknown"


def test_xff_wins_over_forwarded(proxied):
    a = v4()
    assert client_of(proxied, [("Forwarded", "for=" + v4()), ("X-Forwarded-For", a)]) == a


def test_untrusted_peer_headers_are_ignored(server_factory):
    srv = server_factory(env={"RATE_LIMIT_LOGIN_PER_MINUTE": "2"})
    assert client_of(srv, [("X-Forwarded-For", v4()), ("X-Forwarded-For", v4())]) == "127.0.0.1"
    assert client_of(srv, [("Forwarded", "for=" + v4())]) == "127.0.0.1"


# ---- item 6: IPv6 buckets ----

def test_ipv6_clients_share_their_64(proxied):
    net = v6_net()
    assert_limited_after_two(proxied, [("X-Forwarded-For", net + "::1")],
                             [("X-Forwarded-For", net + ":ffff:ffff:ffff:ffff")],
                             [("X-Forwarded-For", v6_net() + "::1")])


def test_ipv6_prefix_is_configurable(server_factory):
    srv = server_factory(env={**PROXY, "RATE_LIMIT_IPV6_PREFIX": "128"})
    net = v6_net()
    assert_limited_after_two(srv, [("X-Forwarded-For", net + "::1")],
                             [("X-Forwarded-For", net + ":0:0:0:1")],
                             [("X-Forwarded-For", net + "::2")])


def test_ipv4_mapped_ipv6_is_the_ipv4_address(proxied):
    a = v4()
    assert client_of(proxied, [("X-Forwarded-For", "::ffff:" + a)]) == a
    assert_limited_after_two(proxied, [("X-Forwarded-For", "::ffff:" + a)],
                             [("X-Forwarded-For", a)], [("X-Forwarded-For", v4())])


def test_forgot_with_an_invalid_body_does_not_count(server_factory):
    srv = server_factory(env={"TRUSTED_PROXIES": "127.0.0.1/32", "RATE_LIMIT_IP_PER_MINUTE": "2"})
    hdr = [("X-Forwarded-For", v4())]
    for _ in range(3):
        assert send(srv, "/api/v1/auth/password/forgot", {"email": "not an email"}, hdr)[0] == 422
    for _ in range(2):
        assert send(srv, "/api/v1/auth/password/forgot",
                    {"email": unique_email("fwd")}, hdr)[0] == 202
    assert send(srv, "/api/v1/auth/password/forgot", {"email": unique_email("fwd")}, hdr)[0] == 429


def test_check_config_prints_and_validates_the_prefix(server_factory):
    srv = server_factory(start=False)
    rc, out, err = srv.run_cli(["check-config"])
    assert rc == 0, err
    assert "RATE_LIMIT_IPV6_PREFIX=64" in out.splitlines()
    for bad in ("31", "129", "x"):
        rc, out, err = srv.run_cli(["check-config"], {"RATE_LIMIT_IPV6_PREFIX": bad})
        assert rc != 0
        lines = [l for l in err.splitlines() if "RATE_LIMIT_IPV6_PREFIX" in l]
        assert len(lines) == 1, err
        assert "example: RATE_LIMIT_IPV6_PREFIX=64" in lines[0], lines[0]
