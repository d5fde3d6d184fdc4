"""Helpers shared by the account / token / session / admin / OAuth suites.

Import what you need: `from helpers import ...`.  Importing the fixture
`module_server_factory` (and the autouse `_module_servers_in_reports`) into a
test module makes them available there, as with any pytest fixture.

Fixtures
  module_server_factory   make(env=None, key_pem=None) -> a started Server that
                          lives for the whole test module (tests that do not
                          interfere share it).  Defaults as conftest's
                          server_factory (ENVIRONMENT=test, bcrypt rounds 4,
                          fresh database, ...) plus very high rate limits, so
                          a module's many logins never meet a 429.  The key
                          file is the session key of conftest unless key_pem
                          is given.

Plain helpers
  Api(srv)                 thin JSON client: register/login/refresh/me/...
  new_user(api)            register + log in a fresh account -> Account
  unique_email()
  JWT: b64u, b64u_decode, token_parts, sign_rs256, hs256_token, rsa_key,
       public_jwk, jwk_thumbprint, pyjwt_decode
  DB:  db_exec, sql_str, insert_user, user_row
  assert_invalid_token(resp), assert_validation_error(resp, loc)
  create_admin_cli(srv, email, password)
  concurrent_requests(port, raw_request_bytes, n) -> [RawResponse]
"""

import base64
import hashlib
import hmac
import json
import re
import secrets
import signal
import socket
import subprocess
import threading
import time
import uuid

import pytest
import requests

from conftest import (TEST_REDIS_URL, Server, _is_postgres, _libpq_url, base_env,
                      create_database, db_query, merge_env, read_http_response, write_key)

PASSWORD = "correct horse battery"
HIGH_LIMITS = {"RATE_LIMIT_LOGIN_PER_MINUTE": "100000", "RATE_LIMIT_IP_PER_MINUTE": "1000000",
               "RATE_LIMIT_ACCOUNT_PER_HOUR": "1000000"}
USER_KEYS = {"id", "email", "full_name", "is_active", "is_verified", "roles", "created_at",
             "updated_at"}
TOKEN_KEYS = {"access_token", "refresh_token", "token_type", "expires_in", "refresh_expires_in"}
ISO_Z = re.compile(r"^\d{4}-\d\d-\d\dT\d\d:\d\d:\d\dZ$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")

# Every endpoint that takes a Bearer token (method, path, JSON body or None).
BEARER_ENDPOINTS = [
    ("GET", "/api/v1/users/me", None),
    ("PATCH", "/api/v1/users/me", {"full_name": "Should Not Change"}),
    ("DELETE", "/api/v1/users/me", {"password": PASSWORD}),
    ("GET", "/api/v1/auth/sessions", None),
    ("DELETE", "/api/v1/auth/sessions/00000000-0000-4000-8000-000000000000", None),
    ("POST", "/api/v1/auth/logout", None),
    ("POST", "/api/v1/auth/logout-all", None),
    ("GET", "/api/v1/admin/users", None),
    ("GET", "/api/v1/admin/users/00000000-0000-4000-8000-000000000000", None),
    ("PATCH", "/api/v1/admin/users/00000000-0000-4000-8000-000000000000", {"is_active": True}),
    ("DELETE", "/api/v1/admin/users/00000000-0000-4000-8000-000000000000", None),
]


def unique_email(prefix="user"):
    return f"{prefix}-{secrets.token_hex(6)}@example.com"


# --------------------------------------------------------------------------
# module-scoped servers
# --------------------------------------------------------------------------

_MODULE_SERVERS_ATTR = "_auth_module_servers"


@pytest.fixture(scope="module")
def module_server_factory(request, tmp_path_factory, rsa_private_pem):
    servers = []
    cleanups = []
    setattr(request.module, _MODULE_SERVERS_ATTR, servers)

    def make(env=None, key_pem=None):
        workdir = tmp_path_factory.mktemp("msrv")
        write_key(workdir, key_pem or rsa_private_pem)
        url, cleanup = create_database(workdir)
        if cleanup:
            cleanups.append(cleanup)
        full = base_env()
        full.update({
            "HOST": "127.0.0.1",
            "DATABASE_URL": url,
            "ENVIRONMENT": "test",
            "RSA_PRIVATE_KEY_PATH": str(workdir / "keys" / "private.pem"),
            "LOG_FORMAT": "json",
            "PASSWORD_BCRYPT_ROUNDS": "4",
        })
        full.update(HIGH_LIMITS)
        if TEST_REDIS_URL:
            full["REDIS_URL"] = TEST_REDIS_URL
        srv = Server(workdir, merge_env(full, env))
        servers.append(srv)
        srv.start()
        return srv

    yield make

    problems = []
    for srv in servers:
        if srv.running():
            srv.proc.send_signal(signal.SIGTERM)
            try:
                rc = srv.proc.wait(timeout=15)
                if rc != 0:
                    problems.append(f"module server on port {srv.port} exited with {rc} on "
                                    f"SIGTERM\n{srv.describe()}")
            except subprocess.TimeoutExpired:
                srv.kill()
                problems.append(f"module server on port {srv.port} ignored SIGTERM; killed\n"
                                f"{srv.describe()}")
        srv.kill()
        try:
            srv.check_sanitizers()
        except pytest.fail.Exception as e:
            problems.append(str(e))
    for c in cleanups:
        c()
    if problems:
        pytest.fail("\n\n".join(problems))


@pytest.fixture(autouse=True)
def _module_servers_in_reports(request):
    """Let conftest's failure report show the logs of the module's servers
    (a test that also uses server_factory shows that factory's servers)."""
    servers = getattr(request.module, _MODULE_SERVERS_ATTR, None)
    if servers is not None and not getattr(request.node, "auth_servers", None):
        request.node.auth_servers = servers
    yield


# --------------------------------------------------------------------------
# the API
# --------------------------------------------------------------------------

def bearer(access_token):
    return {"Authorization": f"Bearer {access_token}"}


class Account:
    def __init__(self, email, password, user, tokens):
        self.email = email
        self.password = password
        self.user = user
        self.id = user["id"]
        self.tokens = tokens

    @property
    def access(self):
        return self.tokens["access_token"]

    @property
    def refresh(self):
        return self.tokens["refresh_token"]

    @property
    def headers(self):
        return bearer(self.access)


class Api:
    """A small client for one server (one keep-alive session)."""

    def __init__(self, srv):
        self.srv = srv
        self.http = requests.Session()

    def url(self, path):
        return self.srv.url(path)

    def request(self, method, path, **kw):
        kw.setdefault("timeout", 30)
        return self.http.request(method, self.url(path), **kw)

    def get(self, path, **kw):
        return self.request("GET", path, **kw)

    def post(self, path, **kw):
        return self.request("POST", path, **kw)

    def patch(self, path, **kw):
        return self.request("PATCH", path, **kw)

    def delete(self, path, **kw):
        return self.request("DELETE", path, **kw)

    # -- accounts --
    def register(self, email=None, password=PASSWORD, full_name=None, expect=201):
        body = {"email": email or unique_email(), "password": password}
        if full_name is not None:
            body["full_name"] = full_name
        r = self.post("/api/v1/auth/register", json=body)
        if expect is not None:
            assert r.status_code == expect, r.text
        return r

    def login(self, email, password=PASSWORD, expect=200, user_agent=None):
        headers = {"User-Agent": user_agent} if user_agent else {}
        r = self.post("/api/v1/auth/login", json={"email": email, "password": password},
                      headers=headers)
        if expect is not None:
            assert r.status_code == expect, r.text
        return r

    def tokens(self, email, password=PASSWORD, user_agent=None):
        return self.login(email, password, user_agent=user_agent).json()

    def refresh(self, refresh_token):
        return self.post("/api/v1/auth/refresh", json={"refresh_token": refresh_token})

    def me(self, access_token):
        return self.get("/api/v1/users/me", headers=bearer(access_token))

    def sessions(self, access_token):
        return self.get("/api/v1/auth/sessions", headers=bearer(access_token))

    def call(self, method, path, access_token, body=None):
        kw = {"headers": bearer(access_token)}
        if body is not None:
            kw["json"] = body
        return self.request(method, path, **kw)


def new_user(api, password=PASSWORD, full_name=None, prefix="user", user_agent=None):
    """Register and log in a fresh account."""
    email = unique_email(prefix)
    user = api.register(email, password, full_name).json()
    tokens = api.tokens(email, password, user_agent=user_agent)
    return Account(email, password, user, tokens)


# --------------------------------------------------------------------------
# assertions
# --------------------------------------------------------------------------

def assert_invalid_token(r, what=""):
    """401 for a token that was sent (RFC 6750 error="invalid_token")."""
    assert r.status_code == 401, f"{what}: expected 401, got {r.status_code} {r.text}"
    www = r.headers.get("WWW-Authenticate", "")
    assert www.startswith("Bearer"), f"{what}: WWW-Authenticate {www!r}"
    assert 'error="invalid_token"' in www, f"{what}: WWW-Authenticate {www!r}"
    body = r.json()
    assert isinstance(body.get("detail"), str) and body["detail"], f"{what}: {body}"


def assert_validation_error(r, loc=None):
    """422 with FastAPI's list-form detail; loc (a list) must appear when given."""
    assert r.status_code == 422, f"expected 422, got {r.status_code} {r.text}"
    detail = r.json()["detail"]
    assert isinstance(detail, list) and detail, detail
    for e in detail:
        assert isinstance(e.get("loc"), list) and e["loc"], e
        assert isinstance(e.get("msg"), str) and e["msg"], e
        assert isinstance(e.get("type"), str) and e["type"], e
    if loc is not None:
        assert any(e["loc"] == loc for e in detail), f"no error at {loc}: {detail}"
    return detail


def assert_token_response(r):
    """200 token pair with the no-store headers of RFC 6749 5.1."""
    assert r.status_code == 200, r.text
    assert r.headers.get("Content-Type", "").split(";")[0].strip() == "application/json"
    assert r.headers.get("Cache-Control") == "no-store", r.headers
    assert r.headers.get("Pragma") == "no-cache", r.headers
    body = r.json()
    assert set(body) == TOKEN_KEYS, body
    assert body["token_type"] == "bearer"
    assert isinstance(body["access_token"], str) and body["access_token"].count(".") == 2
    assert isinstance(body["refresh_token"], str) and len(body["refresh_token"]) >= 43
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0
    assert isinstance(body["refresh_expires_in"], int)
    assert body["refresh_expires_in"] > body["expires_in"]
    return body


# --------------------------------------------------------------------------
# JOSE by hand (cryptography + hmac), and PyJWT from the JWKS
# --------------------------------------------------------------------------

def b64u(data):
    if isinstance(data, str):
        data = data.encode()
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def b64u_decode(s):
    return base64.urlsafe_b64decode(s + "=" * (-len(s) % 4))


def b64u_json(obj):
    return b64u(json.dumps(obj, separators=(",", ":")))


def token_parts(token):
    """(header dict, claims dict, signature b64url) without verification."""
    h, p, s = token.split(".")
    return json.loads(b64u_decode(h)), json.loads(b64u_decode(p)), s


def rsa_key(bits=2048):
    from cryptography.hazmat.primitives.asymmetric import rsa
    return rsa.generate_private_key(public_exponent=65537, key_size=bits)


def load_private_pem(pem):
    from cryptography.hazmat.primitives import serialization
    return serialization.load_pem_private_key(pem, password=None)


def private_pem(key):
    from cryptography.hazmat.primitives import serialization
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


def public_pem(key, pkcs1=False):
    from cryptography.hazmat.primitives import serialization
    pub = key.public_key() if hasattr(key, "public_key") else key
    fmt = (serialization.PublicFormat.PKCS1 if pkcs1
           else serialization.PublicFormat.SubjectPublicKeyInfo)
    return pub.public_bytes(serialization.Encoding.PEM, fmt)


def _int_b64u(n):
    return b64u(n.to_bytes((n.bit_length() + 7) // 8, "big"))


def public_jwk(key):
    pub = key.public_key() if hasattr(key, "public_key") else key
    nums = pub.public_numbers()
    return {"kty": "RSA", "n": _int_b64u(nums.n), "e": _int_b64u(nums.e)}


def jwk_thumbprint(key):
    """RFC 7638 SHA-256 thumbprint, base64url."""
    jwk = public_jwk(key)
    canon = json.dumps({"e": jwk["e"], "kty": "RSA", "n": jwk["n"]}, separators=(",", ":"),
                       sort_keys=True)
    return b64u(hashlib.sha256(canon.encode()).digest())


def sign_rs256(key, header, claims, hash_name="sha256"):
    """A compact JWS signed with RSASSA-PKCS1-v1_5 (RS256 unless hash_name)."""
    from cryptography.hazmat.primitives import hashes
    from cryptography.hazmat.primitives.asymmetric import padding
    algo = {"sha256": hashes.SHA256(), "sha384": hashes.SHA384(), "sha512": hashes.SHA512()}
    signing_input = f"{b64u_json(header)}.{b64u_json(claims)}"
    sig = key.sign(signing_input.encode(), padding.PKCS1v15(), algo[hash_name])
    return f"{signing_input}.{b64u(sig)}"


def hs256_token(secret, header, claims):
    signing_input = f"{b64u_json(header)}.{b64u_json(claims)}"
    sig = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{b64u(sig)}"


def fetch_jwks(srv):
    r = requests.get(srv.url("/.well-known/jwks.json"), timeout=10)
    assert r.status_code == 200, r.text
    return r


def pyjwt_decode(srv, token, issuer=None, audience=None):
    """Verify a token the way an independent resource server would: PyJWT,
    key from the JWKS URL alone, RS256 only."""
    import jwt
    client = jwt.PyJWKClient(srv.url("/.well-known/jwks.json"), cache_keys=False)
    signing_key = client.get_signing_key_from_jwt(token)
    options = {"require": ["exp", "iat", "nbf", "iss", "sub", "jti"]}
    kw = {}
    if audience is not None:
        kw["audience"] = audience
    else:
        options["verify_aud"] = False
    return jwt.decode(token, signing_key.key, algorithms=["RS256"],
                      issuer=issuer or f"http://localhost:{srv.port}", options=options, **kw)


# --------------------------------------------------------------------------
# the database behind a server
# --------------------------------------------------------------------------

def sql_str(v):
    if v is None:
        return "NULL"
    if isinstance(v, bool):
        return "1" if v else "0"
    if isinstance(v, int):
        return str(v)
    return "'" + str(v).replace("'", "''") + "'"


def db_exec(url, sql):
    """Run a statement that changes data (committed at once)."""
    if _is_postgres(url):
        p = subprocess.run(["psql", _libpq_url(url), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                            "-c", sql], capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"psql failed ({sql}): {p.stderr.strip()}")
        return
    import sqlite3
    path = url[len("sqlite:///"):]
    con = sqlite3.connect(path, timeout=10)
    try:
        con.execute(sql)
        con.commit()
    finally:
        con.close()


def insert_user(url, email, password_hash, roles="user", is_active=True, is_verified=False,
                full_name=None):
    """Insert a user row as another system would; returns its id."""
    uid = str(uuid.uuid4())
    now = int(time.time())
    db_exec(url, "INSERT INTO users (id, email, password_hash, full_name, is_active, is_verified, "
                 "roles, created_at, updated_at, password_changed_at) VALUES ("
                 + ", ".join(sql_str(v) for v in (uid, email, password_hash, full_name,
                                                   is_active, is_verified, roles, now, now, now))
                 + ")")
    return uid


def user_row(url, user_id):
    rows = db_query(url, "SELECT id, email, password_hash, is_active, roles FROM users "
                         f"WHERE id = {sql_str(user_id)}")
    return rows[0] if rows else None


def set_active(srv, user_id, active):
    db_exec(srv.env["DATABASE_URL"],
            f"UPDATE users SET is_active = {sql_str(bool(active))} WHERE id = {sql_str(user_id)}")


# --------------------------------------------------------------------------
# CLI and concurrency
# --------------------------------------------------------------------------

def create_admin_cli(srv, email, password=PASSWORD):
    """`auth-service users create --email E --admin` against the server's database."""
    rc, out, err = srv.run_cli(["users", "create", "--email", email, "--admin"],
                               stdin=password + "\n")
    assert rc == 0, f"users create failed ({rc}):\n{out}\n{err}"
    return out


def raw_json_post(port, path, body, headers=None):
    """The bytes of one POST with a JSON body (Connection: close)."""
    data = json.dumps(body).encode()
    hdrs = {"Host": f"127.0.0.1:{port}", "Connection": "close",
            "Content-Type": "application/json", "Content-Length": str(len(data))}
    hdrs.update(headers or {})
    head = f"POST {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
    return head.encode("latin-1") + b"\r\n" + data


def concurrent_requests(port, request_bytes, n, timeout=30.0):
    """Send the same request on n connections as simultaneously as possible:
    every connection gets all but the last byte first, then n threads send
    the last byte together.  Returns the n RawResponses."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=timeout) for _ in range(n)]
    try:
        for s in socks:
            s.sendall(request_bytes[:-1])
        barrier = threading.Barrier(n)
        results = [None] * n
        errors = []

        def worker(i):
            try:
                barrier.wait(timeout=timeout)
                socks[i].sendall(request_bytes[-1:])
                results[i] = read_http_response(socks[i], timeout)
            except Exception as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=worker, args=(i,)) for i in range(n)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(timeout + 5)
        assert not errors, errors
        assert all(r is not None for r in results), results
        return results
    finally:
        for s in socks:
            s.close()
