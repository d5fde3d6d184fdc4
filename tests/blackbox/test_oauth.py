"""OAuth 2.0 endpoints for standard clients: /oauth/token (RFC 6749 password
and refresh_token grants, section 5.1 / 5.2 bodies) and /oauth/revoke
(RFC 7009)."""

import pytest

from helpers import (PASSWORD, Api, assert_invalid_token, assert_token_response, new_user,
                     set_active, token_parts, unique_email)
from helpers import _module_servers_in_reports, module_server_factory  # noqa: F401 (fixtures)

TOKEN = "/oauth/token"
REVOKE = "/oauth/revoke"


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory()


@pytest.fixture(scope="module")
def strict_srv(module_server_factory):
    """No reuse grace, so a spent refresh token is plainly refused."""
    return module_server_factory(env={"REFRESH_TOKEN_REUSE_INTERVAL_SECONDS": "0"})


@pytest.fixture
def api(srv):
    return Api(srv)


@pytest.fixture
def sapi(strict_srv):
    return Api(strict_srv)


def assert_oauth_error(r, error, status=400):
    assert r.status_code == status, r.text
    assert r.headers.get("Content-Type", "").split(";")[0].strip() == "application/json"
    body = r.json()
    assert body.get("error") == error, body
    assert set(body) <= {"error", "error_description", "error_uri"}, body
    if "error_description" in body:
        assert isinstance(body["error_description"], str)
    assert "no-store" in r.headers.get("Cache-Control", ""), r.headers
    return body


def assert_oauth_token(r):
    """RFC 6749 5.1 (a superset: refresh_expires_in is an extension)."""
    assert r.status_code == 200, r.text
    assert r.headers.get("Content-Type", "").split(";")[0].strip() == "application/json"
    assert r.headers.get("Cache-Control") == "no-store"
    assert r.headers.get("Pragma") == "no-cache"
    body = r.json()
    assert isinstance(body["access_token"], str) and body["access_token"].count(".") == 2
    assert body["token_type"].lower() == "bearer"
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert isinstance(body["refresh_token"], str) and body["refresh_token"]
    return body


def password_grant(api, email, password=PASSWORD, **extra):
    return api.post(TOKEN, data=dict({"grant_type": "password", "username": email,
                                      "password": password}, **extra))


# ---------------------------------------------------------------- token: password grant

def test_password_grant(api):
    email = unique_email()
    user = api.register(email).json()
    r = password_grant(api, email)
    body = assert_oauth_token(r)
    me = api.me(body["access_token"])
    assert me.status_code == 200 and me.json()["id"] == user["id"]


def test_password_grant_ignores_client_id(api):
    email = unique_email()
    api.register(email)
    assert_oauth_token(password_grant(api, email, client_id="some-public-client", scope=""))


def test_password_grant_form_with_charset_and_plus_in_email(api):
    email = "plus+" + unique_email()
    api.register(email)
    body = ("grant_type=password&username=" + email.replace("+", "%2B").replace("@", "%40")
            + "&password=" + PASSWORD.replace(" ", "+"))
    r = api.post(TOKEN, data=body.encode(), headers={
        "Content-Type": "application/x-www-form-urlencoded; charset=UTF-8"})
    assert_oauth_token(r)

def test_password_grant_wrong_password_or_unknown_user_invalid_grant(api):
    email = unique_email()
    api.register(email)
    wrong = assert_oauth_error(password_grant(api, email, "wrong password"), "invalid_grant")
    unknown = assert_oauth_error(password_grant(api, unique_email("ghost")), "invalid_grant")
    assert wrong == unknown


def test_password_grant_disabled_account_invalid_grant(api, srv):
    a = new_user(api)
    set_active(srv, a.id, False)
    try:
        assert_oauth_error(password_grant(api, a.email), "invalid_grant")
    finally:
        set_active(srv, a.id, True)


@pytest.mark.parametrize("form", [
    {"grant_type": "password", "password": PASSWORD},
    {"grant_type": "password", "username": "x@example.com"},
    {"grant_type": "refresh_token"},
    {"username": "x@example.com", "password": PASSWORD},
    {},
])
def test_token_missing_parameters_invalid_request(api, form):
    assert_oauth_error(api.post(TOKEN, data=form, headers={
        "Content-Type": "application/x-www-form-urlencoded"}), "invalid_request")


@pytest.mark.parametrize("grant", ["client_credentials", "authorization_code", "PASSWORD",
                                   "urn:ietf:params:oauth:grant-type:device_code"])
def test_unsupported_grant_type(api, grant):
    assert_oauth_error(api.post(TOKEN, data={"grant_type": grant, "username": "a@example.com",
                                            "password": PASSWORD}),
                       "unsupported_grant_type")


def test_token_with_json_body_invalid_request(api):
    email = unique_email()
    api.register(email)
    r = api.post(TOKEN, json={"grant_type": "password", "username": email,
                              "password": PASSWORD})
    assert_oauth_error(r, "invalid_request")


# ---------------------------------------------------------------- token: refresh grant

def test_refresh_token_grant_rotates(api, sapi):
    for client in (api, sapi):
        email = unique_email()
        client.register(email)
        first = assert_oauth_token(password_grant(client, email))
        r = client.post(TOKEN, data={"grant_type": "refresh_token",
                                     "refresh_token": first["refresh_token"]})
        second = assert_oauth_token(r)
        assert second["refresh_token"] != first["refresh_token"]
        assert second["access_token"] != first["access_token"]
        assert (token_parts(second["access_token"])[1]["sid"]
                == token_parts(first["access_token"])[1]["sid"])
        assert client.me(second["access_token"]).status_code == 200
    # without the reuse grace the spent token is refused with invalid_grant
    r = sapi.post(TOKEN, data={"grant_type": "refresh_token",
                               "refresh_token": first["refresh_token"]})
    assert_oauth_error(r, "invalid_grant")


def test_refresh_token_grant_garbage_invalid_grant(api):
    for tok in ("garbage", "A" * 43, "x" * 1000):
        assert_oauth_error(api.post(TOKEN, data={"grant_type": "refresh_token",
                                                 "refresh_token": tok}), "invalid_grant")


def test_refresh_token_grant_accepts_tokens_from_the_json_api(api):
    a = new_user(api)
    assert_oauth_token(api.post(TOKEN, data={"grant_type": "refresh_token",
                                             "refresh_token": a.refresh}))


# ---------------------------------------------------------------- revoke

def test_revoke_refresh_token(api):
    a = new_user(api)
    r = api.post(REVOKE, data={"token": a.refresh, "token_type_hint": "refresh_token"})
    assert r.status_code == 200, r.text
    assert api.refresh(a.refresh).status_code == 401
    assert_oauth_error(api.post(TOKEN, data={"grant_type": "refresh_token",
                                             "refresh_token": a.refresh}), "invalid_grant")


def test_revoke_refresh_token_without_hint(api):
    a = new_user(api)
    assert api.post(REVOKE, data={"token": a.refresh}).status_code == 200
    assert api.refresh(a.refresh).status_code == 401


def test_revoke_refresh_token_with_wrong_hint(api):
    """RFC 7009 2.1: a wrong hint must not stop the server finding the token."""
    a = new_user(api)
    r = api.post(REVOKE, data={"token": a.refresh, "token_type_hint": "access_token"})
    assert r.status_code == 200, r.text
    r = api.refresh(a.refresh)
    assert r.status_code == 401, \
        f"refresh token revoked with token_type_hint=access_token still refreshes: {r.text}"


def test_revoke_access_token(api):
    a = new_user(api)
    r = api.post(REVOKE, data={"token": a.access, "token_type_hint": "access_token"})
    assert r.status_code == 200, r.text
    assert_invalid_token(api.me(a.access), "revoked access token")
    # a new login is unaffected
    assert api.me(api.tokens(a.email)["access_token"]).status_code == 200


def test_revoke_access_token_without_hint_or_wrong_hint(api):
    for hint in (None, "refresh_token"):
        a = new_user(api)
        form = {"token": a.access}
        if hint:
            form["token_type_hint"] = hint
        assert api.post(REVOKE, data=form).status_code == 200
        assert_invalid_token(api.me(a.access), f"revoked with hint {hint}")


@pytest.mark.parametrize("token", ["garbage", "a.b.c", "A" * 43, "x" * 2000])
def test_revoke_garbage_200(api, token):
    r = api.post(REVOKE, data={"token": token})
    assert r.status_code == 200, r.text


def test_revoke_does_not_touch_other_tokens(api):
    a = new_user(api)
    b = new_user(api)
    assert api.post(REVOKE, data={"token": a.refresh}).status_code == 200
    assert api.me(b.access).status_code == 200
    assert_token_response(api.refresh(b.refresh))


def test_revoke_missing_token_invalid_request(api):
    assert_oauth_error(api.post(REVOKE, data={"token_type_hint": "access_token"}),
                       "invalid_request")
    assert_oauth_error(api.post(REVOKE, data={}, headers={
        "Content-Type": "application/x-www-form-urlencoded"}), "invalid_request")


def test_revoke_json_body_invalid_request(api):
    a = new_user(api)
    assert_oauth_error(api.post(REVOKE, json={"token": a.refresh}), "invalid_request")
    assert_token_response(api.refresh(a.refresh))      # not revoked
