"""Refresh tokens: rotation, reuse detection (RFC 9700 4.14) with and without
the REFRESH_TOKEN_REUSE_INTERVAL_SECONDS grace, the concurrent-refresh race,
and the failure paths of POST /api/v1/auth/refresh."""

import time

import pytest

from conftest import db_query
from helpers import (HIGH_LIMITS, PASSWORD, Api, assert_invalid_token,
                     assert_token_response, assert_validation_error, concurrent_requests,
                     new_user, raw_json_post, set_active, sql_str, token_parts)
from helpers import _module_servers_in_reports, module_server_factory  # noqa: F401 (fixtures)

REFRESH = "/api/v1/auth/refresh"


@pytest.fixture(scope="module")
def grace_srv(module_server_factory):
    """Default configuration: a 10 s grace for retries of a spent token."""
    return module_server_factory()


@pytest.fixture(scope="module")
def strict_srv(module_server_factory):
    """REFRESH_TOKEN_REUSE_INTERVAL_SECONDS=0: every reuse is theft."""
    return module_server_factory(env={"REFRESH_TOKEN_REUSE_INTERVAL_SECONDS": "0"})


@pytest.fixture
def gapi(grace_srv):
    return Api(grace_srv)


@pytest.fixture
def sapi(strict_srv):
    return Api(strict_srv)


def sid(access):
    return token_parts(access)[1]["sid"]


def assert_refresh_refused(r, what=""):
    assert r.status_code == 401, f"{what}: {r.status_code} {r.text}"
    assert isinstance(r.json().get("detail"), str), r.text
    assert "access_token" not in r.text
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer"), r.headers


# ---------------------------------------------------------------- rotation

def test_refresh_returns_new_pair_in_same_session(gapi):
    a = new_user(gapi)
    r = gapi.refresh(a.refresh)
    new = assert_token_response(r)
    assert new["refresh_token"] != a.refresh
    assert new["access_token"] != a.access
    assert sid(new["access_token"]) == sid(a.access)
    assert token_parts(new["access_token"])[1]["jti"] != token_parts(a.access)[1]["jti"]
    me = gapi.me(new["access_token"])
    assert me.status_code == 200 and me.json()["id"] == a.id
    # the new refresh token refreshes again (a chain, not a one-off)
    newer = assert_token_response(gapi.refresh(new["refresh_token"]))
    assert sid(newer["access_token"]) == sid(a.access)
    sessions = gapi.sessions(newer["access_token"]).json()
    assert len(sessions) == 1, sessions


def test_rotation_spends_the_presented_token(sapi):
    a = new_user(sapi)
    new = assert_token_response(sapi.refresh(a.refresh))
    assert_refresh_refused(sapi.refresh(a.refresh), "spent token accepted again")
    assert new["refresh_token"] != a.refresh


# ---------------------------------------------------------------- reuse detection

def test_reuse_of_spent_token_revokes_whole_session(sapi, strict_srv):
    a = new_user(sapi)
    other = sapi.tokens(a.email)               # a second session of the same user
    r1 = assert_token_response(sapi.refresh(a.refresh))
    r2 = assert_token_response(sapi.refresh(r1["refresh_token"]))

    # the thief (or the victim) presents the first, long-spent token
    assert_refresh_refused(sapi.refresh(a.refresh), "reuse")

    # the whole family is dead: the newest refresh token and every access token
    assert_refresh_refused(sapi.refresh(r2["refresh_token"]), "newest token after reuse")
    for tok in (a.access, r1["access_token"], r2["access_token"]):
        assert_invalid_token(sapi.me(tok), "access token of the revoked session")

    # the user's other session is untouched
    assert sapi.me(other["access_token"]).status_code == 200
    assert_token_response(sapi.refresh(other["refresh_token"]))

    rows = db_query(strict_srv.env["DATABASE_URL"],
                    "SELECT event, user_id, detail FROM audit_events WHERE event = "
                    f"'refresh_reuse_detected' AND user_id = {sql_str(a.id)}")
    assert len(rows) == 1, rows
    assert sid(a.access) in rows[0][2], rows


def test_grace_retry_gets_fresh_pair_in_same_session(gapi):
    a = new_user(gapi)
    first = assert_token_response(gapi.refresh(a.refresh))
    retry = assert_token_response(gapi.refresh(a.refresh))       # immediate retry
    assert retry["refresh_token"] not in (a.refresh, first["refresh_token"])
    assert sid(retry["access_token"]) == sid(first["access_token"]) == sid(a.access)
    for pair in (first, retry):
        assert gapi.me(pair["access_token"]).status_code == 200
    assert len(gapi.sessions(retry["access_token"]).json()) == 1
    assert_token_response(gapi.refresh(retry["refresh_token"]))


def test_reuse_after_grace_interval_is_theft(server_factory):
    """REFRESH_TOKEN_REUSE_INTERVAL_SECONDS=1: retries of a spent token are
    served only while the interval lasts; afterwards the session dies."""
    srv = server_factory(env={"REFRESH_TOKEN_REUSE_INTERVAL_SECONDS": "1", **HIGH_LIMITS})
    api = Api(srv)
    a = new_user(api)
    latest = assert_token_response(api.refresh(a.refresh))
    spent_by = time.time()          # the server spent the token before this instant
    graced = 0
    deadline = spent_by + 10
    while True:
        t = time.time()             # the server sees the retry after this instant
        r = api.refresh(a.refresh)
        if r.status_code == 200:
            # with whole-second clocks a retry can be graced for < 2 s after the spend
            assert t - spent_by < 2.05, f"spent token still accepted {t - spent_by:.2f}s later"
            latest = assert_token_response(r)
            graced += 1
        else:
            assert_refresh_refused(r, "reuse after the interval")
            break
        assert time.time() < deadline, "reuse never detected"
        time.sleep(0.1)
    assert graced >= 1, "the immediate retry was not graced"
    assert_refresh_refused(api.refresh(latest["refresh_token"]), "newest token after theft")
    assert_invalid_token(api.me(latest["access_token"]))


# ---------------------------------------------------------------- concurrency

N_RACERS = 8


def test_concurrent_refresh_exactly_one_wins_without_grace(sapi, strict_srv):
    a = new_user(sapi)
    req = raw_json_post(strict_srv.port, REFRESH, {"refresh_token": a.refresh})
    results = concurrent_requests(strict_srv.port, req, N_RACERS)
    statuses = sorted(r.status for r in results)
    assert statuses.count(200) == 1, statuses
    assert statuses.count(401) == N_RACERS - 1, statuses


def test_concurrent_refresh_within_grace_all_served_in_one_session(gapi, grace_srv):
    a = new_user(gapi)
    req = raw_json_post(grace_srv.port, REFRESH, {"refresh_token": a.refresh})
    results = concurrent_requests(grace_srv.port, req, N_RACERS)
    statuses = [r.status for r in results]
    assert statuses == [200] * N_RACERS, [(r.status, r.body[:200]) for r in results]
    bodies = [r.json() for r in results]
    assert len({b["refresh_token"] for b in bodies}) == N_RACERS
    assert {sid(b["access_token"]) for b in bodies} == {sid(a.access)}


# ---------------------------------------------------------------- failure paths

def test_refresh_for_disabled_user_refused(gapi, grace_srv):
    a = new_user(gapi)
    set_active(grace_srv, a.id, False)
    try:
        assert_refresh_refused(gapi.refresh(a.refresh), "disabled user")
    finally:
        set_active(grace_srv, a.id, True)


@pytest.mark.parametrize("token", [
    "garbage",
    "",
    "A" * 43,
    "x" * 5000,
    "ey.not.a.refresh.token",
])
def test_refresh_with_unknown_token_401(gapi, token):
    assert_refresh_refused(gapi.refresh(token), repr(token[:20]))


def test_access_token_is_not_a_refresh_token(gapi):
    a = new_user(gapi)
    assert_refresh_refused(gapi.refresh(a.access))


@pytest.mark.parametrize("body,loc", [
    ({}, ["body", "refresh_token"]),
    ({"refresh_token": None}, ["body", "refresh_token"]),
    ({"refresh_token": 123}, ["body", "refresh_token"]),
    ({"token": "x"}, ["body", "refresh_token"]),
])
def test_refresh_missing_or_mistyped_field_422(gapi, body, loc):
    assert_validation_error(gapi.post(REFRESH, json=body), loc)


def test_refresh_requires_json(gapi):
    a = new_user(gapi)
    r = gapi.post(REFRESH, data={"refresh_token": a.refresh})
    assert r.status_code == 415, r.text
    r = gapi.post(REFRESH, data=b'{"refresh_token": ', headers={"Content-Type": "application/json"})
    assert_validation_error(r)
    # neither spent the token
    assert_token_response(gapi.refresh(a.refresh))


def test_refresh_token_of_deleted_user_refused(gapi):
    a = new_user(gapi)
    r = gapi.delete("/api/v1/users/me", json={"password": PASSWORD}, headers=a.headers)
    assert r.status_code == 204, r.text
    assert_refresh_refused(gapi.refresh(a.refresh))
