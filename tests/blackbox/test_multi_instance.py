"""Several instances as one (issue 4, item 4): two `serve` processes on the
same PostgreSQL and Redis behave as one service — migrations run once, a
logout on A is refused on B, refresh-token reuse is detected whichever
instance sees it (and a token raced on both is redeemed once), rate limits
are shared — and concurrent `migrate up` processes do not race (advisory
lock on PostgreSQL; BEGIN IMMEDIATE on a SQLite file shared on one host).

The module runs its own PostgreSQL cluster and redis-server (backends.py),
never the shared ones of the test command; conftest.py collects it only in
the PostgreSQL pass of the test matrix (TEST_DATABASE_URL=postgres...).
"""

import re
import socket
import subprocess
import threading

import pytest
import requests

from backends import pg_cluster, redis_server  # noqa: F401 (module fixtures)
from conftest import (AUTH_BIN, assert_no_sanitizer_report, base_env, db_query, db_tables,
                      read_http_response)
from helpers import (PASSWORD, Api, assert_invalid_token, assert_token_response, new_user,
                     raw_json_post, token_parts, unique_email)

REFRESH = "/api/v1/auth/refresh"


@pytest.fixture
def backends_up(pg_cluster, redis_server):  # noqa: F811
    pg_cluster.ensure_running()
    redis_server.ensure_running()
    return pg_cluster, redis_server


def start_pair(server_factory, pg, redis, redis_url=None, **extra):  # noqa: F811
    """Two instances on one fresh database and one Redis, started at the
    same moment (so their start-up migrations race).  They listen on
    different ports, so they are given the one issuer a load balancer's
    replicas share (the default, http://localhost:PORT, would differ)."""
    url = pg.new_database()
    env = {"REDIS_URL": redis_url or redis.url, "WORKERS": "2",
           "JWT_ISSUER": "https://auth.example.test"}
    env.update({k: str(v) for k, v in extra.items()})
    a = server_factory(env=env, database_url=url, start=False)
    b = server_factory(env=env, database_url=url, start=False)
    a.start(wait=False)
    b.start(wait=False)
    a.wait_ready()
    b.wait_ready()
    return a, b, url


def assert_refused(r, what):
    assert r.status_code == 401, f"{what}: expected 401, got {r.status_code} {r.text}"
    assert "access_token" not in r.text, what


def migration_versions(env, cwd):
    """{version: state} from `auth-service migrate status`."""
    p = subprocess.run([AUTH_BIN, "migrate", "status"], env=env, cwd=str(cwd),
                       capture_output=True, text=True, timeout=30)
    assert_no_sanitizer_report(p.stderr, "auth-service migrate status")
    assert p.returncode == 0, f"migrate status: {p.returncode}\n{p.stdout}\n{p.stderr}"
    states = {}
    for line in p.stdout.splitlines():
        m = re.match(r"^\s*(\d+)\b.*?\b(applied|pending)\b", line, re.I)
        if m:
            states[int(m.group(1))] = m.group(2).lower()
    assert states, f"no migration listed by `migrate status`:\n{p.stdout}"
    return states


def assert_each_migration_recorded_once(url, env, cwd):
    rows = db_query(url, "SELECT version FROM schema_migrations ORDER BY version")
    versions = [int(r[0]) for r in rows]
    assert len(versions) == len(set(versions)), f"a migration recorded twice: {versions}"
    states = migration_versions(env, cwd)
    assert set(states.values()) == {"applied"}, states
    assert sorted(states) == versions, (states, versions)


def race(requests_by_port, timeout=30.0):
    """Send raw requests [(port, bytes)] as simultaneously as possible: all
    but the last byte first, then every last byte together.  RawResponses
    in the same order."""
    socks = [socket.create_connection(("127.0.0.1", port), timeout=timeout)
             for port, _ in requests_by_port]
    try:
        for s, (_, data) in zip(socks, requests_by_port):
            s.sendall(data[:-1])
        barrier = threading.Barrier(len(socks))
        results = [None] * len(socks)
        errors = []

        def go(i):
            try:
                barrier.wait(timeout=timeout)
                socks[i].sendall(requests_by_port[i][1][-1:])
                results[i] = read_http_response(socks[i], timeout)
            except Exception as e:  # reported below
                errors.append(e)
        threads = [threading.Thread(target=go, args=(i,)) for i in range(len(socks))]
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


# --------------------------------------------------------------------------
# migrations
# --------------------------------------------------------------------------

def test_two_instances_starting_together_run_migrations_once(backends_up, server_factory):
    pg, redis = backends_up
    a, b, url = start_pair(server_factory, pg, redis)
    for srv in (a, b):
        r = requests.get(srv.url("/api/v1/ready"), timeout=10)
        assert r.status_code == 200, r.text
        assert r.json()["checks"] == {"database": "ok", "redis": "ok"}, r.text
    assert_each_migration_recorded_once(url, a.env, a.workdir)


@pytest.mark.parametrize("db", ["postgresql", "sqlite"])
def test_concurrent_migrate_up_processes_both_succeed_and_record_each_migration_once(
        db, backends_up, tmp_path):
    """PostgreSQL: the advisory lock serialises the runners.  SQLite (one
    file shared by two processes on one host): BEGIN IMMEDIATE does, as
    store/migrations.c promises.  Several rounds: the race is in timing."""
    pg, _ = backends_up
    for round_ in range(3 if db == "postgresql" else 10):
        if db == "postgresql":
            url = pg.new_database()
        else:
            url = "sqlite:///" + str(tmp_path / f"race-{round_}.db")
        env = base_env()
        env.update({"DATABASE_URL": url, "ENVIRONMENT": "test", "LOG_FORMAT": "json"})
        procs = [subprocess.Popen([AUTH_BIN, "migrate", "up"], env=env, cwd=str(tmp_path),
                                  stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
                 for _ in range(2)]
        outs = []
        for p in procs:
            try:
                out, err = p.communicate(timeout=30)
            except subprocess.TimeoutExpired:
                for q in procs:
                    q.kill()
                    q.wait()
                pytest.fail("`migrate up` did not finish within 30 s (lock never released?)")
            assert_no_sanitizer_report(err, "auth-service migrate up")
            outs.append((p.returncode, out, err))
        for rc, out, err in outs:
            assert rc == 0, f"round {round_}: concurrent `migrate up` exited {rc}\n{out}\n{err}"
        assert_each_migration_recorded_once(url, env, tmp_path)
        assert {"users", "sessions", "refresh_tokens", "email_outbox",
                "schema_migrations"} <= db_tables(url), sorted(db_tables(url))


# --------------------------------------------------------------------------
# accounts and revocation across instances
# --------------------------------------------------------------------------

def test_user_registered_on_a_logs_in_on_b(backends_up, server_factory):
    pg, redis = backends_up
    a, b, _ = start_pair(server_factory, pg, redis)
    api_a, api_b = Api(a), Api(b)
    email = unique_email("multi")
    user = api_a.register(email).json()
    tokens = assert_token_response(api_b.login(email))
    r = api_a.me(tokens["access_token"])
    assert r.status_code == 200 and r.json()["id"] == user["id"], r.text
    tokens_a = api_a.tokens(email)
    r = api_b.me(tokens_a["access_token"])
    assert r.status_code == 200 and r.json()["email"] == email, r.text
    sessions = api_b.sessions(tokens_a["access_token"]).json()
    assert len(sessions) == 2, sessions
    # a refresh token issued by A is redeemed by B (same SECRET_KEY derivation)
    assert_token_response(api_b.refresh(tokens_a["refresh_token"]))


def test_logout_on_a_is_refused_on_b(backends_up, server_factory):
    pg, redis = backends_up
    a, b, _ = start_pair(server_factory, pg, redis)
    api_a, api_b = Api(a), Api(b)
    acct = new_user(api_a)
    other = api_a.tokens(acct.email)  # a second session of the same user
    assert api_b.me(acct.access).status_code == 200
    r = api_a.post("/api/v1/auth/logout", headers=acct.headers,
                   json={"refresh_token": acct.refresh})
    assert r.status_code == 204, r.text
    assert_invalid_token(api_b.me(acct.access), "logged-out token on B")
    assert_invalid_token(api_a.me(acct.access), "logged-out token on A")
    assert_refused(api_b.refresh(acct.refresh), "refresh token of the logged-out session on B")
    # the other session is untouched
    assert api_b.me(other["access_token"]).status_code == 200


@pytest.mark.parametrize("first,second", [("a", "b"), ("b", "a")])
def test_refresh_reuse_detected_whichever_instance_sees_it(first, second, backends_up,
                                                           server_factory):
    pg, redis = backends_up
    a, b, _ = start_pair(server_factory, pg, redis, REFRESH_TOKEN_REUSE_INTERVAL_SECONDS=0)
    apis = {"a": Api(a), "b": Api(b)}
    acct = new_user(apis[first])
    newest = assert_token_response(apis[first].refresh(acct.refresh))
    assert apis[second].me(newest["access_token"]).status_code == 200
    # the spent token replayed on the other instance: theft
    assert_refused(apis[second].refresh(acct.refresh), f"spent token replayed on {second}")
    # the whole family is dead, on both instances
    assert_refused(apis[first].refresh(newest["refresh_token"]),
                   f"newest refresh token on {first} after reuse")
    for name, api in apis.items():
        assert_invalid_token(api.me(newest["access_token"]),
                             f"newest access token on {name} after reuse")


def test_concurrent_refresh_on_both_instances_exactly_one_wins(backends_up, server_factory):
    pg, redis = backends_up
    a, b, _ = start_pair(server_factory, pg, redis, REFRESH_TOKEN_REUSE_INTERVAL_SECONDS=0)
    api = Api(a)
    for attempt in range(3):
        acct = new_user(api)
        reqs = [(srv.port, raw_json_post(srv.port, REFRESH, {"refresh_token": acct.refresh}))
                for srv in (a, b, a, b, a, b)]
        results = race(reqs)
        statuses = [r.status for r in results]
        assert statuses.count(200) == 1, (
            f"attempt {attempt}: one refresh token redeemed {statuses.count(200)} times "
            f"across instances: {statuses}")
        assert set(statuses) <= {200, 401}, [(r.status, r.body[:200]) for r in results]


def test_logout_all_on_b_kills_tokens_issued_by_a(backends_up, server_factory):
    pg, redis = backends_up
    a, b, _ = start_pair(server_factory, pg, redis)
    api_a, api_b = Api(a), Api(b)
    acct = new_user(api_a)
    second_a = api_a.tokens(acct.email)
    on_b = api_b.tokens(acct.email)
    bystander = new_user(api_a)
    r = api_b.post("/api/v1/auth/logout-all", headers={
        "Authorization": f"Bearer {on_b['access_token']}"})
    assert r.status_code == 204, r.text
    for access in (acct.access, second_a["access_token"], on_b["access_token"]):
        sid = token_parts(access)[1]["sid"]
        assert_invalid_token(api_a.me(access), f"session {sid} on A after logout-all on B")
        assert_invalid_token(api_b.me(access), f"session {sid} on B after logout-all on B")
    for refresh in (acct.refresh, second_a["refresh_token"]):
        assert_refused(api_a.refresh(refresh), "refresh token issued by A, on A")
    assert api_a.me(bystander.access).status_code == 200
    # logging in again works, on either instance
    fresh = assert_token_response(api_a.login(acct.email))
    assert api_b.me(fresh["access_token"]).status_code == 200


# --------------------------------------------------------------------------
# shared rate limits
# --------------------------------------------------------------------------

def test_failed_login_limit_is_shared(backends_up, server_factory):
    pg, redis = backends_up
    a, b, _ = start_pair(server_factory, pg, redis, RATE_LIMIT_LOGIN_PER_MINUTE=3)
    api_a, api_b = Api(a), Api(b)
    acct = new_user(api_a)
    order = [api_a, api_b, api_a]
    for i, api in enumerate(order, 1):
        r = api.login(acct.email, "wrong password %d" % i, expect=None)
        assert r.status_code == 401, f"failed attempt {i}: {r.status_code} {r.text}"
    r = api_b.login(acct.email, "wrong password 4", expect=None)
    assert r.status_code == 429, f"4th failed attempt overall (on B): {r.status_code} {r.text}"
    assert r.headers.get("Retry-After", "").isdigit(), r.headers
    # the limit holds on both instances, even for the right password
    for name, api in (("A", api_a), ("B", api_b)):
        r = api.login(acct.email, PASSWORD, expect=None)
        assert r.status_code == 429, f"on {name} after the limit: {r.status_code} {r.text}"
    # another account from the same address is not affected
    other = new_user(api_b)
    assert api_a.login(other.email, expect=None).status_code == 200


def test_per_address_limit_is_shared(backends_up, server_factory):
    pg, redis = backends_up
    # a Redis database of its own, so other tests' requests do not count
    db = 5
    redis.command("SELECT", db)  # fails loudly if the server has fewer databases
    url = redis.url.rsplit("/", 1)[0] + f"/{db}"
    a, b, _ = start_pair(server_factory, pg, redis, redis_url=url, RATE_LIMIT_IP_PER_MINUTE=4)
    api_a, api_b = Api(a), Api(b)
    for i, api in enumerate((api_a, api_b, api_a, api_b), 1):
        r = api.register(unique_email("ip"), expect=None)
        assert r.status_code == 201, f"request {i} of 4: {r.status_code} {r.text}"
    r = api_a.register(unique_email("ip"), expect=None)
    assert r.status_code == 429, f"5th credential request overall (on A): {r.status_code} {r.text}"
    assert r.headers.get("Retry-After", "").isdigit(), r.headers
    r = api_b.post("/api/v1/auth/login", json={"email": unique_email("ip"), "password": PASSWORD})
    assert r.status_code == 429, f"6th (login on B): {r.status_code} {r.text}"
