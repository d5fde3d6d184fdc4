"""Email: verification, password reset and change, through the outbox and real SMTP.

Every flow runs end to end against the real binary and a real SMTP server on
loopback (aiosmtpd, tests/blackbox/smtp_sink.py): the token is taken from the
captured email, never from the database.  Transport tests cover STARTTLS with
a private CA (SMTP_CA_FILE), refusal when STARTTLS is not offered or the
certificate is not trusted, implicit TLS, AUTH, SMTP outages and restarts
(exactly-once delivery), header injection and forged Host headers.

SMTP_SECURITY lets a test use a free port with the semantics of 587 or 465;
OUTBOX_RETRY_BASE_SECONDS=1 and OUTBOX_POLL_SECONDS=1 keep retries short.
"""

from email.utils import parseaddr, parsedate_to_datetime
import statistics
import threading
import time

import pytest
import requests

from conftest import db_query, free_port, raw_request, wait_until
from helpers import (HIGH_LIMITS, PASSWORD, Api, bearer, db_exec, module_server_factory,  # noqa: F401
                     _module_servers_in_reports, set_active, sql_str, unique_email)
from smtp_sink import Certs, Sink

FRONTEND = "https://app.example.test"
SENDER = "noreply@auth.example.test"
VERIFY_PREFIX = FRONTEND + "/verify-email?token="
RESET_PREFIX = FRONTEND + "/reset-password?token="
NEW_PASSWORD = "a brand new passphrase"
FORGOT_BODY = {"detail": "If an account with that email exists, a password reset link has been sent"}


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def certs(tmp_path_factory):
    return Certs.make(tmp_path_factory.mktemp("certs"))


@pytest.fixture
def make_sink(certs):
    """make_sink(mode="starttls", port=None, users=None, start=True) -> Sink."""
    sinks = []

    def make(mode="starttls", port=None, users=None, start=True):
        s = Sink(mode, port=port, certs=certs, users=users)
        sinks.append(s)
        if start:
            s.start()
        return s
    yield make
    for s in sinks:
        s.stop()


def mail_env(port, security, certs=None, **extra):
    env = {"SMTP_HOST": "127.0.0.1", "SMTP_PORT": str(port), "SMTP_SECURITY": security,
           "SMTP_FROM": SENDER, "FRONTEND_URL": FRONTEND,
           "OUTBOX_RETRY_BASE_SECONDS": "1", "OUTBOX_POLL_SECONDS": "1"}
    env.update(HIGH_LIMITS)
    if certs is not None:
        env["SMTP_CA_FILE"] = certs.ca_pem
    env.update({k: str(v) for k, v in extra.items()})
    return env


@pytest.fixture(scope="module")
def flow(certs, module_server_factory):
    """One STARTTLS sink and one server for the flow tests (unique emails keep
    them apart)."""
    sink = Sink("starttls", certs=certs).start()
    srv = module_server_factory(mail_env(sink.port, "starttls", certs, APP_NAME="Acme Auth"))
    yield sink, srv, Api(srv)
    sink.stop()


def outbox_rows(srv, recipient):
    """(id, attempts, sent_at, failed_at, last_error) of the recipient's messages."""
    return db_query(srv.env["DATABASE_URL"],
                    "SELECT id, attempts, sent_at, failed_at, last_error FROM email_outbox "
                    f"WHERE recipient = {sql_str(recipient)} ORDER BY id")


def wait_for_failed_attempt(srv, recipient, timeout=15):
    def failed():
        rows = outbox_rows(srv, recipient)
        return rows if rows and int(rows[0][1]) >= 1 and rows[0][4] else None
    return wait_until(failed, timeout=timeout, interval=0.1,
                      message=f"a failed delivery attempt to {recipient}")


def register(api, email=None, full_name=None, password=PASSWORD):
    email = email or unique_email("mail")
    r = api.register(email, password, full_name)
    return email, r.json()


def login(api, email, password=PASSWORD):
    return api.tokens(email, password)


def assert_never_delivered(sink, email, seconds=2.0):
    time.sleep(seconds)
    assert sink.for_rcpt(email) == [], f"unexpected email to {email}"


# --------------------------------------------------------------------------
# registration and verification
# --------------------------------------------------------------------------

def test_register_sends_a_well_formed_verification_email(flow):
    sink, srv, api = flow
    email, user = register(api, full_name="Ada Lovelace")
    m = sink.wait_for_rcpt(email)
    assert m.tls, "delivered without STARTTLS"
    assert m.mail_from == SENDER
    assert m.rcpt_tos == [email]
    msg = m.msg
    assert msg["To"] == email
    assert parseaddr(msg["From"])[1] == SENDER
    assert "Acme Auth" in msg["Subject"]
    assert msg["MIME-Version"] == "1.0"
    assert parsedate_to_datetime(msg["Date"]) is not None
    assert msg["Message-ID"].startswith("<") and msg["Message-ID"].endswith("@auth.example.test>")
    assert msg.get_content_type() == "multipart/alternative"
    assert [p.get_content_type() for p in msg.iter_parts()] == ["text/plain", "text/html"]
    assert "Ada Lovelace" in m.text
    for name in ("From", "To", "Subject", "Date", "Message-ID", "MIME-Version"):
        assert m.header_names().count(name) == 1, m.header_names()
    token = m.token(VERIFY_PREFIX)
    assert len(token) >= 43
    assert f'href="{VERIFY_PREFIX}{token}"' in m.html
    # Sent once, marked sent.
    rows = outbox_rows(srv, email)
    assert len(rows) == 1 and rows[0][2], rows


def test_verify_email_flow(flow):
    sink, srv, api = flow
    email, user = register(api)
    assert user["is_verified"] is False
    tokens = login(api, email)
    token = sink.wait_for_rcpt(email).token(VERIFY_PREFIX)

    r = api.post("/api/v1/auth/verify-email", json={"token": token})
    assert r.status_code == 200, r.text
    body = r.json()
    assert body["is_verified"] is True and body["email"] == email and body["id"] == user["id"]
    assert api.me(tokens["access_token"]).json()["is_verified"] is True
    # Single use.
    r = api.post("/api/v1/auth/verify-email", json={"token": token})
    assert r.status_code == 400 and r.json() == {"detail": "Invalid or expired token"}
    audit = db_query(srv.env["DATABASE_URL"], "SELECT count(*) FROM audit_events WHERE "
                     f"event = 'email_verified' AND user_id = {sql_str(user['id'])}")
    assert audit == [["1"]]


@pytest.mark.parametrize("token", ["", "x", "A" * 43, "A" * 300])
def test_verify_email_bad_tokens(flow, token):
    _, _, api = flow
    r = api.post("/api/v1/auth/verify-email", json={"token": token})
    assert r.status_code == 400 and r.json() == {"detail": "Invalid or expired token"}


def test_verify_email_validation(flow):
    _, _, api = flow
    r = api.post("/api/v1/auth/verify-email", json={})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "token"]
    r = api.post("/api/v1/auth/verify-email", json={"token": 5})
    assert r.status_code == 422


def test_verify_email_expired_token(flow):
    sink, srv, api = flow
    email, user = register(api)
    token = sink.wait_for_rcpt(email).token(VERIFY_PREFIX)
    db_exec(srv.env["DATABASE_URL"], "UPDATE one_time_tokens SET expires_at = "
            f"{int(time.time()) - 5} WHERE user_id = {sql_str(user['id'])}")
    r = api.post("/api/v1/auth/verify-email", json={"token": token})
    assert r.status_code == 400


def test_verify_email_concurrent_uses_exactly_one_succeeds(flow):
    sink, _, api = flow
    email, _ = register(api)
    token = sink.wait_for_rcpt(email).token(VERIFY_PREFIX)
    results = concurrently(lambda: requests.post(api.url("/api/v1/auth/verify-email"),
                                                 json={"token": token}, timeout=30), 6)
    assert sorted(r.status_code for r in results) == [200] + [400] * 5


def test_resend_verification(flow):
    sink, srv, api = flow
    email, _ = register(api)
    first = sink.wait_for_rcpt(email).token(VERIFY_PREFIX)
    tokens = login(api, email)

    r = api.post("/api/v1/auth/verify-email/resend")
    assert r.status_code == 401
    r = api.post("/api/v1/auth/verify-email/resend", headers=bearer(tokens["access_token"]))
    assert r.status_code == 202 and isinstance(r.json()["detail"], str)
    second = sink.wait_for(lambda m: email in m.rcpt_tos
                           and m.token(VERIFY_PREFIX) != first).token(VERIFY_PREFIX)
    assert api.post("/api/v1/auth/verify-email", json={"token": second}).status_code == 200

    # Already verified: 202, nothing sent.
    before = len(outbox_rows(srv, email))
    r = api.post("/api/v1/auth/verify-email/resend", headers=bearer(tokens["access_token"]))
    assert r.status_code == 202
    assert len(outbox_rows(srv, email)) == before


def test_resend_is_throttled_per_account(flow):
    _, _, api = flow
    email, _ = register(api)
    tokens = login(api, email)
    codes = [api.post("/api/v1/auth/verify-email/resend",
                      headers=bearer(tokens["access_token"])).status_code for _ in range(7)]
    assert codes[:5] == [202] * 5 and codes[5:] == [429, 429], codes
    r = api.post("/api/v1/auth/verify-email/resend", headers=bearer(tokens["access_token"]))
    assert int(r.headers["Retry-After"]) > 0


def test_login_requires_verification_when_configured(certs, make_sink, server_factory):
    sink = make_sink("starttls")
    srv = server_factory(mail_env(sink.port, "starttls", certs, REQUIRE_EMAIL_VERIFICATION="true"))
    api = Api(srv)
    email, _ = register(api)
    r = api.login(email, expect=403)
    assert r.json() == {"detail": "Email not verified"}
    api.login(email, "wrong password", expect=401)  # the 403 only after a correct password
    token = sink.wait_for_rcpt(email).token(VERIFY_PREFIX)
    assert api.post("/api/v1/auth/verify-email", json={"token": token}).status_code == 200
    api.login(email, expect=200)


SILENT_BODY = {"detail": "Registration received: check your email to continue"}


def test_silent_register_answers_alike_and_tells_the_owner(certs, make_sink, server_factory):
    """REGISTER_SILENT: a new and a taken email get the same 202; the owner
    of the taken one is told by email, and nothing about the account changes."""
    sink = make_sink("starttls")
    srv = server_factory(mail_env(sink.port, "starttls", certs, REGISTER_SILENT="true",
                                  APP_NAME="Acme Auth"))
    api = Api(srv)
    email = unique_email("silent")
    first = api.post("/api/v1/auth/register",
                     json={"email": email, "password": PASSWORD, "full_name": "Sam Owner"})
    again = api.post("/api/v1/auth/register",
                     json={"email": email.upper(), "password": "an intruder's password"})
    assert first.status_code == again.status_code == 202, (first.text, again.text)
    assert first.json() == SILENT_BODY
    assert first.content == again.content
    # The first registration created the account and sent its verification link ...
    token = sink.wait_for_rcpt(email, "Verify").token(VERIFY_PREFIX)
    # ... the second told the owner, with no token in it.
    note = sink.wait_for_rcpt(email, "Sign-up attempt")
    assert "Sam Owner" in note.text and email in note.text
    assert FRONTEND in note.text and "token=" not in note.text
    # The account is untouched: the first password works, the intruder's does not.
    api.login(email, PASSWORD, expect=200)
    api.login(email, "an intruder's password", expect=401)
    assert api.post("/api/v1/auth/verify-email", json={"token": token}).status_code == 200
    assert db_query(srv.env["DATABASE_URL"], "SELECT count(*) FROM users WHERE email = "
                    f"{sql_str(email)}") == [["1"]]


def test_silent_register_notices_are_throttled(certs, make_sink, server_factory):
    """Repeated sign-ups with a taken address cannot flood its owner's inbox
    (5 notices an hour), and the answer never changes."""
    sink = make_sink("starttls")
    srv = server_factory(mail_env(sink.port, "starttls", certs, REGISTER_SILENT="true"))
    api = Api(srv)
    email = unique_email("flood")
    bodies = set()
    for _ in range(8):
        r = api.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
        assert r.status_code == 202, r.text
        bodies.add(r.content)
    assert len(bodies) == 1
    # The verification email and five notices were queued, no more.
    assert len(outbox_rows(srv, email)) == 6
    wait_until(lambda: len(sink.for_rcpt(email)) == 6, message="six emails delivered")
    notices = [m for m in sink.for_rcpt(email) if "Sign-up attempt" in str(m.msg["Subject"])]
    assert len(notices) == 5, len(notices)


def test_register_without_silent_mode_keeps_spec_answers(flow):
    _, _, api = flow
    email, user = register(api)
    assert user["email"] == email
    r = api.post("/api/v1/auth/register", json={"email": email, "password": PASSWORD})
    assert r.status_code == 409 and r.json() == {"detail": "Email already registered"}


# --------------------------------------------------------------------------
# password reset
# --------------------------------------------------------------------------

def request_reset(api, sink, email, typed=None):
    """forgot for email (as the user typed it: typed) -> the token of the emailed link."""
    r = api.post("/api/v1/auth/password/forgot", json={"email": typed or email})
    assert r.status_code == 202, r.text
    assert r.json() == FORGOT_BODY
    m = sink.wait_for_rcpt(email, "Reset")
    return m.token(RESET_PREFIX)


def test_password_reset_flow(flow):
    sink, srv, api = flow
    email, user = register(api)
    s1, s2 = login(api, email), login(api, email)
    token = request_reset(api, sink, email, typed=email.upper())  # case-insensitive
    m = sink.wait_for_rcpt(email, "Reset")
    assert "Acme Auth" in m.msg["Subject"] and "60 minutes" in m.text

    r = api.post("/api/v1/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD})
    assert r.status_code == 204, r.text
    assert r.content == b""
    # Every session and outstanding access token is revoked.
    for s in (s1, s2):
        assert api.me(s["access_token"]).status_code == 401
        assert api.refresh(s["refresh_token"]).status_code == 401
    api.login(email, PASSWORD, expect=401)
    new = login(api, email, NEW_PASSWORD)
    assert api.me(new["access_token"]).status_code == 200
    # Single use.
    r = api.post("/api/v1/auth/password/reset", json={"token": token, "new_password": "another one 1"})
    assert r.status_code == 400 and r.json() == {"detail": "Invalid or expired token"}
    # The notification, the audit event, the password time.
    note = sink.wait_for_rcpt(email, "password was changed")
    assert "changed" in note.text and email in note.text
    db = srv.env["DATABASE_URL"]
    assert db_query(db, "SELECT count(*) FROM audit_events WHERE event = 'password_reset' AND "
                        f"user_id = {sql_str(user['id'])}") == [["1"]]
    row = db_query(db, f"SELECT password_changed_at, created_at FROM users WHERE id = {sql_str(user['id'])}")
    assert int(row[0][0]) >= int(row[0][1])


def test_forgot_same_answer_for_unknown_address_and_nothing_sent(flow):
    sink, srv, api = flow
    ghost = unique_email("ghost")
    r = api.post("/api/v1/auth/password/forgot", json={"email": ghost})
    assert r.status_code == 202 and r.json() == FORGOT_BODY
    assert outbox_rows(srv, ghost) == []
    assert_never_delivered(sink, ghost, seconds=1.5)


def test_forgot_takes_similar_time_for_known_and_unknown(flow):
    _, _, api = flow
    email, _ = register(api)
    known, unknown = [], []
    for i in range(12):
        for addr, bucket in ((email, known), (unique_email("ghost"), unknown)):
            t0 = time.perf_counter()
            r = api.post("/api/v1/auth/password/forgot", json={"email": addr})
            bucket.append(time.perf_counter() - t0)
            assert r.status_code == 202 and r.json() == FORGOT_BODY
    diff = abs(statistics.median(known) - statistics.median(unknown))
    assert diff < 0.05, (statistics.median(known), statistics.median(unknown))


def test_forgot_validation(flow):
    _, _, api = flow
    r = api.post("/api/v1/auth/password/forgot", json={})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "email"]
    r = api.post("/api/v1/auth/password/forgot", json={"email": "not-an-address"})
    assert r.status_code == 422


def test_forgot_for_disabled_account_sends_nothing(flow):
    sink, srv, api = flow
    email, user = register(api)
    sink.wait_for_rcpt(email)  # the verification email
    set_active(srv, user["id"], False)
    r = api.post("/api/v1/auth/password/forgot", json={"email": email})
    assert r.status_code == 202 and r.json() == FORGOT_BODY
    assert len(outbox_rows(srv, email)) == 1


def test_reset_rejects_weak_password_without_spending_the_token(flow):
    sink, _, api = flow
    email, _ = register(api)
    token = request_reset(api, sink, email)
    r = api.post("/api/v1/auth/password/reset", json={"token": token, "new_password": "short"})
    assert r.status_code == 422 and r.json()["detail"][0]["loc"] == ["body", "new_password"]
    r = api.post("/api/v1/auth/password/reset", json={"token": token})
    assert r.status_code == 422
    r = api.post("/api/v1/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD})
    assert r.status_code == 204


def test_reset_with_expired_or_wrong_purpose_token(flow):
    sink, srv, api = flow
    email, user = register(api)
    verify_token = sink.wait_for_rcpt(email).token(VERIFY_PREFIX)
    r = api.post("/api/v1/auth/password/reset",
                 json={"token": verify_token, "new_password": NEW_PASSWORD})
    assert r.status_code == 400, "a verification token must not reset a password"
    token = request_reset(api, sink, email)
    db_exec(srv.env["DATABASE_URL"], "UPDATE one_time_tokens SET expires_at = "
            f"{int(time.time()) - 1} WHERE user_id = {sql_str(user['id'])} "
            "AND purpose = 'password_reset'")
    r = api.post("/api/v1/auth/password/reset", json={"token": token, "new_password": NEW_PASSWORD})
    assert r.status_code == 400 and r.json() == {"detail": "Invalid or expired token"}
    api.login(email, PASSWORD, expect=200)


def test_reset_concurrent_uses_exactly_one_succeeds(flow):
    sink, _, api = flow
    email, _ = register(api)
    token = request_reset(api, sink, email)
    results = concurrently(lambda: requests.post(
        api.url("/api/v1/auth/password/reset"),
        json={"token": token, "new_password": NEW_PASSWORD}, timeout=30), 6)
    assert sorted(r.status_code for r in results) == [204] + [400] * 5


def test_reset_links_ignore_a_forged_host_header(flow):
    sink, srv, api = flow
    email, _ = register(api)
    body = ('{"email": "%s"}' % email).encode()
    r = raw_request(srv.port, "POST", "/api/v1/auth/password/forgot",
                    headers={"Host": "evil.example", "X-Forwarded-Host": "evil.example",
                             "X-Forwarded-Proto": "http", "Forwarded": "host=evil.example",
                             "Origin": "https://evil.example",
                             "Content-Type": "application/json"}, body=body)
    assert r.status == 202, r
    m = sink.wait_for_rcpt(email, "Reset")
    assert "evil" not in m.raw.decode("utf-8", "replace")
    assert m.links(RESET_PREFIX), m.text
    assert m.html.count(RESET_PREFIX) >= 1


# --------------------------------------------------------------------------
# password change
# --------------------------------------------------------------------------

def test_password_change(flow):
    sink, srv, api = flow
    email, user = register(api)
    current, other = login(api, email), login(api, email)
    hdr = bearer(current["access_token"])
    url = "/api/v1/auth/password/change"

    assert api.post(url, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD}).status_code == 401
    r = api.post(url, headers=hdr, json={"current_password": "wrong password", "new_password": NEW_PASSWORD})
    assert r.status_code == 400 and r.json() == {"detail": "Incorrect password"}
    r = api.post(url, headers=hdr, json={"current_password": PASSWORD, "new_password": "short"})
    assert r.status_code == 422
    r = api.post(url, headers=hdr, json={"new_password": NEW_PASSWORD})
    assert r.status_code == 422

    r = api.post(url, headers=hdr, json={"current_password": PASSWORD, "new_password": NEW_PASSWORD})
    assert r.status_code == 204, r.text
    # This session stays; the other one is revoked.
    assert api.me(current["access_token"]).status_code == 200
    assert api.refresh(current["refresh_token"]).status_code == 200
    assert api.me(other["access_token"]).status_code == 401
    assert api.refresh(other["refresh_token"]).status_code == 401
    api.login(email, PASSWORD, expect=401)
    api.login(email, NEW_PASSWORD, expect=200)
    note = sink.wait_for_rcpt(email, "password was changed")
    assert email in note.text
    assert db_query(srv.env["DATABASE_URL"], "SELECT count(*) FROM audit_events WHERE event = "
                    f"'password_changed' AND user_id = {sql_str(user['id'])}") == [["1"]]


# --------------------------------------------------------------------------
# message safety
# --------------------------------------------------------------------------

def test_header_injection_in_full_name(flow):
    sink, srv, api = flow
    # The API refuses control characters outright ...
    r = api.post("/api/v1/auth/register", json={
        "email": unique_email("inj"), "password": PASSWORD,
        "full_name": "Eve\r\nBcc: victim@evil.example"})
    assert r.status_code == 422
    # ... and a name that reached the database some other way still cannot add a header.
    email, user = register(api, full_name="Eve")
    sink.wait_for_rcpt(email)
    evil = "Eve\r\nBcc: victim@evil.example\r\n\r\n<script>alert(1)</script>"
    db_exec(srv.env["DATABASE_URL"],
            f"UPDATE users SET full_name = {sql_str(evil)} WHERE id = {sql_str(user['id'])}")
    request_reset(api, sink, email)
    m = sink.wait_for_rcpt(email, "Reset")
    assert m.rcpt_tos == [email]
    assert "Bcc" not in m.header_names() and m.msg["Bcc"] is None
    assert b"\r\nBcc:" not in m.header_section()
    assert "victim@evil.example" not in "".join(m.rcpt_tos)
    assert "<script>" not in m.html and "&lt;script&gt;" in m.html
    assert len(sink.for_rcpt("victim@evil.example")) == 0


def test_non_ascii_app_name_is_encoded(certs, make_sink, server_factory):
    sink = make_sink("starttls")
    name = "Äuth Sérvice — 認証"
    srv = server_factory(mail_env(sink.port, "starttls", certs, APP_NAME=name))
    email, _ = register(Api(srv))
    m = sink.wait_for_rcpt(email)
    assert b"Subject: =?UTF-8?B?" in m.header_section()
    assert m.msg["Subject"] == f"Verify your email address for {name}"
    assert parseaddr(m.msg["From"])[0] == name
    assert name in m.text


def test_templates_from_email_templates_dir(certs, make_sink, server_factory):
    sink = make_sink("starttls")
    files = {"tpl/verify_email.subject": "Welcome to {{app_name}}, {{full_name}}\n",
             "tpl/verify_email.txt": "Confirm here: {{link}} (valid {{expires}})\n",
             "tpl/verify_email.html": "<b>{{full_name}}</b> <a href=\"{{link}}\">go</a>\n"}
    srv = server_factory(mail_env(sink.port, "starttls", certs, APP_NAME="Acme",
                                  EMAIL_TEMPLATES_DIR="tpl", EMAIL_VERIFY_EXPIRE_HOURS="2"),
                         files=files)
    email, _ = register(Api(srv), full_name="Bob & <Co>")
    m = sink.wait_for_rcpt(email)
    assert m.msg["Subject"] == "Welcome to Acme, Bob & <Co>"
    assert m.text.startswith("Confirm here: " + VERIFY_PREFIX) and "(valid 2 hours)" in m.text
    assert m.html.startswith("<b>Bob &amp; &lt;Co&gt;</b> <a href=\"" + VERIFY_PREFIX)
    # The other emails keep the built-in templates.
    request_reset(Api(srv), sink, email)


def test_bad_email_templates_dir_stops_serve(server_factory):
    srv = server_factory(start=False)
    rc, out, err = srv.run_cli(["serve"], {"EMAIL_TEMPLATES_DIR": "/nonexistent/templates"},
                               timeout=15)
    assert rc != 0
    assert "EMAIL_TEMPLATES_DIR" in out + err


# --------------------------------------------------------------------------
# transport security and authentication
# --------------------------------------------------------------------------

def test_starttls_required_refuses_a_server_without_it(make_sink, server_factory, certs):
    sink = make_sink("plain")  # offers no STARTTLS
    srv = server_factory(mail_env(sink.port, "starttls", certs))
    api = Api(srv)
    t0 = time.monotonic()
    email, _ = register(api)
    assert time.monotonic() - t0 < 5, "registration must not wait for SMTP"
    rows = wait_for_failed_attempt(srv, email)
    assert not rows[0][2], "marked sent although it was refused"
    assert "TLS" in rows[0][4] or "SSL" in rows[0][4] or "STARTTLS" in rows[0][4].upper(), rows
    assert sink.messages == []
    srv.wait_for_log(lambda o: "outbox: message" in o.get("msg", "") and "retry in" in o["msg"])


def test_untrusted_certificate_is_refused(make_sink, server_factory):
    sink = make_sink("starttls")
    srv = server_factory(mail_env(sink.port, "starttls"))  # no SMTP_CA_FILE: system CAs only
    email, _ = register(Api(srv))
    rows = wait_for_failed_attempt(srv, email)
    assert not rows[0][2]
    assert sink.messages == []


def test_implicit_tls(make_sink, server_factory, certs):
    sink = make_sink("tls")
    srv = server_factory(mail_env(sink.port, "tls", certs))
    email, _ = register(Api(srv))
    m = sink.wait_for_rcpt(email)
    assert m.tls


def test_plain_smtp_when_configured(make_sink, server_factory):
    sink = make_sink("plain")
    srv = server_factory(mail_env(sink.port, "none"))
    email, _ = register(Api(srv))
    m = sink.wait_for_rcpt(email)
    assert not m.tls


def test_smtp_auth(make_sink, server_factory, certs):
    secret = "s3cret-smtp-pa55word"
    sink = make_sink("starttls", users={"mailer": secret})
    srv = server_factory(mail_env(sink.port, "starttls", certs, SMTP_USER="mailer",
                                  SMTP_PASSWORD=secret))
    email, _ = register(Api(srv))
    m = sink.wait_for_rcpt(email)
    assert m.tls and m.login in (b"mailer", "mailer")
    assert secret not in srv.output()


def test_smtp_auth_wrong_password_is_retried_not_lost(make_sink, server_factory, certs):
    sink = make_sink("starttls", users={"mailer": "right-password"})
    srv = server_factory(mail_env(sink.port, "starttls", certs, SMTP_USER="mailer",
                                  SMTP_PASSWORD="wrong-password"))
    email, _ = register(Api(srv))
    rows = wait_for_failed_attempt(srv, email)
    assert not rows[0][2] and not rows[0][3], rows  # pending, not given up
    assert sink.messages == []
    assert any(login == "mailer" and not ok for _, login, ok in sink.auth_attempts)
    assert "wrong-password" not in srv.output()


# --------------------------------------------------------------------------
# durability: outages and restarts
# --------------------------------------------------------------------------

def test_smtp_down_then_up_delivers_exactly_once(make_sink, server_factory, certs):
    port = free_port()
    sink = make_sink("starttls", port=port, start=False)
    srv = server_factory(mail_env(port, "starttls", certs))
    api = Api(srv)
    t0 = time.monotonic()
    email, _ = register(api)
    assert time.monotonic() - t0 < 5
    assert api.get("/api/v1/health").status_code == 200
    wait_for_failed_attempt(srv, email)

    sink.start()
    sink.wait_for_rcpt(email, timeout=30)
    time.sleep(3)  # several poll intervals: a duplicate would show up
    assert len(sink.for_rcpt(email)) == 1
    rows = outbox_rows(srv, email)
    assert len(rows) == 1 and rows[0][2], rows


def test_restart_with_pending_mail_delivers_after_restart(make_sink, server_factory, certs):
    port = free_port()
    sink = make_sink("starttls", port=port, start=False)
    srv = server_factory(mail_env(port, "starttls", certs))
    email, _ = register(Api(srv))
    wait_for_failed_attempt(srv, email)
    assert srv.stop() == 0

    sink.start()
    srv.start()
    m = sink.wait_for_rcpt(email, timeout=30)
    # The token in the email still works after the restart.
    assert Api(srv).post("/api/v1/auth/verify-email",
                         json={"token": m.token(VERIFY_PREFIX)}).status_code == 200
    time.sleep(2)
    assert len(sink.for_rcpt(email)) == 1


def test_development_mode_writes_the_email_to_the_log(server_factory):
    srv = server_factory({"FRONTEND_URL": FRONTEND, **HIGH_LIMITS})
    api = Api(srv)
    email, _ = register(api)
    line = srv.wait_for_log(lambda o: VERIFY_PREFIX in o.get("msg", ""))
    token = line["msg"].split(VERIFY_PREFIX, 1)[1].split()[0]
    assert api.post("/api/v1/auth/verify-email", json={"token": token}).status_code == 200
    srv.wait_for_log(lambda o: "sent" in o.get("msg", "") and "outbox: message" in o["msg"])
    rows = outbox_rows(srv, email)
    assert len(rows) == 1 and rows[0][2]


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

def concurrently(fn, n):
    """Run fn() n times at once (released together by a barrier)."""
    barrier = threading.Barrier(n)
    results = [None] * n

    def run(i):
        barrier.wait()
        results[i] = fn()
    threads = [threading.Thread(target=run, args=(i,)) for i in range(n)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    return results
