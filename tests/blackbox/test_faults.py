"""Fault tests (issue 4, item 6): PostgreSQL stopped (fast and immediate),
restarted and frozen while requests run; Redis stopped and restarted (fail
closed, then recover); kill -9 of the service in the middle of a
registration burst (nothing half-written).

These tests stop and kill their backends, so they never use the shared
PostgreSQL/Redis of the test command: the module starts a private PostgreSQL
cluster and redis-server (backends.py) and tears them down at the end.
conftest.py collects this module only in the PostgreSQL pass of the test
matrix (TEST_DATABASE_URL=postgres...); the value of TEST_DATABASE_URL is
otherwise not used here.  The Redis and kill -9 scenarios also run on a
SQLite file (the single-instance set-up with Redis).

Waits are polls with deadlines (wait_until), never fixed sleeps.  Every
answer in a fault window is timed: against DATABASE_POOL_TIMEOUT (2 s here)
plus a margin when the database is down, against FROZEN_BOUND when it hangs.
"""

import re
import secrets
import threading
import time

import pytest
import requests

from backends import pg_cluster, redis_server  # noqa: F401 (module fixtures)
from conftest import db_query, wait_until
from helpers import PASSWORD, Api, bearer, new_user, unique_email

POOL_TIMEOUT = 2
MARGIN = 3.0
BOUND = POOL_TIMEOUT + MARGIN          # the longest any answer may take in a fault window
CLIENT_TIMEOUT = BOUND + 10            # a hang shows as a failure, never blocks the run
POOL_SIZE = 3
MAX_OVERFLOW = 2

BCRYPT_RE = re.compile(r"^\$2[aby]\$\d\d\$[./A-Za-z0-9]{53}$")
UUID_RE = re.compile(r"^[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}$")


# --------------------------------------------------------------------------
# helpers
# --------------------------------------------------------------------------

@pytest.fixture
def backends_up(pg_cluster, redis_server):  # noqa: F811
    """Both private backends running at the start of a test (an earlier,
    failed test may have left one stopped)."""
    pg_cluster.ensure_running()
    redis_server.ensure_running()
    return pg_cluster, redis_server


def service_env(redis, **extra):
    env = {
        "REDIS_URL": redis.url,
        "DATABASE_POOL_TIMEOUT": str(POOL_TIMEOUT),
        "DATABASE_POOL_SIZE": str(POOL_SIZE),
        "DATABASE_MAX_OVERFLOW": str(MAX_OVERFLOW),
        "WORKERS": "4",
    }
    env.update({k: str(v) for k, v in extra.items()})
    return env


def database_for(kind, request, tmp_path):
    """A fresh database of the given kind: on the module's private cluster
    for postgresql; a file for sqlite (never TEST_DATABASE_URL's server)."""
    if kind == "postgresql":
        return request.getfixturevalue("pg_cluster").new_database()
    return "sqlite:///" + str(tmp_path / f"auth-{secrets.token_hex(4)}.db")


def timed(fn, *args, **kw):
    """(response, seconds); a client-side timeout fails the test (a hang)."""
    kw.setdefault("timeout", CLIENT_TIMEOUT)
    t0 = time.monotonic()
    try:
        r = fn(*args, **kw)
    except requests.Timeout:
        pytest.fail(f"no answer within {CLIENT_TIMEOUT}s ({args}): the service hangs")
    return r, time.monotonic() - t0


def ready(srv):
    r, took = timed(requests.get, srv.url("/api/v1/ready"))
    assert took <= BOUND, f"/ready took {took:.2f}s (bound {BOUND}s)"
    assert r.status_code in (200, 503), (r.status_code, r.text)
    return r


def wait_ready_state(srv, status, timeout, **checks):
    """Poll /ready until it answers `status` with the given checks; return the body."""
    def probe():
        r = ready(srv)
        body = r.json()
        if r.status_code == status and all(body.get("checks", {}).get(k) == v
                                           for k, v in checks.items()):
            return body
        return None
    return wait_until(probe, timeout=timeout, interval=0.05,
                      message=f"/ready {status} with checks {checks}")


def assert_unavailable(r, took, what):
    """A fail-fast refusal: 503 + Retry-After + a detail, within the bound."""
    assert r.status_code == 503, f"{what}: expected 503, got {r.status_code} {r.text}"
    assert r.headers.get("Retry-After", "").strip().isdigit(), f"{what}: {r.headers}"
    assert isinstance(r.json().get("detail"), str), f"{what}: {r.text}"
    assert took <= BOUND, f"{what}: answered after {took:.2f}s (bound {BOUND}s)"


class Traffic:
    """Background threads calling the service in a loop, recording
    (name, started, seconds, status or error) for every call, until stop()."""

    def __init__(self, srv, calls, threads=1, interval=0.02):
        self.srv = srv
        self.calls = calls          # [(name, fn(session, url) -> Response)]
        self.interval = interval
        self.records = []
        self.lock = threading.Lock()
        self.done = threading.Event()
        self.threads = [threading.Thread(target=self._run, daemon=True)
                        for _ in range(threads)]

    def _run(self):
        http = requests.Session()
        i = 0
        while not self.done.is_set():
            name, fn = self.calls[i % len(self.calls)]
            i += 1
            t0 = time.monotonic()
            try:
                status = fn(http, self.srv.url).status_code
            except requests.RequestException as e:
                status = f"{type(e).__name__}: {e}"
            with self.lock:
                self.records.append((name, t0, time.monotonic() - t0, status))
            self.done.wait(self.interval)

    def __enter__(self):
        for t in self.threads:
            t.start()
        return self

    def __exit__(self, *exc):
        self.stop()

    def stop(self):
        self.done.set()
        for t in self.threads:
            t.join(CLIENT_TIMEOUT + 5)
            assert not t.is_alive(), "a traffic thread is stuck in a request"

    def snapshot(self):
        with self.lock:
            return list(self.records)

    def seen(self, status, since=0.0):
        return any(s == status and t0 >= since for _, t0, _, s in self.snapshot())

    def assert_only(self, allowed, bound=BOUND):
        records = self.snapshot()
        assert records, "no background request ran"
        bad = [r for r in records if r[3] not in allowed]
        assert not bad, f"unexpected answers (allowed {allowed}): {bad[:10]}"
        slow = [r for r in records if r[2] > bound]
        assert not slow, f"answers slower than {bound}s: {slow[:10]}"


def health_traffic(srv):
    return Traffic(srv, [("health", lambda h, u: h.get(u("/api/v1/health"),
                                                       timeout=CLIENT_TIMEOUT))])


# --------------------------------------------------------------------------
# PostgreSQL stopped while requests run
# --------------------------------------------------------------------------

@pytest.mark.parametrize("mode", ["fast", "immediate"])
def test_postgres_stop_fails_fast_with_503_and_recovers_by_itself(mode, backends_up,
                                                                   server_factory):
    pg, redis = backends_up
    srv = server_factory(env=service_env(redis), database_url=pg.new_database())
    api = Api(srv)
    acct = new_user(api)
    body = wait_ready_state(srv, 200, 10, database="ok", redis="ok")
    assert body["status"] == "ready"

    load_calls = [
        ("me", lambda h, u: h.get(u("/api/v1/users/me"), headers=acct.headers,
                                  timeout=CLIENT_TIMEOUT)),
        ("login", lambda h, u: h.post(u("/api/v1/auth/login"),
                                      json={"email": acct.email, "password": PASSWORD},
                                      timeout=CLIENT_TIMEOUT)),
    ]
    with health_traffic(srv) as health, Traffic(srv, load_calls, threads=2) as load:
        wait_until(lambda: load.seen(200), 10, message="background requests succeeding")

        pg.stop(mode)
        stopped_at = time.monotonic()
        body = wait_ready_state(srv, 503, 15, database="error")
        assert body.get("detail") == "Service not ready", body
        assert body["checks"].get("redis") == "ok", body
        wait_until(lambda: load.seen(503, since=stopped_at), 10,
                   message="background requests answered 503 while PostgreSQL is down")

        # every kind of database-bound request fails fast, one at a time ...
        http = requests.Session()
        probes = [
            ("GET users/me", lambda: timed(http.get, srv.url("/api/v1/users/me"),
                                           headers=acct.headers)),
            ("POST login", lambda: timed(http.post, srv.url("/api/v1/auth/login"),
                                         json={"email": acct.email, "password": PASSWORD})),
            ("POST login (wrong password)", lambda: timed(
                http.post, srv.url("/api/v1/auth/login"),
                json={"email": acct.email, "password": "wrong password 1"})),
            ("POST register", lambda: timed(http.post, srv.url("/api/v1/auth/register"),
                                            json={"email": unique_email(),
                                                  "password": PASSWORD})),
            ("POST refresh", lambda: timed(http.post, srv.url("/api/v1/auth/refresh"),
                                           json={"refresh_token": acct.refresh})),
            ("GET sessions", lambda: timed(http.get, srv.url("/api/v1/auth/sessions"),
                                           headers=acct.headers)),
        ]
        for what, call in probes:
            r, took = call()
            assert_unavailable(r, took, what + " while PostgreSQL is down")

        # ... and together (more borrowers than the pool holds)
        results = []

        def one():
            results.append(timed(requests.get, srv.url("/api/v1/users/me"),
                                 headers=acct.headers))
        threads = [threading.Thread(target=one) for _ in range(POOL_SIZE + MAX_OVERFLOW + 3)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(CLIENT_TIMEOUT + 5)
        assert len(results) == len(threads), "a concurrent request never returned"
        for r, took in results:
            assert_unavailable(r, took, "concurrent users/me while PostgreSQL is down")

        assert srv.running(), f"auth-service died while PostgreSQL was down\n{srv.describe()}"

        pg.start()
        started_at = time.monotonic()
        body = wait_ready_state(srv, 200, 20, database="ok", redis="ok")
        assert body["status"] == "ready"
        wait_until(lambda: load.seen(200, since=started_at), 10,
                   message="background requests succeeding again after PostgreSQL restart")

    health.assert_only({200})
    load.assert_only({200, 503})
    assert srv.running(), f"auth-service died\n{srv.describe()}"

    # everything works again, without a service restart
    r = api.login(acct.email, expect=None)
    assert r.status_code == 200, r.text
    r = api.me(acct.access)
    assert r.status_code == 200, f"an access token issued before the outage: {r.text}"
    assert r.json()["email"] == acct.email
    r = api.refresh(acct.refresh)
    assert r.status_code == 200, f"a refresh token issued before the outage: {r.text}"
    assert api.me(r.json()["access_token"]).status_code == 200
    other = new_user(api)
    assert api.me(other.access).status_code == 200


def test_postgres_restart_between_requests_costs_at_most_one_failure_per_stale_connection(
        backends_up, server_factory):
    """A restart while the service is idle: every pooled connection is dead
    afterwards.  Each may cost at most one failed request (503, never 500)
    before it is replaced; then every request succeeds."""
    pg, redis = backends_up
    srv = server_factory(env=service_env(redis), database_url=pg.new_database())
    api = Api(srv)
    acct = new_user(api)

    # put every persistent connection (and the overflow) to use once
    results = []

    def one():
        results.append(requests.get(srv.url("/api/v1/users/me"), headers=acct.headers,
                                    timeout=CLIENT_TIMEOUT).status_code)
    threads = [threading.Thread(target=one) for _ in range(2 * (POOL_SIZE + MAX_OVERFLOW))]
    for t in threads:
        t.start()
    for t in threads:
        t.join(CLIENT_TIMEOUT + 5)
    assert results and set(results) == {200}, results

    pg.stop("fast")
    pg.start()

    statuses = []
    deadline = time.monotonic() + 20
    while time.monotonic() < deadline:
        r, took = timed(lambda **kw: api.me(acct.access))
        statuses.append(r.status_code)
        assert took <= BOUND, f"users/me took {took:.2f}s after a PostgreSQL restart"
        assert r.status_code in (200, 503), f"after a PostgreSQL restart: {r.status_code} {r.text}"
        if r.status_code == 200:
            break
    assert statuses[-1] == 200, f"never recovered after a PostgreSQL restart: {statuses}"
    failures = statuses.count(503)
    assert failures <= POOL_SIZE + MAX_OVERFLOW, (
        f"{failures} failed requests after a restart with a pool of "
        f"{POOL_SIZE}+{MAX_OVERFLOW}: stale connections are not replaced: {statuses}")
    for i in range(10):
        r = api.me(acct.access)
        assert r.status_code == 200, f"request {i} after recovery: {r.status_code} {r.text}"
    assert api.login(acct.email, expect=None).status_code == 200
    assert srv.running()


# A hung database answers nothing, so only a client-side deadline ends a
# command: the PostgreSQL backend allows one command its statement timeout
# plus a margin (15 s, store/postgres.c), and a reconnect its connect_timeout
# (5 s); requests of the probe pool (/ready, /metrics) may wait for each
# other.  The bound is not "fast", it is "never hangs".  The test sends no
# more concurrent requests than there are workers, so queueing behind
# blocked workers (which this bound does not cover) plays no part.
FROZEN_BOUND = 30.0


def test_postgres_frozen_requests_answer_503_in_bounded_time_and_recover(backends_up,
                                                                       server_factory):
    """A hung database (every PostgreSQL process SIGSTOPped: the kernel
    still accepts connections and queries, nothing answers).  Nothing may
    hang: /ready and database-bound requests answer 503 and /metrics 200,
    all within FROZEN_BOUND; /health stays fast throughout; all recovers
    after SIGCONT."""
    pg, redis = backends_up
    srv = server_factory(env=service_env(redis), database_url=pg.new_database())
    api = Api(srv)
    acct = new_user(api)
    wait_ready_state(srv, 200, 10, database="ok", redis="ok")
    client_timeout = FROZEN_BOUND + 5
    timings = []

    with health_traffic(srv) as health:
        pg.freeze()
        try:
            results = []

            def one(what, call):
                try:
                    results.append((what, *call()))
                except BaseException as e:  # a hang (pytest.fail in timed) or an error
                    results.append((what, e, None))
            calls = [
                ("ready", lambda: timed(requests.get, srv.url("/api/v1/ready"),
                                        timeout=client_timeout)),
                # monitoring matters most during an incident
                ("metrics", lambda: timed(requests.get, srv.url("/metrics"),
                                          timeout=client_timeout)),
                ("users/me", lambda: timed(requests.get, srv.url("/api/v1/users/me"),
                                           headers=acct.headers, timeout=client_timeout)),
                ("login", lambda: timed(requests.post, srv.url("/api/v1/auth/login"),
                                        json={"email": acct.email, "password": PASSWORD},
                                        timeout=client_timeout)),
                ("register", lambda: timed(requests.post, srv.url("/api/v1/auth/register"),
                                           json={"email": unique_email(),
                                                 "password": PASSWORD},
                                           timeout=client_timeout)),
            ]
            threads = [threading.Thread(target=one, args=c) for c in calls]
            for t in threads:
                t.start()
            for t in threads:
                t.join(client_timeout + 5)
            assert len(results) == len(calls), "a request never returned"
            problems = []
            for what, r, took in results:
                if isinstance(r, BaseException):
                    timings.append((what, "no answer", client_timeout))
                    problems.append(f"{what}: no answer within {client_timeout}s")
                    continue
                timings.append((what, r.status_code, round(took, 2)))
                expected = 200 if what == "metrics" else 503
                if r.status_code != expected:
                    problems.append(f"{what}: {r.status_code} {r.text[:200]}")
                if took > FROZEN_BOUND:
                    problems.append(f"{what}: took {took:.2f}s (bound {FROZEN_BOUND}s)")
                if what == "ready" and r.status_code == 503 and \
                        r.json()["checks"].get("database") != "error":
                    problems.append(f"ready: {r.text}")
            assert not problems, (f"with a hung database: {problems}\n"
                                  f"all answers (what, status, seconds): {sorted(timings)}")
            assert srv.running(), f"auth-service died\n{srv.describe()}"
        finally:
            pg.thaw()
        thawed = time.monotonic()
        wait_ready_state(srv, 200, 30, database="ok", redis="ok")
        recovery = time.monotonic() - thawed

    print("answers with a hung database (what, status, seconds):", sorted(timings),
          f"; ready again {recovery:.1f}s after SIGCONT")
    health.assert_only({200})   # within BOUND: /health never waits for the database
    assert api.login(acct.email, expect=None).status_code == 200
    assert api.me(acct.access).status_code == 200


# --------------------------------------------------------------------------
# Redis stopped: fail closed, then recover
# --------------------------------------------------------------------------

@pytest.mark.parametrize("db", ["postgresql", "sqlite"])
def test_redis_stop_fails_closed_and_recovers_by_itself(db, request, tmp_path,
                                                        redis_server,  # noqa: F811
                                                        server_factory):
    if db == "postgresql":
        request.getfixturevalue("pg_cluster").ensure_running()
    redis_server.ensure_running()
    srv = server_factory(env=service_env(redis_server),
                         database_url=database_for(db, request, tmp_path))
    api = Api(srv)
    acct = new_user(api)
    logged_out = new_user(api)
    r = api.post("/api/v1/auth/logout", headers=logged_out.headers)
    assert r.status_code == 204, r.text
    assert api.me(logged_out.access).status_code == 401
    wait_ready_state(srv, 200, 10, database="ok", redis="ok")

    with health_traffic(srv) as health:
        redis_server.stop()
        body = wait_ready_state(srv, 503, 15, redis="error")
        assert body["checks"].get("database") == "ok", body
        assert body.get("detail") == "Service not ready", body

        http = requests.Session()
        # fail closed: no token is accepted while revocation state is unknown
        for what, token in (("a live token", acct.access),
                            ("a logged-out token", logged_out.access)):
            for _ in range(3):
                r, took = timed(http.get, srv.url("/api/v1/users/me"), headers=bearer(token))
                assert r.status_code in (401, 503), (
                    f"users/me with {what} while Redis is down: {r.status_code} {r.text}")
                assert took <= BOUND, f"users/me took {took:.2f}s while Redis is down"
                if r.status_code == 503:
                    assert r.headers.get("Retry-After"), r.headers
        # the rate-limit store is unavailable: credential endpoints refuse
        for what, call in (
                ("login", lambda: timed(http.post, srv.url("/api/v1/auth/login"),
                                        json={"email": acct.email, "password": PASSWORD})),
                ("login (wrong password)", lambda: timed(
                    http.post, srv.url("/api/v1/auth/login"),
                    json={"email": acct.email, "password": "wrong password 1"})),
                ("register", lambda: timed(http.post, srv.url("/api/v1/auth/register"),
                                           json={"email": unique_email(),
                                                 "password": PASSWORD}))):
            r, took = call()
            assert_unavailable(r, took, what + " while Redis is down")
        assert srv.running(), f"auth-service died while Redis was down\n{srv.describe()}"

        redis_server.start()   # same port, empty (no persistence)
        wait_ready_state(srv, 200, 20, database="ok", redis="ok")

    health.assert_only({200})
    assert srv.running()
    r = api.login(acct.email, expect=None)
    assert r.status_code == 200, f"login after Redis came back: {r.text}"
    r = api.me(acct.access)
    assert r.status_code == 200, f"an access token issued before the outage: {r.text}"
    # Redis lost its deny-list in the restart; the logout still holds
    r = api.me(logged_out.access)
    assert r.status_code == 401, f"a logged-out token after Redis lost its data: {r.text}"
    # rate limits work again (counted in the new Redis)
    assert redis_server.command("DBSIZE") > 0, "nothing written to Redis after recovery"


# --------------------------------------------------------------------------
# kill -9 in the middle of a registration burst
# --------------------------------------------------------------------------

@pytest.mark.parametrize("db", ["postgresql", "sqlite"])
def test_kill_9_during_registration_burst_leaves_nothing_half_written(db, request, tmp_path,
                                                                      redis_server,  # noqa: F811
                                                                      server_factory):
    if db == "postgresql":
        request.getfixturevalue("pg_cluster").ensure_running()
    redis_server.ensure_running()
    url = database_for(db, request, tmp_path)
    env = service_env(redis_server, WORKERS=4)
    srv = server_factory(env=env, database_url=url)

    n_threads = 12
    outcomes = {}        # email -> [("register"|"login", status or error, started)]
    lock = threading.Lock()
    stop = threading.Event()
    created = [0]

    def record(email, step, status, t0):
        with lock:
            outcomes.setdefault(email, []).append((step, status, t0))
            if step == "register" and status == 201:
                created[0] += 1

    def worker(k):
        http = requests.Session()
        i = 0
        while not stop.is_set():
            i += 1
            email = f"burst-{k}-{i}-{secrets.token_hex(3)}@example.com"
            t0 = time.monotonic()
            try:
                r = http.post(srv.url("/api/v1/auth/register"),
                              json={"email": email, "password": PASSWORD,
                                    "full_name": f"Burst {k} {i}"}, timeout=CLIENT_TIMEOUT)
                record(email, "register", r.status_code, t0)
            except requests.RequestException as e:
                record(email, "register", f"error: {type(e).__name__}", t0)
                continue
            if r.status_code == 201 and i % 2 == 0:
                t0 = time.monotonic()
                try:
                    r = http.post(srv.url("/api/v1/auth/login"),
                                  json={"email": email, "password": PASSWORD},
                                  timeout=CLIENT_TIMEOUT)
                    record(email, "login", r.status_code, t0)
                except requests.RequestException as e:
                    record(email, "login", f"error: {type(e).__name__}", t0)

    threads = [threading.Thread(target=worker, args=(k,), daemon=True) for k in range(n_threads)]
    for t in threads:
        t.start()
    try:
        wait_until(lambda: created[0] >= 100, 30, message="100 registrations in the burst")
        killed_at = time.monotonic()
        srv.kill()  # SIGKILL to the process group, requests in flight
    finally:
        stop.set()
        for t in threads:
            t.join(CLIENT_TIMEOUT + 5)
    assert not any(t.is_alive() for t in threads), "a burst thread is stuck"
    assert srv.proc.returncode == -9, srv.proc.returncode

    flat = [(email, step, status, t0) for email, steps in outcomes.items()
            for step, status, t0 in steps]
    in_flight = [o for o in flat if isinstance(o[2], str) and o[3] < killed_at]
    assert any(o[1] == "register" for o in in_flight), (
        f"no registration was in flight when the service was killed: {in_flight}")
    unexpected = [o for o in flat if not isinstance(o[2], str) and o[2] not in (200, 201)]
    assert not unexpected, f"answers other than 200/201 before the kill: {unexpected[:10]}"

    registered = {e for e, s in outcomes.items() if ("register", 201) in [x[:2] for x in s]}
    logged_in = {e for e, s in outcomes.items() if ("login", 200) in [x[:2] for x in s]}
    uncertain = {e for e, s in outcomes.items()
                 if any(step == "register" and isinstance(st, str) for step, st, _ in s)}

    # a fresh service on the same database
    srv2 = server_factory(env=env, database_url=url)
    wait_ready_state(srv2, 200, 20, database="ok", redis="ok")

    users = {row[1]: row for row in db_query(url, "SELECT id, email, password_hash, created_at "
                                                  "FROM users")}
    for email, (uid, _, pw_hash, created_at) in users.items():
        assert UUID_RE.match(uid), f"user {email}: id {uid!r}"
        assert BCRYPT_RE.match(pw_hash), f"user {email}: incomplete password hash {pw_hash!r}"
        assert created_at.isdigit() and int(created_at) > 0, (email, created_at)
    missing = registered - set(users)
    assert not missing, f"answered 201 but not stored: {sorted(missing)[:5]}"
    strangers = set(users) - set(outcomes)
    assert not strangers, f"users nobody registered: {sorted(strangers)[:5]}"

    orphan_sessions = db_query(url, "SELECT s.id FROM sessions s LEFT JOIN users u "
                                    "ON u.id = s.user_id WHERE u.id IS NULL")
    assert not orphan_sessions, f"sessions without a user: {orphan_sessions[:5]}"
    tokenless = db_query(url, "SELECT s.id FROM sessions s WHERE NOT EXISTS (SELECT 1 FROM "
                              "refresh_tokens t WHERE t.session_id = s.id)")
    assert not tokenless, f"sessions without a refresh token: {tokenless[:5]}"
    orphan_tokens = db_query(url, "SELECT t.token_hash FROM refresh_tokens t LEFT JOIN sessions s "
                                  "ON s.id = t.session_id WHERE s.id IS NULL "
                                  "OR s.user_id <> t.user_id")
    assert not orphan_tokens, f"refresh tokens without their session: {orphan_tokens[:5]}"
    with_session = {r[0] for r in db_query(url, "SELECT DISTINCT u.email FROM users u JOIN "
                                                "sessions s ON s.user_id = u.id")}
    lost = logged_in - with_session
    assert not lost, f"logins answered 200 without a stored session: {sorted(lost)[:5]}"

    # the verification email is written in the same transaction as the user
    outbox = db_query(url, "SELECT recipient FROM email_outbox")
    recipients = {r[0] for r in outbox}
    assert recipients <= set(users), (
        f"outbox messages for accounts that do not exist: {sorted(recipients - set(users))[:5]}")
    if recipients & set(users):   # the email feature: every account got its message
        no_mail = set(users) - recipients
        assert not no_mail, f"accounts without a verification email: {sorted(no_mail)[:5]}"
        no_token = db_query(url, "SELECT u.email FROM users u WHERE NOT EXISTS (SELECT 1 FROM "
                                 "one_time_tokens t WHERE t.user_id = u.id)")
        assert not no_token, f"accounts without a verification token: {no_token[:5]}"

    # through the API: complete accounts work, absent ones leave no trace
    api = Api(srv2)
    for email in sorted(registered)[:8]:
        assert api.login(email, expect=None).status_code == 200, email
    for email in sorted(uncertain):
        if email in users:
            r = api.login(email, expect=None)
            assert r.status_code == 200, f"{email} is stored but cannot log in: {r.text}"
        else:
            r = api.register(email, expect=None)
            assert r.status_code == 201, (
                f"{email} is not stored, yet registering it again gives "
                f"{r.status_code} {r.text}")
