"""Findings of the security review (issue 13, docs/security.md "Review
findings"), each observable one tested here against the real binary:

5. password/reset is under the per-address limit; wrong current passwords
   (password/change, DELETE /users/me) count toward the login caps, so a
   stolen access token does not buy unlimited guesses.
9. /oauth/token answers its 429 / 503 in the RFC 6749 error shape; the
   discovery document lists only what is served; DEBUG=true logs more.
"""
import random

import requests

from conftest import wait_until
from helpers import PASSWORD, Api, bearer, new_user

TRUST_LOOPBACK = {"TRUSTED_PROXIES": "127.0.0.1/32"}


def fake_client():
    return "10.%d.%d.%d" % (random.randint(0, 255), random.randint(0, 255),
                            random.randint(1, 254))


# ---------------------------------------------------------------- 5. CPU drain

def test_password_reset_counts_toward_the_address_limit(server_factory):
    srv = server_factory(env={"RATE_LIMIT_IP_PER_MINUTE": "3", **TRUST_LOOPBACK})
    client = fake_client()
    body = {"token": "not-a-real-token", "new_password": "a long new password"}
    for _ in range(3):
        r = requests.post(srv.url("/api/v1/auth/password/reset"), json=body,
                          headers={"X-Forwarded-For": client}, timeout=30)
        assert r.status_code == 400, r.text
    r = requests.post(srv.url("/api/v1/auth/password/reset"), json=body,
                      headers={"X-Forwarded-For": client}, timeout=30)
    assert r.status_code == 429, r.text
    assert int(r.headers["Retry-After"]) >= 1
    # Another address is not affected.
    r = requests.post(srv.url("/api/v1/auth/password/reset"), json=body,
                      headers={"X-Forwarded-For": fake_client()}, timeout=30)
    assert r.status_code == 400


def test_wrong_current_passwords_hit_the_login_cap(server_factory):
    srv = server_factory(env={"RATE_LIMIT_LOGIN_PER_MINUTE": "3"})
    api = Api(srv)
    acct = new_user(api)
    wrong_change = {"current_password": "not the password", "new_password": "another password 1"}
    for _ in range(2):
        r = api.post("/api/v1/auth/password/change", json=wrong_change, headers=acct.headers)
        assert r.status_code == 400 and r.json()["detail"] == "Incorrect password"
    r = api.delete("/api/v1/users/me", json={"password": "not the password"},
                   headers=acct.headers)
    assert r.status_code == 400
    # Three wrong guesses: the fourth is refused before any bcrypt, even the right one.
    r = api.delete("/api/v1/users/me", json={"password": PASSWORD}, headers=acct.headers)
    assert r.status_code == 429, r.text
    r = api.post("/api/v1/auth/password/change",
                 json={"current_password": PASSWORD, "new_password": "another password 1"},
                 headers=acct.headers)
    assert r.status_code == 429
    # The same counter as login's: the account's login from this address is capped too.
    assert api.login(acct.email, PASSWORD, expect=None).status_code == 429
    assert api.me(acct.access).status_code == 200  # the account itself is intact


def test_wrong_current_passwords_hit_the_account_cap(server_factory):
    srv = server_factory(env={"RATE_LIMIT_ACCOUNT_PER_HOUR": "2", **TRUST_LOOPBACK})
    api = Api(srv)
    acct = new_user(api)
    for _ in range(2):
        r = api.post("/api/v1/auth/password/change",
                     json={"current_password": "nope nope", "new_password": "another password 1"},
                     headers={**acct.headers, "X-Forwarded-For": fake_client()})
        assert r.status_code == 400
    r = api.post("/api/v1/auth/password/change",
                 json={"current_password": PASSWORD, "new_password": "another password 1"},
                 headers={**acct.headers, "X-Forwarded-For": fake_client()})
    assert r.status_code == 429, r.text


# ---------------------------------------------------------------- 9. smaller gaps

def test_oauth_token_rate_limit_is_an_rfc6749_error(server_factory):
    srv = server_factory(env={"RATE_LIMIT_IP_PER_MINUTE": "1", **TRUST_LOOPBACK})
    client = fake_client()
    form = {"grant_type": "password", "username": "x@example.com", "password": "whatever pw"}
    r = requests.post(srv.url("/oauth/token"), data=form, headers={"X-Forwarded-For": client},
                      timeout=30)
    assert r.status_code == 400 and r.json()["error"] == "invalid_grant"
    r = requests.post(srv.url("/oauth/token"), data=form, headers={"X-Forwarded-For": client},
                      timeout=30)
    assert r.status_code == 429
    body = r.json()
    assert body["error"] == "temporarily_unavailable", body
    assert isinstance(body["error_description"], str) and body["error_description"]
    assert "detail" not in body
    assert int(r.headers["Retry-After"]) >= 1
    assert r.headers["Cache-Control"] == "no-store"
    # The JSON API keeps FastAPI's shape for the same limit.
    r = requests.post(srv.url("/api/v1/auth/login"), json={"email": "x@example.com",
                      "password": "whatever pw"}, headers={"X-Forwarded-For": client}, timeout=30)
    assert r.status_code == 429 and isinstance(r.json()["detail"], str)


def test_discovery_lists_only_what_is_served(server_factory):
    srv = server_factory()
    doc = requests.get(srv.url("/.well-known/openid-configuration"), timeout=30).json()
    assert doc["grant_types_supported"] == ["password", "refresh_token"]
    assert doc["token_endpoint_auth_methods_supported"] == ["none"]
    assert "token_endpoint_auth_signing_alg_values_supported" not in doc
    assert doc["response_types_supported"] == []  # no authorization endpoint is served
    assert "authorization_endpoint" not in doc


def test_debug_true_logs_more_detail(server_factory):
    quiet = server_factory()
    loud = server_factory(env={"DEBUG": "true"})
    for srv in (quiet, loud):
        r = requests.get(srv.url("/api/v1/users/me"), headers=bearer("a.b.c"), timeout=30)
        assert r.status_code == 401
        assert "token refused" not in r.text  # never in the response
    wait_until(lambda: any(line.get("msg") == "request" for line in quiet.log_lines()),
               message="access log line of the quiet server")
    assert not any("token refused" in line.get("msg", "") for line in quiet.log_lines())
    wait_until(lambda: any("token refused" in line.get("msg", "") for line in loud.log_lines()),
               message="DEBUG line of the loud server")


# ---------------------------------------------------------------- 8. truncation

def long_email(tag, last):
    """A valid 254-character address whose last letter is `last`."""
    local = ("l" + tag)[:64].ljust(64, "x")
    domain = ".".join(["d" * 62, "e" * 62, "f" * 60]) + "." + "c" + last
    email = f"{local}@{domain}"
    assert len(email) == 254, len(email)
    return email


def test_long_emails_do_not_share_login_counters(server_factory):
    srv = server_factory(env={"RATE_LIMIT_LOGIN_PER_MINUTE": "2"})
    tag = "%08x" % random.getrandbits(32)
    a, b = long_email(tag, "a"), long_email(tag, "b")
    for _ in range(2):
        r = requests.post(srv.url("/api/v1/auth/login"), json={"email": a, "password": "wrong pass"},
                          timeout=30)
        assert r.status_code == 401, r.text
    r = requests.post(srv.url("/api/v1/auth/login"), json={"email": a, "password": "wrong pass"},
                      timeout=30)
    assert r.status_code == 429
    # The other address differs only in its last character: its own counter.
    r = requests.post(srv.url("/api/v1/auth/login"), json={"email": b, "password": "wrong pass"},
                      timeout=30)
    assert r.status_code == 401, r.text


# ---------------------------------------------------------------- 9. log masking

def test_staging_without_smtp_logs_no_recipient_and_no_token(server_factory):
    srv = server_factory(start=False, env={"ENVIRONMENT": "staging",
                                           "SECRET_KEY": "staging-secret-" + "z" * 25})
    rc, out, err = srv.run_cli(["migrate", "up"])
    assert rc == 0, err
    srv.start()
    email = "masked-%08x@example.com" % random.getrandbits(32)
    r = requests.post(srv.url("/api/v1/auth/register"),
                      json={"email": email, "password": PASSWORD}, timeout=30)
    assert r.status_code == 201, r.text
    wait_until(lambda: any("not sent (SMTP_HOST unset" in line.get("msg", "")
                           for line in srv.log_lines()), message="the outbox log line")
    wait_until(lambda: any("text [" in line.get("msg", "") for line in srv.log_lines()),
               message="the text part in the log")
    text = "\n".join(line.get("msg", "") for line in srv.log_lines())
    assert email not in text
    assert "m***@example.com" in text
    assert "token=" in text and "token=*" in text
    assert "development mode" not in text
