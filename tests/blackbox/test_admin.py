"""/api/v1/admin/users: role check, list/get/patch/delete, and what
disabling, role changes and deletion do to the target's tokens.  The admin
account is made with `auth-service users create --admin` against the
running server's database."""

import uuid

import pytest

from conftest import db_query
from helpers import (PASSWORD, USER_KEYS, Api, assert_invalid_token, assert_token_response,
                     assert_validation_error, bearer, create_admin_cli, new_user, sql_str,
                     token_parts, unique_email)
from helpers import _module_servers_in_reports, module_server_factory  # noqa: F401 (fixtures)

USERS = "/api/v1/admin/users"


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory()


@pytest.fixture
def api(srv):
    return Api(srv)


@pytest.fixture(scope="module")
def admin(srv):
    """(email, tokens) of an admin created with the CLI while the server runs."""
    email = unique_email("admin")
    out = create_admin_cli(srv, email, PASSWORD)
    assert email in out, out
    tokens = assert_token_response(Api(srv).login(email, PASSWORD, expect=None))
    return email, tokens


@pytest.fixture
def ah(admin):
    """Authorization header of the admin."""
    return bearer(admin[1]["access_token"])


def roles(access):
    return token_parts(access)[1]["roles"]


# ---------------------------------------------------------------- access control

def test_cli_admin_has_admin_role(api, admin):
    email, tokens = admin
    assert sorted(roles(tokens["access_token"])) == ["admin", "user"]
    me = api.me(tokens["access_token"]).json()
    assert me["email"] == email
    assert sorted(me["roles"]) == ["admin", "user"]
    assert me["is_active"] is True


def _admin_calls(target_id):
    return [
        ("GET", USERS, None),
        ("GET", f"{USERS}/{target_id}", None),
        ("PATCH", f"{USERS}/{target_id}", {"roles": ["user", "admin"]}),
        ("DELETE", f"{USERS}/{target_id}", None),
    ]


def test_non_admin_gets_403_on_every_admin_route(api):
    user = new_user(api)
    target = new_user(api)
    for method, path, body in _admin_calls(target.id):
        r = api.call(method, path, user.access, body)
        assert r.status_code == 403, (method, path, r.status_code, r.text)
        assert isinstance(r.json()["detail"], str)
    # nothing changed: the target is intact and not promoted
    assert api.me(target.access).json()["roles"] == ["user"]
    # the caller cannot act on itself either
    for method, path, body in _admin_calls(user.id):
        assert api.call(method, path, user.access, body).status_code == 403
    assert api.me(user.access).json()["roles"] == ["user"]


def test_admin_routes_without_token_401(api):
    target = new_user(api)
    for method, path, body in _admin_calls(target.id):
        kw = {"json": body} if body is not None else {}
        r = api.request(method, path, **kw)
        assert r.status_code == 401, (method, path, r.text)
        assert r.json() == {"detail": "Not authenticated"}
        assert r.headers.get("WWW-Authenticate") == "Bearer"


# ---------------------------------------------------------------- list

def test_list_with_filter_limit_offset_and_total(api, ah):
    tag = "lst" + uuid.uuid4().hex[:8]
    made = [api.register(f"{tag}-{i}@example.com").json() for i in range(3)]
    ids = {u["id"] for u in made}

    r = api.get(USERS, params={"email": tag}, headers=ah)
    assert r.status_code == 200, r.text
    body = r.json()
    assert set(body) == {"items", "total"}
    assert body["total"] == 3
    assert {u["id"] for u in body["items"]} == ids
    for u in body["items"]:
        assert set(u) == USER_KEYS, u
        assert "password_hash" not in u

    page1 = api.get(USERS, params={"email": tag, "limit": 2}, headers=ah).json()
    page2 = api.get(USERS, params={"email": tag, "limit": 2, "offset": 2}, headers=ah).json()
    assert page1["total"] == page2["total"] == 3
    assert len(page1["items"]) == 2 and len(page2["items"]) == 1
    assert {u["id"] for u in page1["items"] + page2["items"]} == ids
    past = api.get(USERS, params={"email": tag, "offset": 3}, headers=ah).json()
    assert past == {"items": [], "total": 3}

    # the filter is case-insensitive, and LIKE wildcards are literal
    assert api.get(USERS, params={"email": tag.upper()}, headers=ah).json()["total"] == 3
    assert api.get(USERS, params={"email": f"{tag}-1@"}, headers=ah).json()["total"] == 1
    assert api.get(USERS, params={"email": "%"}, headers=ah).json()["total"] == 0
    assert api.get(USERS, params={"email": f"{tag}_"}, headers=ah).json()["total"] == 0


def test_list_without_filter_counts_everyone(api, ah):
    r = api.get(USERS, headers=ah).json()
    n = r["total"]
    new_user(api)
    r2 = api.get(USERS, params={"limit": 100}, headers=ah).json()
    assert r2["total"] == n + 1
    assert len(r2["items"]) == min(n + 1, 100)
    assert len(api.get(USERS, params={"limit": 1}, headers=ah).json()["items"]) == 1


@pytest.mark.parametrize("params,loc", [
    ({"limit": "0"}, ["query", "limit"]),
    ({"limit": "-1"}, ["query", "limit"]),
    ({"limit": "abc"}, ["query", "limit"]),
    ({"limit": "101"}, ["query", "limit"]),
    ({"limit": "1.5"}, ["query", "limit"]),
    ({"limit": ""}, ["query", "limit"]),
    ({"offset": "-1"}, ["query", "offset"]),
    ({"offset": "x"}, ["query", "offset"]),
])
def test_list_bad_paging_422(api, ah, params, loc):
    assert_validation_error(api.get(USERS, params=params, headers=ah), loc)


# ---------------------------------------------------------------- get

def test_get_user(api, ah):
    u = new_user(api, full_name="Looked Up")
    r = api.get(f"{USERS}/{u.id}", headers=ah)
    assert r.status_code == 200, r.text
    assert r.json() == u.user


@pytest.mark.parametrize("uid", [str(uuid.uuid4()), "nope", "x" * 100])
def test_unknown_user_404_on_get_patch_delete(api, ah, uid):
    for method, body in (("GET", None), ("PATCH", {"is_active": False}), ("DELETE", None)):
        kw = {"json": body} if body is not None else {}
        r = api.request(method, f"{USERS}/{uid}", headers=ah, **kw)
        assert r.status_code == 404, (method, r.text)
        assert r.json() == {"detail": "User not found"}


# ---------------------------------------------------------------- patch

def test_disable_user_locks_out_tokens_refresh_and_login(api, ah, srv):
    victim = new_user(api)
    other_session = api.tokens(victim.email)
    r = api.patch(f"{USERS}/{victim.id}", json={"is_active": False}, headers=ah)
    assert r.status_code == 200, r.text
    assert r.json()["is_active"] is False
    assert set(r.json()) == USER_KEYS

    for tok in (victim.access, other_session["access_token"]):
        assert_invalid_token(api.me(tok), "access token of a disabled user")
    for rt in (victim.refresh, other_session["refresh_token"]):
        assert api.refresh(rt).status_code == 401
    r = api.login(victim.email, expect=None)
    assert r.status_code == 403, r.text
    r = api.login(victim.email, "wrong password", expect=None)
    assert r.status_code == 401
    assert r.json() == {"detail": "Incorrect email or password"}

    rows = db_query(srv.env["DATABASE_URL"], "SELECT count(*) FROM audit_events WHERE "
                    f"event = 'account_disabled' AND user_id = {sql_str(victim.id)}")
    assert rows == [["1"]], rows

    # re-enabling lets the user sign in again (old sessions stay dead)
    r = api.patch(f"{USERS}/{victim.id}", json={"is_active": True}, headers=ah)
    assert r.status_code == 200 and r.json()["is_active"] is True
    fresh = assert_token_response(api.login(victim.email, expect=None))
    assert api.me(fresh["access_token"]).status_code == 200
    assert api.refresh(victim.refresh).status_code == 401


def test_patch_roles_carried_by_next_tokens(api, ah):
    u = new_user(api)
    r = api.patch(f"{USERS}/{u.id}", json={"roles": ["user", "admin"]}, headers=ah)
    assert r.status_code == 200, r.text
    assert r.json()["roles"] == ["user", "admin"]
    fresh = api.tokens(u.email)
    assert roles(fresh["access_token"]) == ["user", "admin"]
    refreshed = assert_token_response(api.refresh(u.refresh))
    assert roles(refreshed["access_token"]) == ["user", "admin"]
    # and the new admin can use the admin API
    assert api.get(USERS, headers=bearer(fresh["access_token"])).status_code == 200

    # demotion takes effect on the admin API at once
    r = api.patch(f"{USERS}/{u.id}", json={"roles": ["user"]}, headers=ah)
    assert r.status_code == 200 and r.json()["roles"] == ["user"]
    assert api.get(USERS, headers=bearer(fresh["access_token"])).status_code == 403
    assert roles(api.tokens(u.email)["access_token"]) == ["user"]


def test_patch_is_verified_reflected_in_token(api, ah):
    u = new_user(api)
    assert token_parts(u.access)[1]["email_verified"] is False
    r = api.patch(f"{USERS}/{u.id}", json={"is_verified": True}, headers=ah)
    assert r.status_code == 200 and r.json()["is_verified"] is True
    assert token_parts(api.tokens(u.email)["access_token"])[1]["email_verified"] is True
    assert api.me(u.access).json()["is_verified"] is True


def test_patch_empty_body_changes_nothing(api, ah):
    u = new_user(api)
    r = api.patch(f"{USERS}/{u.id}", json={}, headers=ah)
    assert r.status_code == 200, r.text
    got = r.json()
    for k in ("id", "email", "is_active", "is_verified", "roles", "full_name"):
        assert got[k] == u.user[k], k


@pytest.mark.parametrize("body,loc", [
    ({"roles": "admin"}, ["body", "roles"]),
    ({"roles": ["ad min"]}, ["body", "roles"]),
    ({"roles": [""]}, ["body", "roles"]),
    ({"roles": [1]}, ["body", "roles"]),
    ({"roles": [None]}, ["body", "roles"]),
    ({"roles": {"admin": True}}, ["body", "roles"]),
    ({"is_active": "maybe"}, ["body", "is_active"]),
    ({"is_active": [False]}, ["body", "is_active"]),
    ({"is_verified": {"x": 1}}, ["body", "is_verified"]),
])
def test_patch_invalid_values_422(api, ah, body, loc):
    u = new_user(api)
    assert_validation_error(api.patch(f"{USERS}/{u.id}", json=body, headers=ah), loc)
    # nothing changed
    got = api.get(f"{USERS}/{u.id}", headers=ah).json()
    assert got["roles"] == ["user"] and got["is_active"] is True and got["is_verified"] is False


def test_patch_requires_json(api, ah):
    u = new_user(api)
    r = api.patch(f"{USERS}/{u.id}", data="is_active=false", headers=dict(
        ah, **{"Content-Type": "application/x-www-form-urlencoded"}))
    assert r.status_code == 415, r.text
    assert api.me(u.access).status_code == 200


# ---------------------------------------------------------------- delete

def test_delete_user(api, ah):
    u = new_user(api)
    r = api.delete(f"{USERS}/{u.id}", headers=ah)
    assert r.status_code == 204, r.text
    assert r.content == b""
    r = api.get(f"{USERS}/{u.id}", headers=ah)
    assert r.status_code == 404
    assert r.json() == {"detail": "User not found"}
    assert api.delete(f"{USERS}/{u.id}", headers=ah).status_code == 404
    assert_invalid_token(api.me(u.access), "token of a deleted user")
    assert api.refresh(u.refresh).status_code == 401
    assert api.login(u.email, expect=None).status_code == 401
    # the address is free again
    api.register(u.email)
