"""Private PostgreSQL and Redis instances for tests that break them.

The test command (scripts/test, scripts/services.sh) starts one PostgreSQL
and one Redis that every suite shares.  Fault tests stop, kill and restart
their backends, so they must never touch those: they use the classes here,
which start a throwaway PostgreSQL cluster and redis-server of their own on
loopback, on free ports, in a temporary directory, and always tear them
down (module-scoped fixtures, plus an atexit fallback for interrupted runs).

  PgCluster()          initdb (as the `postgres` OS user via runuser when
                       running as root, as in services.sh), role `auth` with
                       a password (scram-sha-256), pg_ctl start on 127.0.0.1
                       with its socket in the temporary directory.
      .start() / .stop(mode="fast"|"immediate"|"smart") / .running()
      .freeze() / .thaw()             SIGSTOP / SIGCONT the server processes
      .url(dbname) / .admin_url       postgresql://auth:PW@127.0.0.1:PORT/...
      .new_database() -> url          CREATE DATABASE test_<random>
      .psql(sql, dbname="postgres")
      .destroy()                      stop (immediate) and delete everything
  RedisServer()        redis-server --requirepass, no persistence
                       (--save '' --appendonly no), in the foreground as a
                       child process.
      .start() (same port on a restart) / .stop() / .kill() / .running()
      .url                           redis://:PW@127.0.0.1:PORT/0
      .command(*args)                a tiny RESP client (for inspection)
      .destroy()

Fixtures (module-scoped; import them into a test module):
  pg_cluster        a started PgCluster, destroyed after the module
  redis_server      a started RedisServer, destroyed after the module

Requirements: PostgreSQL server binaries (/usr/lib/postgresql/*/bin, or
$TEST_PG_BIN), psql, redis-server — installed by `scripts/deps test`.  A
missing binary is an error, not a skip.
"""

import atexit
import glob
import os
import secrets
import shutil
import signal
import socket
import subprocess
import tempfile
import time
from pathlib import Path

import pytest

START_TIMEOUT = 60.0


def free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def pg_bin_dir():
    """The newest installed PostgreSQL server bin directory (as services.sh)."""
    env = os.environ.get("TEST_PG_BIN")
    if env and os.path.exists(os.path.join(env, "pg_ctl")):
        return env

    def version(path):
        try:
            return tuple(int(x) for x in Path(path).parent.name.split("."))
        except ValueError:
            return (0,)
    dirs = sorted((d for d in glob.glob("/usr/lib/postgresql/*/bin")
                   if os.path.exists(os.path.join(d, "pg_ctl"))), key=version)
    if not dirs:
        raise RuntimeError("PostgreSQL server binaries not found (/usr/lib/postgresql/*/bin); "
                           "install them with `scripts/deps test`")
    return dirs[-1]


def _require(binary):
    path = shutil.which(binary)
    if not path:
        raise RuntimeError(f"{binary} not found; install it with `scripts/deps test`")
    return path


_LIVE = set()  # everything not yet destroyed, for the atexit fallback


@atexit.register
def _destroy_leftovers():
    for obj in list(_LIVE):
        try:
            obj.destroy()
        except Exception:  # best effort at interpreter exit
            pass


# --------------------------------------------------------------------------
# PostgreSQL
# --------------------------------------------------------------------------

class PgCluster:
    USER = "auth"

    def __init__(self, port=None, max_connections=200):
        self.bin = pg_bin_dir()
        _require("psql")
        self.root = Path(tempfile.mkdtemp(prefix="auth-pg-"))
        self.root.chmod(0o755)
        self.dir = self.root / "pg"          # owned by the server's OS user
        self.data = self.dir / "data"
        self.logfile = self.dir / "server.log"
        self.port = port or free_port()
        self.password = "pg-" + secrets.token_hex(12)
        self.max_connections = max_connections
        self.as_postgres = os.geteuid() == 0
        self._initialised = False
        _LIVE.add(self)

    # -- helpers --
    def _run(self, args, timeout=START_TIMEOUT, check=True):
        cmd = list(args)
        if self.as_postgres:
            cmd = ["runuser", "-u", "postgres", "--"] + cmd
        p = subprocess.run(cmd, capture_output=True, text=True, timeout=timeout)
        if check and p.returncode != 0:
            raise RuntimeError(f"{' '.join(args)} failed ({p.returncode}):\n{p.stdout}\n"
                               f"{p.stderr}\n{self.log_tail()}")
        return p

    def log_tail(self, limit=3000):
        try:
            return "--- postgres log ---\n" + self.logfile.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def url(self, dbname="postgres"):
        return f"postgresql://{self.USER}:{self.password}@127.0.0.1:{self.port}/{dbname}"

    @property
    def admin_url(self):
        return self.url("postgres")

    # -- lifecycle --
    def init(self):
        self.dir.mkdir(mode=0o700)
        pwfile = self.root / "pwfile"
        pwfile.write_text(self.password + "\n")
        if self.as_postgres:
            shutil.chown(self.dir, "postgres", "postgres")
            shutil.chown(pwfile, "postgres", "postgres")
        pwfile.chmod(0o600)
        self._run([os.path.join(self.bin, "initdb"), "-D", str(self.data), "-U", self.USER,
                   f"--pwfile={pwfile}", "--auth=scram-sha-256", "-E", "UTF8", "--no-sync",
                   "--no-instructions"])
        pwfile.unlink()
        self._initialised = True

    def start(self):
        if not self._initialised:
            self.init()
        # fsync=off only skips flushes to disk: committed data still reaches
        # the OS, so it survives `pg_ctl stop -m immediate` (a crash of the
        # server, not of the machine).  synchronous_commit stays on: with it
        # off, an immediate stop would lose acknowledged commits.
        opts = (f"-p {self.port} -k {self.dir} -c listen_addresses=127.0.0.1 "
                f"-c max_connections={self.max_connections} -c fsync=off "
                f"-c full_page_writes=off")
        self._run([os.path.join(self.bin, "pg_ctl"), "-D", str(self.data), "-l",
                   str(self.logfile), "-w", "-t", str(int(START_TIMEOUT)), "-o", opts, "start"])
        return self

    def stop(self, mode="fast"):
        """pg_ctl stop -m mode and wait for the postmaster to be gone."""
        self._run([os.path.join(self.bin, "pg_ctl"), "-D", str(self.data), "-m", mode, "-w",
                   "-t", str(int(START_TIMEOUT)), "stop"])

    def running(self):
        if not self._initialised:
            return False
        p = self._run([os.path.join(self.bin, "pg_ctl"), "-D", str(self.data), "status"],
                      check=False)
        return p.returncode == 0

    def ensure_running(self):
        self.thaw()
        if not self.running():
            self.start()

    # -- freezing (a hung server: connections accepted, nothing answered) --
    def postmaster_pid(self):
        return int((self.data / "postmaster.pid").read_text().split()[0])

    def _children(self, parent):
        out = []
        for entry in os.listdir("/proc"):
            if not entry.isdigit():
                continue
            try:
                stat = Path(f"/proc/{entry}/stat").read_text()
            except OSError:
                continue
            # pid (comm) state ppid ...: comm may hold spaces, so split after ')'
            fields = stat.rsplit(")", 1)[1].split()
            if int(fields[1]) == parent:
                out.append(int(entry))
        return out

    def freeze(self):
        """SIGSTOP the postmaster and every backend: the kernel still accepts
        connections and data, but nothing answers (a hung or partitioned
        database).  thaw() undoes it; ensure_running() and destroy() thaw."""
        pm = self.postmaster_pid()
        os.kill(pm, signal.SIGSTOP)
        self._frozen = [pm]
        for pid in self._children(pm):
            try:
                os.kill(pid, signal.SIGSTOP)
                self._frozen.append(pid)
            except ProcessLookupError:
                pass

    def thaw(self):
        for pid in reversed(getattr(self, "_frozen", [])):
            try:
                os.kill(pid, signal.SIGCONT)
            except ProcessLookupError:
                pass
        self._frozen = []

    def destroy(self):
        try:
            self.thaw()
            if self._initialised and (self.data / "postmaster.pid").exists():
                self._run([os.path.join(self.bin, "pg_ctl"), "-D", str(self.data), "-m",
                           "immediate", "-w", "-t", "30", "stop"], check=False)
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            _LIVE.discard(self)

    # -- SQL --
    def psql(self, sql, dbname="postgres"):
        p = subprocess.run(["psql", self.url(dbname), "-X", "-q", "-A", "-t", "-v",
                            "ON_ERROR_STOP=1", "-c", sql],
                           capture_output=True, text=True, timeout=60)
        if p.returncode != 0:
            raise RuntimeError(f"psql failed ({sql}): {p.stderr.strip()}")
        return p.stdout

    def new_database(self, prefix="test"):
        name = f"{prefix}_{secrets.token_hex(6)}"
        self.psql(f'CREATE DATABASE "{name}"')
        return self.url(name)


# --------------------------------------------------------------------------
# Redis
# --------------------------------------------------------------------------

class RedisError(Exception):
    pass


def _resp_encode(args):
    out = [f"*{len(args)}\r\n".encode()]
    for a in args:
        b = a if isinstance(a, bytes) else str(a).encode()
        out.append(b"$%d\r\n%s\r\n" % (len(b), b))
    return b"".join(out)


class _RespReader:
    def __init__(self, sock):
        self.sock = sock
        self.buf = b""

    def _line(self):
        while b"\r\n" not in self.buf:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        line, _, self.buf = self.buf.partition(b"\r\n")
        return line

    def _exact(self, n):
        while len(self.buf) < n + 2:
            chunk = self.sock.recv(65536)
            if not chunk:
                raise ConnectionError("redis closed the connection")
            self.buf += chunk
        data, self.buf = self.buf[:n], self.buf[n + 2:]
        return data

    def read(self):
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            raise RedisError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            return None if n < 0 else self._exact(n).decode(errors="replace")
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise RedisError(f"unexpected reply {line!r}")


class RedisServer:
    def __init__(self, port=None):
        self.binary = _require("redis-server")
        self.root = Path(tempfile.mkdtemp(prefix="auth-redis-"))
        self.port = port or free_port()
        self.password = "rd-" + secrets.token_hex(12)
        self.proc = None
        self.runs = 0
        _LIVE.add(self)

    @property
    def url(self):
        return f"redis://:{self.password}@127.0.0.1:{self.port}/0"

    @property
    def logfile(self):
        return self.root / f"redis.{self.runs}.log"

    def log_tail(self, limit=3000):
        try:
            return "--- redis log ---\n" + self.logfile.read_text(errors="replace")[-limit:]
        except OSError:
            return ""

    def start(self, timeout=20.0):
        """Start (again) on the same port; wait until it answers PING."""
        assert not self.running(), "redis already running"
        self.runs += 1
        self.proc = subprocess.Popen(
            [self.binary, "--port", str(self.port), "--bind", "127.0.0.1",
             "--requirepass", self.password, "--save", "", "--appendonly", "no",
             "--dir", str(self.root), "--daemonize", "no", "--logfile", str(self.logfile)],
            stdin=subprocess.DEVNULL, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL,
            start_new_session=True)
        deadline = time.monotonic() + timeout
        last = None
        while True:
            if self.proc.poll() is not None:
                raise RuntimeError(f"redis-server exited with {self.proc.returncode}\n"
                                   f"{self.log_tail()}")
            try:
                if self.command("PING") == "PONG":
                    return self
            except (OSError, RedisError) as e:
                last = e
            if time.monotonic() >= deadline:
                self.kill()
                raise RuntimeError(f"redis-server not answering within {timeout}s ({last!r})\n"
                                   f"{self.log_tail()}")
            time.sleep(0.02)

    def running(self):
        return self.proc is not None and self.proc.poll() is None

    def ensure_running(self):
        if not self.running():
            self.start()

    def stop(self, timeout=20.0):
        """SIGTERM and wait (no persistence configured: nothing is saved)."""
        if self.running():
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=timeout)
            except subprocess.TimeoutExpired:
                self.kill()

    def kill(self):
        if self.running():
            self.proc.kill()
            self.proc.wait(timeout=20)

    def destroy(self):
        try:
            self.kill()
        finally:
            shutil.rmtree(self.root, ignore_errors=True)
            _LIVE.discard(self)

    def command(self, *args, timeout=5.0):
        """One command on a fresh authenticated connection; the decoded reply."""
        with socket.create_connection(("127.0.0.1", self.port), timeout=timeout) as s:
            s.sendall(_resp_encode(["AUTH", self.password]) + _resp_encode(args))
            reader = _RespReader(s)
            reader.read()
            return reader.read()


# --------------------------------------------------------------------------
# fixtures
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def pg_cluster():
    """A private PostgreSQL cluster for this module (stopped and deleted at
    the end, also when tests fail)."""
    cluster = PgCluster()
    try:
        cluster.start()
        yield cluster
    finally:
        cluster.destroy()


@pytest.fixture(scope="module")
def redis_server():
    """A private redis-server for this module (killed and deleted at the end)."""
    server = RedisServer()
    try:
        server.start()
        yield server
    finally:
        server.destroy()
