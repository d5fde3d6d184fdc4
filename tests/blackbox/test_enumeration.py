"""No user enumeration through answers or timing, at a real bcrypt cost.

Login with an unknown email must answer byte for byte like a wrong password
and take as long: the service verifies the password against a dummy hash of
the configured cost.  With REGISTER_SILENT, register answers a new and an
already registered email alike, and hashes the password either way.

PASSWORD_BCRYPT_ROUNDS=10 here (the rest of the suite uses 4 for speed), so
one bcrypt check costs tens of milliseconds: a path that skipped it would be
an order of magnitude faster.  The samples are interleaved and compared by
their medians, with bounds far wider than the noise of a shared machine and
far narrower than the gap a missing bcrypt would open.
"""
import statistics
import time

import requests

from helpers import HIGH_LIMITS, PASSWORD, unique_email

COST = {"PASSWORD_BCRYPT_ROUNDS": "10", **HIGH_LIMITS}
ROUNDS = 15
# Headers that differ between any two responses.
VOLATILE = {"x-request-id", "date"}


def post(srv, path, body):
    t0 = time.perf_counter()
    r = requests.post(srv.url(path), json=body, timeout=60)
    return r, time.perf_counter() - t0


def stable_headers(r):
    return sorted((k.lower(), v) for k, v in r.headers.items() if k.lower() not in VOLATILE)


def assert_same_answer(a, b):
    assert a.status_code == b.status_code, (a.status_code, b.status_code)
    assert a.content == b.content, (a.content, b.content)
    assert stable_headers(a) == stable_headers(b)


def assert_similar(times_a, times_b, what):
    ma, mb = statistics.median(times_a), statistics.median(times_b)
    ratio = ma / mb
    assert 0.6 < ratio < 1.67, f"{what}: medians {ma * 1e3:.1f} ms vs {mb * 1e3:.1f} ms"
    return ma, mb


def test_unknown_email_and_wrong_password_are_indistinguishable(server_factory):
    srv = server_factory(env=COST)
    email = unique_email("enum")
    r, _ = post(srv, "/api/v1/auth/register", {"email": email, "password": PASSWORD})
    assert r.status_code == 201, r.text
    wrong, unknown = [], []
    for i in range(ROUNDS + 2):
        rw, tw = post(srv, "/api/v1/auth/login", {"email": email, "password": "not the password"})
        ru, tu = post(srv, "/api/v1/auth/login",
                      {"email": unique_email("ghost"), "password": "not the password"})
        assert rw.status_code == 401, rw.text
        assert rw.json() == {"detail": "Incorrect email or password"}
        assert_same_answer(rw, ru)
        if i >= 2:  # the first rounds warm the connection pools and caches
            wrong.append(tw)
            unknown.append(tu)
    ma, _ = assert_similar(unknown, wrong, "unknown email vs wrong password")
    # Both spent real bcrypt work, not just the same little.
    assert ma > 5 * fastest_health(srv), ma


def fastest_health(srv):
    times = []
    for _ in range(5):
        t0 = time.perf_counter()
        assert requests.get(srv.url("/api/v1/health"), timeout=10).status_code == 200
        times.append(time.perf_counter() - t0)
    return min(times)


def test_silent_register_takes_as_long_for_a_taken_email(server_factory):
    srv = server_factory(env={**COST, "REGISTER_SILENT": "true"})
    taken = unique_email("taken")
    r, _ = post(srv, "/api/v1/auth/register", {"email": taken, "password": PASSWORD})
    assert r.status_code == 202, r.text
    fresh_times, taken_times = [], []
    for i in range(ROUNDS + 2):
        rf, tf = post(srv, "/api/v1/auth/register",
                      {"email": unique_email("fresh"), "password": PASSWORD})
        rt, tt = post(srv, "/api/v1/auth/register", {"email": taken, "password": PASSWORD})
        assert rf.status_code == 202, rf.text
        assert_same_answer(rf, rt)
        if i >= 2:
            fresh_times.append(tf)
            taken_times.append(tt)
    assert_similar(taken_times, fresh_times, "taken vs new email")
