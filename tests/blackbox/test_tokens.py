"""Access tokens as a resource server sees them: verified by PyJWT from the
JWKS alone; forged, tampered, expired and mis-addressed tokens refused;
discovery documents; key rotation with RSA_PREVIOUS_PUBLIC_KEYS."""

import time
import uuid

import jwt
import pytest
import requests

from helpers import (HIGH_LIMITS, Api, assert_invalid_token, b64u, b64u_decode, b64u_json,
                     fetch_jwks, hs256_token, jwk_thumbprint, load_private_pem, new_user,
                     private_pem, public_jwk, public_pem, pyjwt_decode, rsa_key, sign_rs256,
                     token_parts)
from helpers import _module_servers_in_reports, module_server_factory  # noqa: F401 (fixtures)

ME = "/api/v1/users/me"


@pytest.fixture(scope="module")
def server_key():
    """The signing key of the module's server, generated here, so tests can
    mint tokens with a valid kid."""
    return rsa_key()


@pytest.fixture(scope="module")
def srv(module_server_factory, server_key):
    return module_server_factory(key_pem=private_pem(server_key))


@pytest.fixture
def api(srv):
    return Api(srv)


@pytest.fixture
def acct(api):
    return new_user(api, full_name="Token Holder")


def issuer(srv):
    return f"http://localhost:{srv.port}"


def valid_claims(srv, acct, **over):
    """Claims of acct's real token with fresh times (for self-signed tokens)."""
    _, claims, _ = token_parts(acct.access)
    now = int(time.time())
    claims.update({"iat": now, "nbf": now, "exp": now + 300, "jti": str(uuid.uuid4())})
    claims.update(over)
    return {k: v for k, v in claims.items() if v is not None}


def header_for(key, **over):
    h = {"alg": "RS256", "typ": "at+jwt", "kid": jwk_thumbprint(key)}
    h.update(over)
    return {k: v for k, v in h.items() if v is not None}


# ---------------------------------------------------------------- verification by PyJWT

def test_access_token_verifies_with_pyjwt_from_jwks(api, srv, acct):
    header = jwt.get_unverified_header(acct.access)
    assert header["alg"] == "RS256"
    assert header["typ"] == "at+jwt"
    jwks = fetch_jwks(srv).json()
    assert header["kid"] == jwks["keys"][0]["kid"]

    claims = pyjwt_decode(srv, acct.access, issuer=issuer(srv))
    for k in ("iss", "sub", "iat", "nbf", "exp", "jti", "sid", "email", "email_verified",
              "roles"):
        assert k in claims, (k, claims)
    assert claims["iss"] == issuer(srv)
    assert claims["sub"] == acct.id
    assert claims["email"] == acct.email
    assert claims["email_verified"] is False
    assert claims["roles"] == ["user"]
    assert "aud" not in claims      # JWT_AUDIENCE unset
    now = time.time()
    assert abs(claims["iat"] - now) <= 10
    assert claims["nbf"] <= claims["iat"] + 1
    assert claims["exp"] - claims["iat"] == 15 * 60 == acct.tokens["expires_in"]
    uuid.UUID(claims["sid"])
    assert isinstance(claims["jti"], str) and claims["jti"]


def test_pyjwt_refuses_our_token_under_another_issuer(srv, acct):
    with pytest.raises(jwt.InvalidIssuerError):
        pyjwt_decode(srv, acct.access, issuer="http://evil.example")


def test_jti_unique_and_sid_per_login(api, acct):
    other = api.tokens(acct.email)
    c1 = token_parts(acct.access)[1]
    c2 = token_parts(other["access_token"])[1]
    assert c1["jti"] != c2["jti"]
    assert c1["sid"] != c2["sid"]
    assert c1["sub"] == c2["sub"]


def test_kid_is_rfc7638_thumbprint_of_the_key(srv, server_key, acct):
    kid = jwk_thumbprint(server_key)
    assert jwt.get_unverified_header(acct.access)["kid"] == kid
    assert fetch_jwks(srv).json()["keys"][0]["kid"] == kid


# ---------------------------------------------------------------- discovery

def test_jwks_document(srv, server_key):
    r = fetch_jwks(srv)
    assert r.headers["Content-Type"].split(";")[0].strip() == "application/json"
    cc = [p.strip() for p in r.headers.get("Cache-Control", "").split(",")]
    assert "public" in cc and "max-age=300" in cc, r.headers.get("Cache-Control")
    keys = r.json()["keys"]
    assert len(keys) == 1
    k = keys[0]
    assert k["kty"] == "RSA" and k["use"] == "sig" and k["alg"] == "RS256"
    jwk = public_jwk(server_key)
    assert k["n"] == jwk["n"] and k["e"] == jwk["e"]
    assert "d" not in k and "p" not in k and "q" not in k, "private parts published"
    # PyJWT can build the key from it
    jwt.algorithms.RSAAlgorithm.from_jwk(k)


def test_openid_configuration(srv):
    r = requests.get(srv.url("/.well-known/openid-configuration"), timeout=10)
    assert r.status_code == 200, r.text
    d = r.json()
    iss = issuer(srv)
    assert d["issuer"] == iss
    assert d["jwks_uri"] == iss + "/.well-known/jwks.json"
    assert d["token_endpoint"] == iss + "/oauth/token"
    assert d["revocation_endpoint"] == iss + "/oauth/revoke"
    assert {"password", "refresh_token"} <= set(d["grant_types_supported"])
    assert "none" in d["token_endpoint_auth_methods_supported"]
    assert d["id_token_signing_alg_values_supported"] == ["RS256"]


# ---------------------------------------------------------------- positive control

def test_self_signed_token_with_server_key_is_accepted(api, srv, server_key, acct):
    """Control for the refusals below: a token we mint with the right key and
    claims is accepted, so each refusal is due to the one thing changed."""
    tok = sign_rs256(server_key, header_for(server_key), valid_claims(srv, acct))
    r = api.me(tok)
    assert r.status_code == 200, r.text
    assert r.json()["id"] == acct.id


def test_wrong_typ_with_server_key_refused(api, srv, server_key, acct):
    """RFC 9068 4: a token typed as something else is not an access token."""
    for typ in ("JWT", "id_token+jwt", "dpop+jwt"):
        tok = sign_rs256(server_key, header_for(server_key, typ=typ), valid_claims(srv, acct))
        assert_invalid_token(api.me(tok), f"typ {typ}")


# ---------------------------------------------------------------- forged tokens

def test_missing_authorization_401_not_authenticated(api):
    r = api.get(ME)
    assert r.status_code == 401
    assert r.json() == {"detail": "Not authenticated"}
    assert r.headers.get("WWW-Authenticate") == "Bearer"


@pytest.mark.parametrize("alg", ["none", "None", "NONE"])
def test_alg_none_refused(api, srv, acct, alg):
    h, c, sig = token_parts(acct.access)
    h["alg"] = alg
    for s in ("", sig):
        tok = f"{b64u_json(h)}.{b64u_json(c)}.{s}"
        assert_invalid_token(api.me(tok), f"alg {alg} sig {bool(s)}")


def test_hs256_with_public_key_as_secret_refused(api, srv, server_key, acct):
    h, c, _ = token_parts(acct.access)
    h["alg"] = "HS256"
    pems = [public_pem(server_key), public_pem(server_key, pkcs1=True)]
    secrets = []
    for pem in pems:
        secrets += [pem, pem.rstrip(b"\n")]
    secrets.append(b64u_decode(public_jwk(server_key)["n"]))
    for secret in secrets:
        assert_invalid_token(api.me(hs256_token(secret, h, c)), f"HS256 {secret[:30]!r}")


def test_other_rsa_algorithms_with_server_key_refused(api, srv, server_key, acct):
    for alg, hname in (("RS512", "sha512"), ("RS384", "sha384")):
        tok = sign_rs256(server_key, header_for(server_key, alg=alg), valid_claims(srv, acct),
                         hash_name=hname)
        assert_invalid_token(api.me(tok), alg)


def test_unknown_kid_refused(api, srv, acct):
    attacker = rsa_key()
    claims = valid_claims(srv, acct)
    for kid in (jwk_thumbprint(attacker), "unknown-kid", None):
        tok = sign_rs256(attacker, header_for(attacker, kid=kid), claims)
        assert_invalid_token(api.me(tok), f"attacker key, kid {kid}")


def test_attacker_key_with_our_kid_refused(api, srv, server_key, acct):
    attacker = rsa_key()
    tok = sign_rs256(attacker, header_for(server_key), valid_claims(srv, acct))
    assert_invalid_token(api.me(tok))


def test_missing_kid_with_server_key_refused(api, srv, server_key, acct):
    tok = sign_rs256(server_key, header_for(server_key, kid=None), valid_claims(srv, acct))
    assert_invalid_token(api.me(tok))


def test_tampered_payload_refused(api, srv, acct):
    h, p, s = acct.access.split(".")
    claims = token_parts(acct.access)[1]
    for change in ({"roles": ["user", "admin"]}, {"email_verified": True},
                   {"exp": claims["exp"] + 3600}):
        c = dict(claims, **change)
        assert_invalid_token(api.me(f"{h}.{b64u_json(c)}.{s}"), f"tampered {change}")
    # a flipped signature byte
    sig = bytearray(b64u_decode(s))
    sig[len(sig) // 2] ^= 0x01
    assert_invalid_token(api.me(f"{h}.{p}.{b64u(bytes(sig))}"), "flipped signature")
    # the genuine token still works
    assert api.me(acct.access).status_code == 200


@pytest.mark.parametrize("bad", [
    "garbage", "a.b", "a.b.c", "a.b.c.d", "", "...",
])
def test_malformed_tokens_refused(api, bad):
    r = api.get(ME, headers={"Authorization": f"Bearer {bad}"})
    assert r.status_code == 401, r.text
    assert r.headers.get("WWW-Authenticate", "").startswith("Bearer")


def test_genuine_token_with_extra_segment_or_padding_refused(api, acct):
    h, p, s = acct.access.split(".")
    for tok in (acct.access + ".", f"{h}.{p}.{s}=", f"{h}=.{p}.{s}", f"{h}.{p}=.{s}",
                acct.access + " x"):
        assert_invalid_token(api.me(tok), tok[-10:])


def test_expired_token_refused(api, srv, server_key, acct):
    now = int(time.time())
    tok = sign_rs256(server_key, header_for(server_key),
                     valid_claims(srv, acct, iat=now - 1000, nbf=now - 1000, exp=now - 90))
    assert_invalid_token(api.me(tok), "expired 90 s ago")
    # expired AND signed with an unknown key
    attacker = rsa_key()
    tok = sign_rs256(attacker, header_for(attacker),
                     valid_claims(srv, acct, iat=now - 1000, nbf=now - 1000, exp=now - 90))
    assert_invalid_token(api.me(tok), "expired, unknown kid")


def test_not_yet_valid_token_refused(api, srv, server_key, acct):
    now = int(time.time())
    tok = sign_rs256(server_key, header_for(server_key),
                     valid_claims(srv, acct, nbf=now + 300, exp=now + 900))
    assert_invalid_token(api.me(tok), "nbf 5 min ahead")


@pytest.mark.parametrize("claims_change", [
    {"iss": "http://evil.example"},
    {"iss": "http://127.0.0.1:{port}"},
    {"iss": "http://localhost:{port}/"},
    {"iss": None},
    {"exp": None},
    {"sub": None},
    {"sub": "00000000-0000-4000-8000-000000000000"},
    {"sid": "00000000-0000-4000-8000-000000000000"},
])
def test_wrong_or_missing_claims_refused(api, srv, server_key, acct, claims_change):
    change = {k: (v.format(port=srv.port) if isinstance(v, str) else v)
              for k, v in claims_change.items()}
    claims = valid_claims(srv, acct)
    for k, v in change.items():
        if v is None:
            claims.pop(k, None)
        else:
            claims[k] = v
    tok = sign_rs256(server_key, header_for(server_key), claims)
    assert_invalid_token(api.me(tok), str(change))


# ---------------------------------------------------------------- audience and issuer configured

def test_audience_and_issuer_configured(server_factory, rsa_private_pem):
    key = load_private_pem(rsa_private_pem)      # the harness' server key
    aud, iss = "https://api.example.com", "https://auth.example.com"
    srv = server_factory(env={"JWT_AUDIENCE": aud, "JWT_ISSUER": iss,
                              "RSA_PUBLIC_KEY_ID": "test-kid-1", **HIGH_LIMITS})
    api = Api(srv)
    acct = new_user(api)
    h, c, _ = token_parts(acct.access)
    assert h["kid"] == "test-kid-1"
    assert fetch_jwks(srv).json()["keys"][0]["kid"] == "test-kid-1"
    assert c["aud"] == aud or c["aud"] == [aud]
    claims = pyjwt_decode(srv, acct.access, issuer=iss, audience=aud)
    assert claims["iss"] == iss
    with pytest.raises(jwt.InvalidAudienceError):
        pyjwt_decode(srv, acct.access, issuer=iss, audience="https://other.example.com")

    d = requests.get(srv.url("/.well-known/openid-configuration"), timeout=10).json()
    assert d["issuer"] == iss
    assert d["jwks_uri"] == iss + "/.well-known/jwks.json"

    now = int(time.time())
    base = dict(c, iat=now, nbf=now, exp=now + 300)
    header = {"alg": "RS256", "typ": "at+jwt", "kid": "test-kid-1"}
    ok = sign_rs256(key, header, dict(base, jti=str(uuid.uuid4())))
    assert api.me(ok).status_code == 200, "control token with the right audience refused"
    wrong_aud = sign_rs256(key, header, dict(base, aud="https://other.example.com",
                                             jti=str(uuid.uuid4())))
    assert_invalid_token(api.me(wrong_aud), "wrong audience")
    no_aud = {k: v for k, v in base.items() if k != "aud"}
    assert_invalid_token(api.me(sign_rs256(key, header, dict(no_aud, jti=str(uuid.uuid4())))),
                         "missing audience")
    default_iss = sign_rs256(key, header, dict(base, iss=f"http://localhost:{srv.port}",
                                               jti=str(uuid.uuid4())))
    assert_invalid_token(api.me(default_iss), "default issuer while JWT_ISSUER is set")


# ---------------------------------------------------------------- key rotation

def test_previous_public_key_published_and_accepted(server_factory, tmp_path, rsa_private_pem):
    current = load_private_pem(rsa_private_pem)      # the harness' server key
    previous = rsa_key()
    prev_path = tmp_path / "previous.pub.pem"
    prev_path.write_bytes(public_pem(previous))
    srv = server_factory(env={"RSA_PREVIOUS_PUBLIC_KEYS": str(prev_path), **HIGH_LIMITS})
    api = Api(srv)

    r = fetch_jwks(srv)
    keys = r.json()["keys"]
    assert [k["kid"] for k in keys] == [jwk_thumbprint(current), jwk_thumbprint(previous)]
    for k, key in zip(keys, (current, previous)):
        jwk = public_jwk(key)
        assert (k["kty"], k["use"], k["alg"]) == ("RSA", "sig", "RS256")
        assert (k["n"], k["e"]) == (jwk["n"], jwk["e"])

    acct = new_user(api)
    # new tokens are signed with the current key
    assert jwt.get_unverified_header(acct.access)["kid"] == jwk_thumbprint(current)
    _, claims, _ = token_parts(acct.access)
    old_style = sign_rs256(previous, header_for(previous),
                           dict(claims, jti=str(uuid.uuid4())))
    r = api.me(old_style)
    assert r.status_code == 200, f"token of the previous key refused: {r.status_code} {r.text}"
    assert r.json()["id"] == acct.id
    assert pyjwt_decode(srv, old_style)["sub"] == acct.id

    # the previous kid does not make the current key's signature valid, nor the reverse
    assert_invalid_token(api.me(sign_rs256(current, header_for(previous),
                                           dict(claims, jti=str(uuid.uuid4())))))
    assert_invalid_token(api.me(sign_rs256(previous, header_for(current),
                                           dict(claims, jti=str(uuid.uuid4())))))
