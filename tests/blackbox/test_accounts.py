"""Accounts: register, login (JSON and form), /users/me, passwords made by
other bcrypt implementations and their upgrade, audit events of logins."""

import time

import bcrypt
import pytest

from conftest import db_query
from helpers import (HIGH_LIMITS, ISO_Z, PASSWORD, USER_KEYS, UUID_RE, Api,
                     assert_invalid_token, assert_token_response, assert_validation_error,
                     insert_user, new_user, set_active, sql_str, token_parts, unique_email,
                     user_row)
from helpers import _module_servers_in_reports, module_server_factory  # noqa: F401 (fixtures)

REGISTER = "/api/v1/auth/register"
LOGIN = "/api/v1/auth/login"
ME = "/api/v1/users/me"


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory()


@pytest.fixture
def api(srv):
    return Api(srv)


# ---------------------------------------------------------------- register

def test_register_returns_201_user(api):
    before = time.time()
    r = api.post(REGISTER, json={"email": "  New.User+Tag@Example.COM  ", "password": PASSWORD,
                                 "full_name": "Ada Lovelace"})
    assert r.status_code == 201, r.text
    assert r.headers["Content-Type"].split(";")[0].strip() == "application/json"
    u = r.json()
    assert set(u) == USER_KEYS, u
    assert UUID_RE.match(u["id"]), u["id"]
    assert u["email"] == "new.user+tag@example.com"
    assert u["full_name"] == "Ada Lovelace"
    assert u["is_active"] is True
    assert u["is_verified"] is False
    assert u["roles"] == ["user"]
    for k in ("created_at", "updated_at"):
        assert ISO_Z.match(u[k]), u[k]
        t = time.mktime(time.strptime(u[k], "%Y-%m-%dT%H:%M:%SZ")) - time.timezone
        assert before - 5 <= t <= time.time() + 5, (k, u[k])
    assert "password" not in r.text and "$2" not in r.text


def test_register_without_full_name_gives_null(api):
    u = api.register(unique_email()).json()
    assert u["full_name"] is None


def test_register_duplicate_email_409_also_other_case_and_spaces(api):
    email = unique_email("dup")
    api.register(email)
    for variant in (email, email.upper(), f"  {email.title()} "):
        r = api.post(REGISTER, json={"email": variant, "password": PASSWORD})
        assert r.status_code == 409, (variant, r.text)
        assert r.json() == {"detail": "Email already registered"}


@pytest.mark.parametrize("body,loc", [
    ({"password": PASSWORD}, ["body", "email"]),
    ({"email": None, "password": PASSWORD}, ["body", "email"]),
    ({"email": "not-an-email", "password": PASSWORD}, ["body", "email"]),
    ({"email": "a@b", "password": PASSWORD}, ["body", "email"]),
    ({"email": "two@@example.com", "password": PASSWORD}, ["body", "email"]),
    ({"email": "sp ace@example.com", "password": PASSWORD}, ["body", "email"]),
    ({"email": 12345, "password": PASSWORD}, ["body", "email"]),
    ({"email": "ok@example.com"}, ["body", "password"]),
    ({"email": "ok@example.com", "password": 12345678}, ["body", "password"]),
    ({"email": "ok@example.com", "password": PASSWORD, "full_name": "x" * 256},
     ["body", "full_name"]),
    ({"email": "ok@example.com", "password": PASSWORD, "full_name": "bad\nname"},
     ["body", "full_name"]),
])
def test_register_validation_errors_422(api, body, loc):
    assert_validation_error(api.post(REGISTER, json=body), loc)


def test_register_missing_both_reports_both(api):
    detail = assert_validation_error(api.post(REGISTER, json={}))
    locs = [e["loc"] for e in detail]
    assert ["body", "email"] in locs and ["body", "password"] in locs, detail


@pytest.mark.parametrize("password", [
    "abcdefg",           # 7 ASCII characters
    "é" * 7,             # 7 code points, 14 bytes: bytes must not count
    "😀" * 7,            # 7 code points, 28 bytes
])
def test_register_short_password_422(api, password):
    detail = assert_validation_error(
        api.post(REGISTER, json={"email": unique_email(), "password": password}),
        ["body", "password"])
    assert any("8" in e["msg"] for e in detail), detail


@pytest.mark.parametrize("password", ["abcdefgh", "é" * 8, "😀" * 8])
def test_register_password_of_min_length_code_points_accepted(api, password):
    email = unique_email()
    api.register(email, password)
    assert_token_response(api.login(email, password))


@pytest.mark.parametrize("password", ["a" * 73, "é" * 37, "😀" * 19, "a" * 200])
def test_register_password_over_72_bytes_422_says_72(api, password):
    assert len(password.encode()) > 72
    detail = assert_validation_error(
        api.post(REGISTER, json={"email": unique_email(), "password": password}),
        ["body", "password"])
    assert any("72" in e["msg"] for e in detail), detail


def test_password_of_exactly_72_bytes_works_and_is_not_truncated_at_login(api):
    email = unique_email()
    pw = "b" * 70 + "é"      # 71 code points, exactly 72 bytes
    assert len(pw.encode()) == 72
    api.register(email, pw)
    assert_token_response(api.login(email, pw))
    # A longer password sharing the first 72 bytes must not log in (no silent truncation).
    r = api.login(email, pw + "X", expect=None)
    assert r.status_code == 401, r.text
    r = api.login(email, pw[:-1] + "e", expect=None)
    assert r.status_code == 401, r.text


@pytest.mark.parametrize("ctype", ["text/plain", "application/x-www-form-urlencoded",
                                   "multipart/form-data; boundary=x", None])
def test_register_non_json_content_type_415(api, srv, ctype):
    headers = {"Content-Type": ctype} if ctype else {}
    body = b'{"email": "ct@example.com", "password": "correct horse battery"}'
    r = api.post(REGISTER, data=body, headers=headers)
    if ctype is None:
        # requests sends no Content-Type for bytes data
        assert "Content-Type" not in r.request.headers
    assert r.status_code == 415, r.text
    assert isinstance(r.json()["detail"], str)


@pytest.mark.parametrize("body", [
    b'{"email": "x@example.com", "password": ',
    b"{'email': 'x@example.com'}",
    b"not json",
    b"[1, 2]",
    b'"a string"',
])
def test_register_malformed_json_422(api, body):
    r = api.post(REGISTER, data=body, headers={"Content-Type": "application/json"})
    assert_validation_error(r)


def test_register_duplicate_json_keys_422(api):
    email = unique_email()
    body = ('{"email": "%s", "password": "%s", "email": "other-%s"}'
            % (email, PASSWORD, email)).encode()
    r = api.post(REGISTER, data=body, headers={"Content-Type": "application/json"})
    assert_validation_error(r)
    # nothing was created under either address
    assert api.login(email, expect=None).status_code == 401


def test_min_length_comes_from_configuration(server_factory):
    srv = server_factory(env={"PASSWORD_MIN_LENGTH": "12", **HIGH_LIMITS})
    api = Api(srv)
    for pw in ("a" * 11, "é" * 11):
        detail = assert_validation_error(
            api.post(REGISTER, json={"email": unique_email(), "password": pw}),
            ["body", "password"])
        assert any("12" in e["msg"] for e in detail), detail
    api.register(unique_email(), "é" * 12)      # 12 code points, 24 bytes


# ---------------------------------------------------------------- login

def test_login_json_returns_token_pair(api, srv):
    acct_email = unique_email()
    user = api.register(acct_email).json()
    r = api.post(LOGIN, json={"email": acct_email, "password": PASSWORD})
    body = assert_token_response(r)
    assert body["expires_in"] == 15 * 60
    assert abs(body["refresh_expires_in"] - 7 * 86400) <= 2
    me = api.me(body["access_token"])
    assert me.status_code == 200 and me.json()["id"] == user["id"]


def test_login_form_encoded_username_password(api):
    email = unique_email()
    user = api.register(email).json()
    r = api.post(LOGIN, data={"username": email, "password": PASSWORD})
    assert r.request.headers["Content-Type"] == "application/x-www-form-urlencoded"
    body = assert_token_response(r)
    assert api.me(body["access_token"]).json()["id"] == user["id"]


def test_login_email_is_case_insensitive_and_trimmed(api):
    email = unique_email()
    api.register(email)
    assert_token_response(api.post(LOGIN, json={"email": "  " + email.upper() + " ",
                                                 "password": PASSWORD}))


def test_wrong_password_and_unknown_email_same_401(api):
    email = unique_email()
    api.register(email)
    wrong = api.post(LOGIN, json={"email": email, "password": "wrong password!"})
    unknown = api.post(LOGIN, json={"email": unique_email("nobody"), "password": PASSWORD})
    form_wrong = api.post(LOGIN, data={"username": email, "password": "wrong password!"})
    for r in (wrong, unknown, form_wrong):
        assert r.status_code == 401, r.text
        assert r.json() == {"detail": "Incorrect email or password"}
        assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")
    assert wrong.content == unknown.content == form_wrong.content
    assert wrong.headers.get("WWW-Authenticate") == unknown.headers.get("WWW-Authenticate")


def test_disabled_account_403_only_with_correct_password(api, srv):
    email = unique_email("disabled")
    user = api.register(email).json()
    set_active(srv, user["id"], False)
    r = api.login(email, PASSWORD, expect=None)
    assert r.status_code == 403, r.text
    assert isinstance(r.json()["detail"], str)
    assert "access_token" not in r.text
    r = api.login(email, "wrong password!", expect=None)
    assert r.status_code == 401, r.text
    assert r.json() == {"detail": "Incorrect email or password"}
    set_active(srv, user["id"], True)
    assert_token_response(api.login(email, PASSWORD, expect=None))


@pytest.mark.parametrize("kind,payload,loc", [
    ("json", {"password": PASSWORD}, ["body", "email"]),
    ("json", {"email": "x@example.com"}, ["body", "password"]),
    ("json", {"email": "x@example.com", "password": 5}, ["body", "password"]),
    ("form", {"password": PASSWORD}, ["body", "username"]),
    ("form", {"username": "x@example.com"}, ["body", "password"]),
])
def test_login_missing_fields_422(api, kind, payload, loc):
    if kind == "json":
        r = api.post(LOGIN, json=payload)
    else:
        r = api.post(LOGIN, data=payload)
    assert_validation_error(r, loc)


def test_login_text_plain_415_and_bad_json_422(api):
    r = api.post(LOGIN, data=b'{"email":"a@example.com","password":"x"}',
                 headers={"Content-Type": "text/plain"})
    assert r.status_code == 415, r.text
    r = api.post(LOGIN, data=b'{"email":', headers={"Content-Type": "application/json"})
    assert_validation_error(r)


# ---------------------------------------------------------------- /users/me

def test_me_get_returns_user(api):
    a = new_user(api, full_name="Grace Hopper")
    r = api.me(a.access)
    assert r.status_code == 200, r.text
    u = r.json()
    assert set(u) == USER_KEYS
    assert u == a.user
    _, claims, _ = token_parts(a.access)
    assert claims["sub"] == u["id"]


def test_me_without_token_401_not_authenticated(api):
    r = api.get(ME)
    assert r.status_code == 401
    assert r.json() == {"detail": "Not authenticated"}
    assert r.headers.get("WWW-Authenticate") == "Bearer"


def test_me_patch_full_name(api):
    a = new_user(api, full_name="Old Name")
    r = api.patch(ME, json={"full_name": "New Name ✓"}, headers=a.headers)
    assert r.status_code == 200, r.text
    assert r.json()["full_name"] == "New Name ✓"
    assert set(r.json()) == USER_KEYS
    assert api.me(a.access).json()["full_name"] == "New Name ✓"
    r = api.patch(ME, json={"full_name": "n" * 255}, headers=a.headers)
    assert r.status_code == 200, r.text
    assert r.json()["full_name"] == "n" * 255


@pytest.mark.parametrize("name", ["x" * 256, "tab\there", 42])
def test_me_patch_invalid_full_name_422(api, name):
    a = new_user(api, full_name="Kept")
    r = api.patch(ME, json={"full_name": name}, headers=a.headers)
    assert_validation_error(r, ["body", "full_name"])
    assert api.me(a.access).json()["full_name"] == "Kept"


def test_me_patch_requires_token(api):
    r = api.patch(ME, json={"full_name": "x"})
    assert r.status_code == 401
    assert r.json() == {"detail": "Not authenticated"}


def test_me_delete_wrong_password_400_then_right_password_204(api):
    a = new_user(api)
    r = api.delete(ME, json={"password": "not my password"}, headers=a.headers)
    assert r.status_code == 400, r.text
    assert r.json() == {"detail": "Incorrect password"}
    assert api.me(a.access).status_code == 200     # nothing happened
    r = api.delete(ME, json={}, headers=a.headers)
    assert_validation_error(r, ["body", "password"])

    r = api.delete(ME, json={"password": PASSWORD}, headers=a.headers)
    assert r.status_code == 204, r.text
    assert r.content == b""
    assert_invalid_token(api.me(a.access), "token of a deleted account")
    assert api.refresh(a.refresh).status_code == 401
    r = api.login(a.email, expect=None)
    assert r.status_code == 401
    assert r.json() == {"detail": "Incorrect email or password"}
    # the address is free again
    api.register(a.email)


# ---------------------------------------------------------------- bcrypt from elsewhere

def _foreign_hash(prefix, password, rounds=4):
    h = bcrypt.hashpw(password.encode(), bcrypt.gensalt(rounds=rounds, prefix=b"2b"
                                                         if prefix == "2y" else prefix.encode()))
    h = h.decode()
    if prefix == "2y":
        h = "$2y$" + h[4:]
    assert h.startswith(f"${prefix}${rounds:02d}$"), h
    return h


@pytest.mark.parametrize("prefix", ["2b", "2a", "2y"])
def test_hash_from_python_bcrypt_logs_in(api, srv, prefix):
    email = unique_email(f"py{prefix}")
    pw = "made elsewhere ✓ " + prefix
    uid = insert_user(srv.env["DATABASE_URL"], email, _foreign_hash(prefix, pw))
    r = api.login(email, pw, expect=None)
    body = assert_token_response(r)
    me = api.me(body["access_token"])
    assert me.status_code == 200 and me.json()["id"] == uid
    assert api.login(email, pw + "x", expect=None).status_code == 401


def test_low_cost_hash_upgraded_on_successful_login(server_factory):
    srv = server_factory(env={"PASSWORD_BCRYPT_ROUNDS": "5", **HIGH_LIMITS})
    api = Api(srv)
    url = srv.env["DATABASE_URL"]
    email = unique_email("upgrade")
    pw = "old cost four"
    old = _foreign_hash("2b", pw, rounds=4)
    uid = insert_user(url, email, old)

    # a failed login changes nothing
    assert api.login(email, "wrong password", expect=None).status_code == 401
    assert user_row(url, uid)[2] == old

    assert_token_response(api.login(email, pw, expect=None))
    stored = user_row(url, uid)[2]
    assert stored != old
    assert stored.startswith("$2b$05$"), stored
    assert bcrypt.checkpw(pw.encode(), stored.encode())
    assert not bcrypt.checkpw(b"wrong password", stored.encode())
    # still logs in, and the hash stays put now that it is strong enough
    assert_token_response(api.login(email, pw, expect=None))
    assert user_row(url, uid)[2] == stored


def test_registration_hash_uses_configured_cost_and_2b(api, srv):
    a = new_user(api)
    stored = user_row(srv.env["DATABASE_URL"], a.id)[2]
    assert stored.startswith("$2b$04$"), stored
    assert bcrypt.checkpw(PASSWORD.encode(), stored.encode())


# ---------------------------------------------------------------- audit

def test_login_failed_and_succeeded_are_audited(api, srv):
    email = unique_email("audit")
    user = api.register(email).json()
    ua_fail, ua_ok = "audit-test-fail/1.0", "audit-test-ok/1.0"
    assert api.login(email, "wrong password", expect=None, user_agent=ua_fail).status_code == 401
    api.login(email, PASSWORD, user_agent=ua_ok)
    rows = db_query(srv.env["DATABASE_URL"],
                    "SELECT event, user_id, ip, user_agent, created_at FROM audit_events "
                    f"WHERE user_id = {sql_str(user['id'])} ORDER BY id")
    events = {r[0]: r for r in rows}
    assert "login_failed" in events, rows
    assert "login_succeeded" in events, rows
    now = time.time()
    for event, ua in (("login_failed", ua_fail), ("login_succeeded", ua_ok)):
        _, uid, ip, agent, created = events[event]
        assert uid == user["id"]
        assert ip == "127.0.0.1", events[event]
        assert agent == ua, events[event]
        assert now - 60 <= int(created) <= now + 5, events[event]
    names = [r[0] for r in rows]
    assert names.index("login_failed") < names.index("login_succeeded")


def test_login_failed_for_unknown_account_is_audited(api, srv):
    ua = "audit-unknown-" + unique_email()[:12]
    api.login(unique_email("ghost"), PASSWORD, expect=401, user_agent=ua)
    rows = db_query(srv.env["DATABASE_URL"],
                    "SELECT event, ip FROM audit_events "
                    f"WHERE user_agent = {sql_str(ua)}")
    assert rows == [["login_failed", "127.0.0.1"]], rows


# ---------------------------------------------------------------- error paths release memory

def test_validation_error_paths_shut_down_clean(server_factory):
    """Every 4xx path of the JSON endpoints, then a clean SIGTERM exit: with
    the sanitizer build (AUTH_BIN=build-asan/...) a request that leaks its
    parsed body makes LeakSanitizer report at exit and this test fail here,
    next to the request that leaked, rather than at some module's teardown."""
    srv = server_factory(env=HIGH_LIMITS)
    api = Api(srv)
    a = new_user(api)
    json_bad = [{}, {"email": 1, "password": 2}, {"password": "x"}, {"email": "a@example.com"}]
    for body in json_bad:
        assert api.post(REGISTER, json=body).status_code == 422
        assert api.post(LOGIN, json=body).status_code == 422
        assert api.post("/api/v1/auth/refresh", json=body).status_code == 422
    assert api.post(LOGIN, data={"username": "a@example.com"}).status_code == 422
    assert api.post(LOGIN, data=b'{"email":', headers={
        "Content-Type": "application/json"}).status_code == 422
    assert api.post(LOGIN, data=b'{"email":"a@example.com","email":"b@example.com",'
                                b'"password":"x"}',
                    headers={"Content-Type": "application/json"}).status_code == 422
    assert api.patch(ME, json={"full_name": 5}, headers=a.headers).status_code == 422
    assert api.delete(ME, json={}, headers=a.headers).status_code == 422
    assert api.post("/api/v1/auth/logout", json={"refresh_token": 5},
                    headers=a.headers).status_code == 422
    rc = srv.stop()          # fails the test on a sanitizer report
    assert rc == 0, srv.describe()
