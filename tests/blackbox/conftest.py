"""Black-box test harness for auth-service: runs the real binary.

Everything a suite needs to start, probe, stop and inspect the service lives
here, so later suites (accounts/tokens, PostgreSQL/Redis, SMTP) reuse it.

Environment of the test run
  AUTH_BIN              binary under test (default <repo>/build/auth-service);
                        the test command runs the suite again with a
                        sanitizer build through this variable.
  TEST_DATABASE_URL     unset / sqlite...: every server gets a fresh
                        sqlite:////<tmpdir>/auth.db.  postgresql://...: the
                        URL of an administrative database; every server gets a
                        fresh database `test_<random>` created (and dropped
                        afterwards) with psql.
  TEST_REDIS_URL        when set, passed to every server as REDIS_URL.
  TEST_START_TIMEOUT    seconds a server may take to answer /health (20).
  AUTH_WRAPPER          a command (split like a shell would) put before
                        `auth-service serve`, e.g. "valgrind --leak-check=full"
                        (scripts/valgrind-smoke); CLI subcommands run bare.

Fixtures
  server_factory        make_server(env=None, start=True, files=None,
                        write_key=True, database_url=None) -> Server.  Every
                        server is stopped (and checked for sanitizer reports)
                        when the test ends.
  server                one started server with the default environment.
  rsa_private_pem       bytes: an RSA 2048 PKCS#8 PEM made once per session.
  make_database_url     (workdir) -> URL of a fresh database (see above).
  db_query(url, sql) / db_tables(url)   (module-level) inspect a test database.
  run_auth              run_auth(args, env, cwd, stdin=None, timeout=30) ->
                        (rc, stdout, stderr): the binary with exactly env
                        (plus PATH and sanitizer options), no server needed.

Module-level helpers (import them: `from conftest import ...`)
  raw_request(port, method, path, headers=None, body=None) -> RawResponse
  HeldRequest(port): a POST whose headers the server has read (it answered
                     `100 Continue`) but whose body is still outstanding, so
                     the server counts it as in flight; .finish() sends the
                     body and returns the RawResponse.
  wait_until(predicate, timeout, interval, message): polling with a deadline.
  assert_no_sanitizer_report(text, what)

Servers never write into the repository: cwd, database, key, logs are all in
a per-server temporary directory (kept by pytest's tmp_path retention for
post-mortems).
"""

import base64
import http.client
import json
import os
import re
import secrets
import shlex
import shutil
import signal
import socket
import subprocess
import time
import urllib.parse
from pathlib import Path

import pytest
import requests

REPO = Path(__file__).resolve().parents[2]
FIXTURES = REPO / "tests" / "fixtures"
AUTH_BIN = os.environ.get("AUTH_BIN") or str(REPO / "build" / "auth-service")
TEST_DATABASE_URL = os.environ.get("TEST_DATABASE_URL", "")
TEST_REDIS_URL = os.environ.get("TEST_REDIS_URL", "")
START_TIMEOUT = float(os.environ.get("TEST_START_TIMEOUT", "20"))
AUTH_WRAPPER = shlex.split(os.environ.get("AUTH_WRAPPER", ""))

# Passed through from the test runner so a sanitizer build can be tuned.
PASSTHROUGH_VARS = ("ASAN_OPTIONS", "UBSAN_OPTIONS", "LSAN_OPTIONS", "TSAN_OPTIONS",
                    "ASAN_SYMBOLIZER_PATH", "LLVM_SYMBOLIZER_PATH")

SANITIZER_PATTERNS = (
    "ERROR: AddressSanitizer",
    "runtime error:",  # UndefinedBehaviorSanitizer
    "LeakSanitizer",
    "ERROR: ThreadSanitizer",
    "WARNING: ThreadSanitizer",
)

# Every configuration variable of SPEC section 2 (for "names a variable").
CONFIG_VARS = frozenset("""
APP_NAME APP_VERSION DEBUG ENVIRONMENT HOST PORT WORKERS LOG_LEVEL LOG_FORMAT
DATABASE_URL DATABASE_POOL_SIZE DATABASE_MAX_OVERFLOW DATABASE_POOL_TIMEOUT
REDIS_URL SECRET_KEY RSA_PRIVATE_KEY_PATH RSA_PRIVATE_KEY_CONTENT RSA_PUBLIC_KEY_ID
RSA_PREVIOUS_PUBLIC_KEYS JWT_ISSUER JWT_AUDIENCE ACCESS_TOKEN_EXPIRE_MINUTES
REFRESH_TOKEN_EXPIRE_DAYS SESSION_MAX_LIFETIME_DAYS REFRESH_TOKEN_REUSE_INTERVAL_SECONDS
PASSWORD_BCRYPT_ROUNDS PASSWORD_MIN_LENGTH EMAIL_VERIFY_EXPIRE_HOURS
PASSWORD_RESET_EXPIRE_MINUTES REQUIRE_EMAIL_VERIFICATION FRONTEND_URL SMTP_HOST
SMTP_PORT SMTP_USER SMTP_PASSWORD SMTP_FROM CORS_ORIGINS TRUSTED_PROXIES
RATE_LIMIT_LOGIN_PER_MINUTE RATE_LIMIT_IP_PER_MINUTE SHUTDOWN_TIMEOUT_SECONDS ENV_FILE
""".split())


# --------------------------------------------------------------------------
# small helpers
# --------------------------------------------------------------------------

def wait_until(predicate, timeout=10.0, interval=0.02, message="condition"):
    """Poll predicate() until it returns a truthy value; fail at the deadline."""
    deadline = time.monotonic() + timeout
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() >= deadline:
            pytest.fail(f"timed out after {timeout}s waiting for {message}")
        time.sleep(interval)


def free_port():
    """A TCP port on 127.0.0.1 that was free a moment ago."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def assert_no_sanitizer_report(text, what="process"):
    for pat in SANITIZER_PATTERNS:
        if pat in text:
            i = text.index(pat)
            excerpt = text[max(0, i - 200):i + 4000]
            pytest.fail(f"sanitizer report ({pat!r}) in stderr of {what}:\n{excerpt}")


def base_env():
    """PATH plus the sanitizer knobs of the runner: nothing else leaks in."""
    env = {"PATH": os.environ.get("PATH", "/usr/local/bin:/usr/bin:/bin")}
    for k in PASSTHROUGH_VARS:
        if k in os.environ:
            env[k] = os.environ[k]
    return env


def merge_env(env, overrides):
    """overrides: a value of None removes the variable."""
    out = dict(env)
    for k, v in (overrides or {}).items():
        if v is None:
            out.pop(k, None)
        else:
            out[k] = str(v)
    return out


def run_binary(args, env, cwd, stdin=None, timeout=30.0, binary=None):
    """Run auth-service with exactly `env`; return (rc, stdout, stderr).

    Fails the test when it does not exit within `timeout` (for `serve`
    that is how "exits promptly on a bad configuration" is checked).
    """
    cmd = [binary or AUTH_BIN] + list(args)
    try:
        p = subprocess.run(cmd, env=env, cwd=str(cwd), input=stdin, capture_output=True,
                           text=True, timeout=timeout)
    except subprocess.TimeoutExpired as e:
        out = e.stdout.decode(errors="replace") if isinstance(e.stdout, bytes) else (e.stdout or "")
        err = e.stderr.decode(errors="replace") if isinstance(e.stderr, bytes) else (e.stderr or "")
        pytest.fail(f"{cmd} did not exit within {timeout}s\nstdout:\n{out[-3000:]}\n"
                    f"stderr:\n{err[-3000:]}")
    assert_no_sanitizer_report(p.stderr, " ".join(cmd))
    return p.returncode, p.stdout, p.stderr


# --------------------------------------------------------------------------
# databases
# --------------------------------------------------------------------------

def _is_postgres(url):
    return re.match(r"^postgres(ql)?(\+\w+)?://", url or "") is not None


def _libpq_url(url):
    """psql does not know SQLAlchemy driver suffixes (postgresql+asyncpg://)."""
    return re.sub(r"^postgres(ql)?(\+\w+)?://", "postgresql://", url)


def _with_dbname(url, name):
    u = urllib.parse.urlsplit(url)
    return urllib.parse.urlunsplit((u.scheme, u.netloc, "/" + name, u.query, u.fragment))


def _psql(admin_url, sql):
    p = subprocess.run(["psql", _libpq_url(admin_url), "-X", "-q", "-v", "ON_ERROR_STOP=1",
                        "-c", sql], capture_output=True, text=True, timeout=60)
    if p.returncode != 0:
        raise RuntimeError(f"psql failed ({sql}): {p.stderr.strip()}")


def create_database(workdir):
    """A fresh database for one server: (url, cleanup or None).

    SQLite (default): a new file in workdir.  PostgreSQL: CREATE DATABASE
    test_<random> through TEST_DATABASE_URL (an admin database); cleanup
    drops it.
    """
    if _is_postgres(TEST_DATABASE_URL):
        name = "test_" + secrets.token_hex(6)
        _psql(TEST_DATABASE_URL, f'CREATE DATABASE "{name}"')

        def drop():
            _psql(TEST_DATABASE_URL, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        return _with_dbname(TEST_DATABASE_URL, name), drop
    if TEST_DATABASE_URL and not TEST_DATABASE_URL.startswith("sqlite:"):
        raise RuntimeError(f"TEST_DATABASE_URL: unsupported scheme in {TEST_DATABASE_URL!r}")
    return "sqlite:///" + str(Path(workdir) / "auth.db"), None


def db_query(url, sql):
    """Rows of a query against a test database (sqlite3 module or psql), as
    lists of strings; for inspecting what the service stored."""
    if _is_postgres(url):
        p = subprocess.run(["psql", _libpq_url(url), "-X", "-q", "-A", "-t", "-F", "\x1f",
                            "-v", "ON_ERROR_STOP=1", "-c", sql],
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"psql failed ({sql}): {p.stderr.strip()}")
        return [line.split("\x1f") for line in p.stdout.splitlines() if line]
    import sqlite3
    assert url.startswith("sqlite:///"), url
    path = url[len("sqlite:///"):]
    if not os.path.exists(path):
        raise FileNotFoundError(f"no database file {path}")
    con = sqlite3.connect(path, timeout=10)
    try:
        return [["" if v is None else str(v) for v in row] for row in con.execute(sql)]
    finally:
        con.close()


def db_tables(url):
    """Names of the user tables in a test database."""
    if _is_postgres(url):
        rows = db_query(url, "SELECT table_name FROM information_schema.tables "
                             "WHERE table_schema = current_schema() AND table_type = 'BASE TABLE'")
    else:
        rows = db_query(url, "SELECT name FROM sqlite_master WHERE type = 'table' "
                             "AND name NOT LIKE 'sqlite_%'")
    return {r[0] for r in rows}


def expected_redis_check():
    """What /ready reports for the cache with this run's backend."""
    return "ok" if TEST_REDIS_URL else "in-process"


# --------------------------------------------------------------------------
# raw HTTP (for things requests would normalise or hide)
# --------------------------------------------------------------------------

class RawResponse:
    def __init__(self, status, reason, headers, body):
        self.status = status
        self.reason = reason
        self.headers = headers  # list of (name, value)
        self.body = body

    def header(self, name, default=None):
        for k, v in self.headers:
            if k.lower() == name.lower():
                return v
        return default

    def json(self):
        return json.loads(self.body)

    def __repr__(self):
        return f"<RawResponse {self.status} {self.headers} {self.body[:200]!r}>"


def _parse_response(data):
    head, _, body = data.partition(b"\r\n\r\n")
    lines = head.decode("latin-1").split("\r\n")
    parts = lines[0].split(" ", 2)
    status = int(parts[1])
    headers = []
    for line in lines[1:]:
        k, _, v = line.partition(":")
        headers.append((k.strip(), v.strip()))
    return status, (parts[2] if len(parts) > 2 else ""), headers, body


def read_http_response(sock, timeout=10.0):
    """Read one complete HTTP/1.1 response (Content-Length or close-delimited)."""
    sock.settimeout(timeout)
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = sock.recv(65536)
        if not chunk:
            raise ConnectionError(f"connection closed before a full response head: {data!r}")
        data += chunk
    status, reason, headers, body = _parse_response(data)
    clen = next((int(v) for k, v in headers if k.lower() == "content-length"), None)
    if clen is not None:
        while len(body) < clen:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
        body = body[:clen]
    elif status >= 200 and status not in (204, 304):
        while True:
            chunk = sock.recv(65536)
            if not chunk:
                break
            body += chunk
    return RawResponse(status, reason, headers, body)


def raw_request(port, method, path, headers=None, body=None, timeout=10.0):
    """One request on a fresh connection, bytes exactly as given."""
    hdrs = {"Host": f"127.0.0.1:{port}", "Connection": "close"}
    hdrs.update(headers or {})
    if body is not None and "Content-Length" not in hdrs and "Transfer-Encoding" not in hdrs:
        hdrs["Content-Length"] = str(len(body))
    req = f"{method} {path} HTTP/1.1\r\n" + "".join(f"{k}: {v}\r\n" for k, v in hdrs.items())
    data = req.encode("latin-1") + b"\r\n" + (body or b"")
    with socket.create_connection(("127.0.0.1", port), timeout=timeout) as s:
        s.sendall(data)
        return read_http_response(s, timeout)


class HeldRequest:
    """A request the server has started (headers read) but cannot finish.

    It sends the head of `POST path` with `Expect: 100-continue` and waits
    for the interim `100 Continue`, which proves the server accepted the
    request; the body stays outstanding until finish().
    """

    def __init__(self, port, path="/api/v1/health", body=b"0123456789", timeout=10.0):
        self.body = body
        self.sock = socket.create_connection(("127.0.0.1", port), timeout=timeout)
        self.sock.settimeout(timeout)
        head = (f"POST {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n"
                f"Content-Type: application/json\r\nContent-Length: {len(body)}\r\n"
                f"Expect: 100-continue\r\n\r\n")
        self.sock.sendall(head.encode())
        data = b""
        while b"\r\n\r\n" not in data:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError(f"closed before 100 Continue: {data!r}")
            data += chunk
        first = data.split(b"\r\n", 1)[0]
        if b" 100 " not in first + b" ":
            raise AssertionError(f"expected an interim 100 Continue, got {data!r}")
        self.leftover = data.partition(b"\r\n\r\n")[2]

    def finish(self, timeout=10.0):
        self.sock.sendall(self.body)
        return read_http_response(self.sock, timeout)

    def close(self):
        try:
            self.sock.close()
        except OSError:
            pass


# --------------------------------------------------------------------------
# the server
# --------------------------------------------------------------------------

class Server:
    """One auth-service process (restartable) in its own temporary directory.

    env: the complete environment (PATH + the harness defaults + overrides).
    Each start() picks a new free port and new log files (run index), so
    log_lines()/stdout_text()/stderr_text() describe the current run.
    """

    def __init__(self, workdir, env, binary=None):
        self.workdir = Path(workdir)
        self.env = dict(env)
        self.binary = binary or AUTH_BIN
        self.proc = None
        self.port = None
        self.run_index = 0
        self.returncode = None
        self.sanitizer_checked = True

    # -- paths and URLs --
    @property
    def stdout_path(self):
        return self.workdir / f"stdout.{self.run_index}.log"

    @property
    def stderr_path(self):
        return self.workdir / f"stderr.{self.run_index}.log"

    @property
    def base_url(self):
        return f"http://127.0.0.1:{self.port}"

    def url(self, path="/"):
        return self.base_url + path

    # -- lifecycle --
    def start(self, wait=True, timeout=None):
        assert self.proc is None or self.proc.poll() is not None, "already running"
        self.run_index += 1
        self.port = free_port()
        self.env["HOST"] = self.env.get("HOST", "127.0.0.1")
        self.env["PORT"] = str(self.port)
        self.returncode = None
        self.sanitizer_checked = False
        self._out = open(self.stdout_path, "wb")
        self._err = open(self.stderr_path, "wb")
        self.proc = subprocess.Popen(AUTH_WRAPPER + [self.binary, "serve"], env=self.env,
                                     cwd=str(self.workdir),
                                     stdin=subprocess.DEVNULL, stdout=self._out, stderr=self._err,
                                     start_new_session=True)
        if wait:
            self.wait_ready(timeout or START_TIMEOUT)
        return self

    def wait_ready(self, timeout=START_TIMEOUT):
        """Poll /api/v1/health until 200; fail with the logs if the process dies."""
        deadline = time.monotonic() + timeout
        last = None
        while True:
            rc = self.proc.poll()
            if rc is not None:
                self._close_files()
                self.returncode = rc
                self.check_sanitizers()
                pytest.fail(f"auth-service exited early with {rc}\n{self.describe()}")
            try:
                r = requests.get(self.url("/api/v1/health"), timeout=1)
                if r.status_code == 200:
                    return
                last = f"status {r.status_code}"
            except requests.RequestException as e:
                last = repr(e)
            if time.monotonic() >= deadline:
                self.kill()
                pytest.fail(f"auth-service not healthy within {timeout}s (last: {last})\n"
                            f"{self.describe()}")
            time.sleep(0.02)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def send_signal(self, sig):
        self.proc.send_signal(sig)

    def wait_exit(self, timeout=30.0):
        """Wait for the process to exit; fail (after killing it) at the deadline."""
        try:
            rc = self.proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.kill()
            pytest.fail(f"auth-service did not exit within {timeout}s\n{self.describe()}")
        self._close_files()
        self.returncode = rc
        self.check_sanitizers()
        return rc

    def stop(self, sig=signal.SIGTERM, timeout=30.0):
        """Send sig, wait for exit, check stderr for sanitizer reports; return the exit code."""
        if self.proc is None:
            return None
        if self.proc.poll() is None:
            self.proc.send_signal(sig)
        return self.wait_exit(timeout)

    def kill(self):
        if self.proc is not None and self.proc.poll() is None:
            try:
                os.killpg(self.proc.pid, signal.SIGKILL)
            except ProcessLookupError:
                pass
            self.proc.wait()
        self._close_files()

    def _close_files(self):
        for f in (getattr(self, "_out", None), getattr(self, "_err", None)):
            if f is not None and not f.closed:
                f.close()

    def check_sanitizers(self):
        if not self.sanitizer_checked:
            self.sanitizer_checked = True
            assert_no_sanitizer_report(self.stderr_text(), f"auth-service serve (run {self.run_index})")

    # -- output --
    def stdout_text(self):
        try:
            return self.stdout_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def stderr_text(self):
        try:
            return self.stderr_path.read_text(errors="replace")
        except FileNotFoundError:
            return ""

    def output(self):
        return self.stdout_text() + self.stderr_text()

    def log_lines(self):
        """stdout of the current run, one parsed JSON object per line (LOG_FORMAT=json).

        A line that is not a JSON object fails the test: the format promises
        one JSON object per line.  A partially written last line is ignored.
        """
        text = self.stdout_text()
        lines = text.split("\n")
        complete, tail = lines[:-1], lines[-1]
        out = []
        for line in complete:
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except ValueError:
                pytest.fail(f"log line is not JSON: {line!r}")
            if not isinstance(obj, dict):
                pytest.fail(f"log line is not a JSON object: {line!r}")
            out.append(obj)
        if tail.strip() and self.proc is not None and self.proc.poll() is not None:
            pytest.fail(f"log ends with an unterminated line: {tail!r}")
        return out

    def wait_for_log(self, predicate, timeout=10.0, message="a matching log line"):
        """Poll the JSON log until a line satisfies predicate; return that line."""
        def find():
            for obj in self.log_lines():
                if predicate(obj):
                    return obj
            return None
        return wait_until(find, timeout=timeout, message=message)

    def access_log(self, request_id, timeout=10.0):
        """The access-log line of the request with this X-Request-ID (written
        when the exchange completes, which can be just after the client has
        its answer, hence the polling)."""
        return self.wait_for_log(lambda o: o.get("request_id") == request_id and "status" in o,
                                 timeout=timeout,
                                 message=f"access log line for request {request_id}")

    def describe(self, limit=6000):
        return (f"--- stdout (run {self.run_index}) ---\n{self.stdout_text()[-limit:]}\n"
                f"--- stderr (run {self.run_index}) ---\n{self.stderr_text()[-limit:]}")

    # -- other subcommands with the same environment --
    def run_cli(self, args, env_overrides=None, stdin=None, timeout=30.0, cwd=None):
        """Run `auth-service ARGS` with this server's environment (+ overrides,
        None removes a variable) in its working directory; (rc, stdout, stderr)."""
        env = merge_env(self.env, env_overrides)
        return run_binary(args, env, cwd or self.workdir, stdin=stdin, timeout=timeout,
                          binary=self.binary)


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------

@pytest.fixture(scope="session")
def rsa_private_pem():
    """An RSA 2048 private key, PKCS#8 PEM, generated once per session."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    return key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                             serialization.NoEncryption())


@pytest.fixture(scope="session")
def rsa_private_pem_b64(rsa_private_pem):
    return base64.b64encode(rsa_private_pem).decode()


def write_key(workdir, pem):
    keys = Path(workdir) / "keys"
    keys.mkdir(mode=0o700, exist_ok=True)
    path = keys / "private.pem"
    path.write_bytes(pem)
    path.chmod(0o600)
    return path


@pytest.fixture
def make_database_url(request):
    """make_database_url(workdir) -> a fresh database URL, dropped after the test."""
    cleanups = []

    def make(workdir):
        url, cleanup = create_database(workdir)
        if cleanup:
            cleanups.append(cleanup)
        return url
    yield make
    for c in cleanups:
        c()


@pytest.fixture
def run_auth():
    """run_auth(args, env, cwd, stdin=None, timeout=30): the binary with exactly
    env (plus PATH and sanitizer options)."""
    def run(args, env=None, cwd=None, stdin=None, timeout=30.0):
        assert cwd is not None, "give a temporary cwd so no .env of the repo is read"
        return run_binary(args, merge_env(base_env(), env), cwd, stdin=stdin, timeout=timeout)
    return run


@pytest.fixture
def server_factory(request, tmp_path_factory, rsa_private_pem, make_database_url):
    """make_server(env=None, start=True, files=None, write_key=True,
    database_url=None, workdir=None) -> Server.

    Default environment: PATH, HOST=127.0.0.1, PORT (free), DATABASE_URL
    (fresh per server), ENVIRONMENT=test, RSA_PRIVATE_KEY_PATH=<tmp>/keys/
    private.pem (written with the session key unless write_key=False),
    LOG_FORMAT=json, PASSWORD_BCRYPT_ROUNDS=4, REDIS_URL=$TEST_REDIS_URL.
    env overrides it (None removes a variable).  files: {relative path:
    text or bytes} written into the working directory first (e.g. ".env").
    Pass database_url/workdir to share them with an earlier server.
    """
    servers = []
    request.node.auth_servers = servers

    def make(env=None, start=True, files=None, write_key=True, database_url=None, workdir=None):
        workdir = Path(workdir) if workdir else tmp_path_factory.mktemp("srv")
        if write_key:
            write_key_file(workdir)
        for rel, content in (files or {}).items():
            p = workdir / rel
            p.parent.mkdir(parents=True, exist_ok=True)
            if isinstance(content, bytes):
                p.write_bytes(content)
            else:
                p.write_text(content)
        full = base_env()
        full.update({
            "HOST": "127.0.0.1",
            "DATABASE_URL": database_url or make_database_url(workdir),
            "ENVIRONMENT": "test",
            "RSA_PRIVATE_KEY_PATH": str(workdir / "keys" / "private.pem"),
            "LOG_FORMAT": "json",
            "PASSWORD_BCRYPT_ROUNDS": "4",
            # Suites make hundreds of credential requests from 127.0.0.1 a
            # minute; the rate-limit tests set their own low limits.
            "RATE_LIMIT_LOGIN_PER_MINUTE": "100000",
            "RATE_LIMIT_IP_PER_MINUTE": "1000000",
            "RATE_LIMIT_ACCOUNT_PER_HOUR": "1000000",
        })
        if TEST_REDIS_URL:
            full["REDIS_URL"] = TEST_REDIS_URL
        full = merge_env(full, env)
        srv = Server(workdir, full)
        servers.append(srv)
        if start:
            srv.start()
        return srv

    def write_key_file(workdir):
        write_key(workdir, rsa_private_pem)

    yield make

    problems = []
    for srv in servers:
        if srv.running():
            srv.proc.send_signal(signal.SIGTERM)
            try:
                rc = srv.proc.wait(timeout=15)
                if rc != 0:
                    problems.append(f"server on port {srv.port} exited with {rc} on SIGTERM "
                                    f"at teardown\n{srv.describe()}")
            except subprocess.TimeoutExpired:
                srv.kill()
                problems.append(f"server on port {srv.port} ignored SIGTERM for 15 s; killed\n"
                                f"{srv.describe()}")
        srv.kill()
        try:
            srv.check_sanitizers()
        except pytest.fail.Exception as e:
            problems.append(str(e))
    if problems:
        pytest.fail("\n\n".join(problems))


@pytest.fixture
def server(server_factory):
    """A started server with the default test environment."""
    return server_factory()


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    """Attach the logs of the test's servers to a failure report."""
    outcome = yield
    rep = outcome.get_result()
    if rep.failed:
        for i, srv in enumerate(getattr(item, "auth_servers", []) or []):
            rep.sections.append((f"auth-service #{i} (port {srv.port}, {srv.workdir})",
                                 srv.describe(limit=4000)))


def pytest_report_header(config):
    return [f"auth-service binary: {AUTH_BIN}",
            f"database: {TEST_DATABASE_URL or 'sqlite (fresh file per server)'}; "
            f"redis: {TEST_REDIS_URL or 'in-process'}"]


def pytest_sessionstart(session):
    if not os.access(AUTH_BIN, os.X_OK):
        raise pytest.UsageError(f"auth-service binary not found or not executable: {AUTH_BIN} "
                                f"(build it with `meson compile -C build`, or set AUTH_BIN)")
    if _is_postgres(TEST_DATABASE_URL) and not shutil.which("psql"):
        raise pytest.UsageError("TEST_DATABASE_URL is PostgreSQL but psql is not installed")


# --------------------------------------------------------------------------
# collection: the fault and multi-instance suites
# --------------------------------------------------------------------------

# test_faults.py and test_multi_instance.py stop, kill and restart PostgreSQL
# and Redis, so they bring their own throwaway instances (backends.py) and
# never touch the shared ones of the test command.  They need the
# PostgreSQL and Redis binaries and belong to exactly one pass of the test
# matrix: the PostgreSQL one.  Outside it they are not collected at all (not
# skipped: a skip must never be counted as a pass).  Whatever the value of
# TEST_DATABASE_URL, they use their own cluster; a postgres URL only switches
# them on, e.g.
#   TEST_DATABASE_URL=postgresql://x python3 -m pytest tests/blackbox/test_faults.py
collect_ignore = []
if not _is_postgres(TEST_DATABASE_URL):
    collect_ignore += ["test_faults.py", "test_multi_instance.py"]
