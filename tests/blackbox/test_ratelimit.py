"""Rate limits (SPEC section 2): failed logins per client address + account,
credential-endpoint requests per client address, 429 + Retry-After, and the
client address taken from X-Forwarded-For only behind TRUSTED_PROXIES; plus
RATE_LIMIT_ACCOUNT_PER_HOUR, failed logins per account from all addresses.

Each test uses its own client address (a random X-Forwarded-For value behind
a trusted loopback proxy) or its own account, so counters shared through
Redis in the PostgreSQL + Redis pass never collide with other tests'.
"""
import random

import requests

from helpers import PASSWORD, unique_email

TRUST_LOOPBACK = {"TRUSTED_PROXIES": "127.0.0.1/32"}


def fake_client():
    """A random private address: a fresh rate-limit key for each call."""
    return "10.%d.%d.%d" % (random.randint(0, 255), random.randint(0, 255),
                            random.randint(1, 254))


def post_json(srv, path, body, client=None):
    headers = {"X-Forwarded-For": client} if client else {}
    return requests.post(srv.url(path), json=body, headers=headers, timeout=30)


def register(srv, email, client=None):
    return post_json(srv, "/api/v1/auth/register", {"email": email, "password": PASSWORD}, client)


def login(srv, email, password, client=None):
    return post_json(srv, "/api/v1/auth/login", {"email": email, "password": password}, client)


def assert_429(r, window=60):
    assert r.status_code == 429, (r.status_code, r.text)
    assert isinstance(r.json().get("detail"), str)
    retry = int(r.headers["Retry-After"])
    assert 1 <= retry <= window


def test_failed_logins_per_address_and_account(server_factory):
    srv = server_factory(env={"RATE_LIMIT_LOGIN_PER_MINUTE": "3", **TRUST_LOOPBACK})
    client = fake_client()
    email = unique_email("rl")
    assert register(srv, email, client).status_code == 201
    for _ in range(3):
        assert login(srv, email, "wrong password!", client).status_code == 401
    # The fourth attempt is refused before any password check, even a correct one.
    assert_429(login(srv, email, "wrong password!", client))
    assert_429(login(srv, email, PASSWORD, client))
    # Another address, or another account from this address, is not affected.
    assert login(srv, email, PASSWORD, fake_client()).status_code == 200
    other = unique_email("rl")
    assert register(srv, other, client).status_code == 201
    assert login(srv, other, PASSWORD, client).status_code == 200


def test_successful_login_clears_the_failure_count(server_factory):
    srv = server_factory(env={"RATE_LIMIT_LOGIN_PER_MINUTE": "3", **TRUST_LOOPBACK})
    client = fake_client()
    email = unique_email("rl")
    assert register(srv, email, client).status_code == 201
    for _ in range(2):
        assert login(srv, email, "wrong password!", client).status_code == 401
    assert login(srv, email, PASSWORD, client).status_code == 200
    for _ in range(3):
        assert login(srv, email, "wrong password!", client).status_code == 401
    assert_429(login(srv, email, "wrong password!", client))


def test_unknown_accounts_are_limited_too(server_factory):
    srv = server_factory(env={"RATE_LIMIT_LOGIN_PER_MINUTE": "2", **TRUST_LOOPBACK})
    client = fake_client()
    email = unique_email("nobody")
    for _ in range(2):
        assert login(srv, email, "whatever pass", client).status_code == 401
    assert_429(login(srv, email, "whatever pass", client))


def test_credential_endpoints_per_address(server_factory):
    srv = server_factory(env={"RATE_LIMIT_IP_PER_MINUTE": "4", **TRUST_LOOPBACK})
    client = fake_client()
    email = unique_email("rl")
    assert register(srv, email, client).status_code == 201
    assert login(srv, email, PASSWORD, client).status_code == 200
    r = requests.post(srv.url("/oauth/token"), headers={"X-Forwarded-For": client},
                      data={"grant_type": "password", "username": email, "password": PASSWORD},
                      timeout=30)
    assert r.status_code == 200, r.text
    assert post_json(srv, "/api/v1/auth/password/forgot", {"email": email},
                     client).status_code == 202
    # Fifth credential request from this address within the minute.
    assert_429(login(srv, email, PASSWORD, client))
    assert_429(register(srv, unique_email("rl"), client))
    # Other addresses and non-credential endpoints are unaffected.
    assert login(srv, email, PASSWORD, fake_client()).status_code == 200
    assert requests.get(srv.url("/api/v1/health"), headers={"X-Forwarded-For": client},
                        timeout=30).status_code == 200


def test_forwarded_for_is_ignored_without_trusted_proxies(server_factory):
    """Without TRUSTED_PROXIES a client cannot dodge the limit by inventing
    X-Forwarded-For values: every request counts for the real peer."""
    srv = server_factory(env={"RATE_LIMIT_LOGIN_PER_MINUTE": "2"})
    email = unique_email("rl")
    assert register(srv, email).status_code == 201
    for _ in range(2):
        assert login(srv, email, "wrong password!", fake_client()).status_code == 401
    assert_429(login(srv, email, "wrong password!", fake_client()))


ACCOUNT_CAP = {"RATE_LIMIT_ACCOUNT_PER_HOUR": "4", **TRUST_LOOPBACK}


def test_failed_logins_per_account_across_addresses(server_factory):
    """A botnet spreading guesses over many addresses (each under the
    per-address limit) still gets RATE_LIMIT_ACCOUNT_PER_HOUR per account."""
    srv = server_factory(env=ACCOUNT_CAP)
    email = unique_email("acct")
    assert register(srv, email, fake_client()).status_code == 201
    for _ in range(4):
        assert login(srv, email, "wrong password!", fake_client()).status_code == 401
    # A fifth address, even with the right password: the account is capped.
    r = login(srv, email, PASSWORD, fake_client())
    assert_429(r, window=3600)
    assert r.json() == {"detail": "Too many failed login attempts, retry later"}
    # Other accounts are not affected.
    other = unique_email("acct")
    assert register(srv, other, fake_client()).status_code == 201
    assert login(srv, other, PASSWORD, fake_client()).status_code == 200


def test_account_cap_is_not_reset_by_a_success(server_factory):
    """The owner's successful login does not hand a guesser a fresh budget."""
    srv = server_factory(env=ACCOUNT_CAP)
    email = unique_email("acct")
    assert register(srv, email, fake_client()).status_code == 201
    for _ in range(3):
        assert login(srv, email, "wrong password!", fake_client()).status_code == 401
    assert login(srv, email, PASSWORD, fake_client()).status_code == 200
    assert login(srv, email, "wrong password!", fake_client()).status_code == 401
    assert_429(login(srv, email, PASSWORD, fake_client()), window=3600)


def test_account_cap_treats_unknown_emails_alike(server_factory):
    """No enumeration through the cap: an unknown email is capped the same way."""
    srv = server_factory(env=ACCOUNT_CAP)
    known, unknown = unique_email("acct"), unique_email("nobody")
    assert register(srv, known, fake_client()).status_code == 201
    answers = {}
    for email in (known, unknown):
        seq = [login(srv, email, "wrong password!", fake_client()) for _ in range(5)]
        answers[email] = [(r.status_code, r.content) for r in seq]
    assert answers[known] == answers[unknown]
    assert [code for code, _ in answers[known]] == [401] * 4 + [429]
