"""Logout, logout-all and the sessions list / delete: a revoked token is
refused by every authenticated endpoint, and its refresh token is dead."""

import time
import uuid

import pytest

from conftest import db_query
from helpers import (BEARER_ENDPOINTS, ISO_Z, Api, assert_invalid_token,
                     assert_token_response, bearer, new_user, sql_str, token_parts)
from helpers import _module_servers_in_reports, module_server_factory  # noqa: F401 (fixtures)

LOGOUT = "/api/v1/auth/logout"
LOGOUT_ALL = "/api/v1/auth/logout-all"
SESSIONS = "/api/v1/auth/sessions"
SESSION_KEYS = {"id", "created_at", "last_used_at", "expires_at", "user_agent", "ip", "current"}


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory()


@pytest.fixture
def api(srv):
    return Api(srv)


def sid(access):
    return token_parts(access)[1]["sid"]


def assert_dead_everywhere(api, access, what):
    """The token is refused by every Bearer endpoint."""
    for method, path, body in BEARER_ENDPOINTS:
        r = api.call(method, path, access, body)
        assert_invalid_token(r, f"{what}: {method} {path}")


def assert_refresh_dead(api, refresh, what):
    r = api.refresh(refresh)
    assert r.status_code == 401, f"{what}: {r.status_code} {r.text}"


def parse_iso(s):
    assert ISO_Z.match(s), s
    return time.mktime(time.strptime(s, "%Y-%m-%dT%H:%M:%SZ")) - time.timezone


# ---------------------------------------------------------------- logout

def test_logout_revokes_this_token_and_session_everywhere(api, srv):
    a = new_user(api)
    b = api.tokens(a.email)                      # another session of the same user
    r = api.post(LOGOUT, headers=a.headers)
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert_dead_everywhere(api, a.access, "after logout")
    assert_refresh_dead(api, a.refresh, "refresh token of the logged-out session")
    # the account still exists and the other session still works
    assert api.me(b["access_token"]).status_code == 200
    assert_token_response(api.refresh(b["refresh_token"]))
    sessions = api.sessions(b["access_token"]).json()
    assert sid(a.access) not in {s["id"] for s in sessions}
    rows = db_query(srv.env["DATABASE_URL"], "SELECT count(*) FROM audit_events WHERE "
                    f"event = 'logout' AND user_id = {sql_str(a.id)}")
    assert rows == [["1"]], rows


def test_logout_access_token_refused_even_after_refresh_of_other_session(api):
    """A fresh token of a new session does not resurrect the logged-out one."""
    a = new_user(api)
    assert api.post(LOGOUT, headers=a.headers).status_code == 204
    fresh = api.tokens(a.email)
    assert api.me(fresh["access_token"]).status_code == 200
    assert_invalid_token(api.me(a.access))


def test_logout_with_refresh_token_of_another_own_session(api):
    a = new_user(api)
    b = api.tokens(a.email)
    r = api.post(LOGOUT, headers=a.headers, json={"refresh_token": b["refresh_token"]})
    assert r.status_code == 204, r.text
    assert_refresh_dead(api, b["refresh_token"], "refresh token named in the logout body")
    assert_invalid_token(api.me(b["access_token"]), "access token of that session")
    assert_invalid_token(api.me(a.access))


def test_logout_cannot_revoke_another_users_session(api):
    a = new_user(api)
    victim = new_user(api)
    r = api.post(LOGOUT, headers=a.headers, json={"refresh_token": victim.refresh})
    assert r.status_code == 204, r.text
    assert api.me(victim.access).status_code == 200
    assert_token_response(api.refresh(victim.refresh))


def test_logout_requires_token(api):
    r = api.post(LOGOUT)
    assert r.status_code == 401
    assert r.json() == {"detail": "Not authenticated"}
    assert r.headers.get("WWW-Authenticate") == "Bearer"


def test_logout_twice_second_is_401(api):
    a = new_user(api)
    assert api.post(LOGOUT, headers=a.headers).status_code == 204
    assert_invalid_token(api.post(LOGOUT, headers=a.headers))


# ---------------------------------------------------------------- logout-all

def test_logout_all_kills_every_session_then_login_works(api, srv):
    a = new_user(api)
    pairs = [a.tokens] + [api.tokens(a.email) for _ in range(2)]
    # one of the sessions has rotated its refresh token already
    pairs[1] = assert_token_response(api.refresh(pairs[1]["refresh_token"]))
    r = api.post(LOGOUT_ALL, headers=bearer(pairs[0]["access_token"]))
    assert r.status_code == 204, r.text
    assert r.content == b""
    for i, p in enumerate(pairs):
        assert_invalid_token(api.me(p["access_token"]), f"session {i} after logout-all")
        assert_invalid_token(api.sessions(p["access_token"]), f"session {i} after logout-all")
        assert_refresh_dead(api, p["refresh_token"], f"refresh token {i} after logout-all")
    assert_dead_everywhere(api, pairs[2]["access_token"], "after logout-all")

    # signing in again works at once, with exactly one live session
    fresh = assert_token_response(api.login(a.email, expect=None))
    me = api.me(fresh["access_token"])
    assert me.status_code == 200, me.text
    sessions = api.sessions(fresh["access_token"]).json()
    assert [s["id"] for s in sessions] == [sid(fresh["access_token"])]
    assert_token_response(api.refresh(fresh["refresh_token"]))
    rows = db_query(srv.env["DATABASE_URL"], "SELECT count(*) FROM audit_events WHERE "
                    f"event = 'logout_all' AND user_id = {sql_str(a.id)}")
    assert rows == [["1"]], rows


def test_logout_all_leaves_other_users_alone(api):
    a = new_user(api)
    b = new_user(api)
    assert api.post(LOGOUT_ALL, headers=a.headers).status_code == 204
    assert api.me(b.access).status_code == 200
    assert_token_response(api.refresh(b.refresh))


def test_logout_all_requires_token(api):
    r = api.post(LOGOUT_ALL)
    assert r.status_code == 401
    assert r.json() == {"detail": "Not authenticated"}


# ---------------------------------------------------------------- sessions list

def test_sessions_list_two_logins_one_current(api):
    before = time.time()
    a = new_user(api, user_agent="agent-A/1.0")
    b = api.tokens(a.email, user_agent="agent-B/2.0")
    r = api.sessions(a.access)
    assert r.status_code == 200, r.text
    sessions = r.json()
    assert isinstance(sessions, list) and len(sessions) == 2, sessions
    by_id = {s["id"]: s for s in sessions}
    assert set(by_id) == {sid(a.access), sid(b["access_token"])}
    for s in sessions:
        assert set(s) == SESSION_KEYS, s
        assert s["ip"] == "127.0.0.1"
        created, used, expires = (parse_iso(s[k]) for k in
                                  ("created_at", "last_used_at", "expires_at"))
        assert before - 5 <= created <= time.time() + 5, s
        assert created <= used + 1
        assert expires > time.time() + 86400, s
    assert [s["current"] for s in sessions].count(True) == 1
    assert by_id[sid(a.access)]["current"] is True
    assert by_id[sid(b["access_token"])]["current"] is False
    assert by_id[sid(a.access)]["user_agent"] == "agent-A/1.0"
    assert by_id[sid(b["access_token"])]["user_agent"] == "agent-B/2.0"
    # seen from the other session, the other one is current
    other = {s["id"]: s["current"] for s in api.sessions(b["access_token"]).json()}
    assert other == {sid(a.access): False, sid(b["access_token"]): True}


def test_sessions_list_only_own_sessions(api):
    a = new_user(api)
    b = new_user(api)
    ids = {s["id"] for s in api.sessions(a.access).json()}
    assert ids == {sid(a.access)}
    assert sid(b.access) not in ids


def test_sessions_requires_token(api):
    r = api.get(SESSIONS)
    assert r.status_code == 401
    assert r.json() == {"detail": "Not authenticated"}


# ---------------------------------------------------------------- delete a session

def test_delete_other_session(api, srv):
    a = new_user(api)
    b = api.tokens(a.email)
    r = api.delete(f"{SESSIONS}/{sid(b['access_token'])}", headers=a.headers)
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert_refresh_dead(api, b["refresh_token"], "refresh token of the deleted session")
    assert_invalid_token(api.me(b["access_token"]), "access token of the deleted session")
    # the caller's own session lives on
    assert api.me(a.access).status_code == 200
    assert [s["id"] for s in api.sessions(a.access).json()] == [sid(a.access)]
    assert_token_response(api.refresh(a.refresh))
    rows = db_query(srv.env["DATABASE_URL"], "SELECT detail FROM audit_events WHERE "
                    f"event = 'session_revoked' AND user_id = {sql_str(a.id)}")
    assert rows == [[sid(b["access_token"])]], rows


def test_delete_current_session_ends_it(api):
    a = new_user(api)
    r = api.delete(f"{SESSIONS}/{sid(a.access)}", headers=a.headers)
    assert r.status_code == 204, r.text
    assert_invalid_token(api.me(a.access))
    assert_refresh_dead(api, a.refresh, "own deleted session")


@pytest.mark.parametrize("session_id", [str(uuid.uuid4()), "not-a-uuid", "x" * 300])
def test_delete_unknown_session_404(api, session_id):
    a = new_user(api)
    r = api.delete(f"{SESSIONS}/{session_id}", headers=a.headers)
    assert r.status_code == 404, r.text
    assert isinstance(r.json()["detail"], str)
    assert api.me(a.access).status_code == 200


def test_delete_someone_elses_session_404(api):
    a = new_user(api)
    victim = new_user(api)
    r = api.delete(f"{SESSIONS}/{sid(victim.access)}", headers=a.headers)
    assert r.status_code == 404, r.text
    assert api.me(victim.access).status_code == 200
    assert_token_response(api.refresh(victim.refresh))


def test_delete_session_requires_token(api):
    a = new_user(api)
    r = api.delete(f"{SESSIONS}/{sid(a.access)}")
    assert r.status_code == 401
    assert r.json() == {"detail": "Not authenticated"}
    assert api.me(a.access).status_code == 200
