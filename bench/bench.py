#!/usr/bin/env python3
"""bench/bench.py - the benchmark driver behind bench/run (see docs/performance.md).

bench/run installs the tools, builds the binaries, starts PostgreSQL + Redis
(scripts/services.sh) and then runs this script, which:

  * measures the one-core limits: bcrypt_rate (cost 12), `openssl speed
    rsa2048`, the bare libmicrohttpd ceiling (bench/mhd_ceiling) and nginx;
  * for each backend (sqlite = SQLite + in-process cache, postgres =
    PostgreSQL + Redis) starts the service pinned to core 0, seeds users
    through the API, runs the wrk scenarios pinned to core 1, and records
    requests/s, latency percentiles, errors, non-2xx, the service's CPU and
    peak RSS per scenario;
  * measures cold start to the first 200 on /api/v1/ready (5 repeats,
    median) and idle RSS;
  * writes everything to one JSON file (bench/results/...).

Every load loop is bounded in time and sends traffic to 127.0.0.1 only.
Nothing here asserts timings; --junit (smoke mode) only checks that each
scenario produced successful requests and no unexpected non-2xx.
"""
import argparse
import datetime
import http.client
import json
import os
import platform
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.error
import urllib.request
from xml.sax.saxutils import escape, quoteattr

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.dirname(HERE)
LUA = os.path.join(HERE, "wrk", "scenario.lua")
HZ = os.sysconf("SC_CLK_TCK")
NCPU = os.cpu_count() or 1
SVC_CORE = "0"
LOAD_CORE = "1" if NCPU >= 2 else "0"
PASSWORD = "correct horse battery staple"

# Fixed connection counts per scenario (wrk threads, connections).
CONNS = {
    "health": (1, 32),
    "jwks": (1, 32),
    "users_me": (1, 32),
    "login": (1, 8),
    "refresh": (8, 8),  # one connection per wrk thread: one refresh chain each
    "flood_login": (1, 8),
    "flood_health": (1, 4),
}


def log(msg):
    print(f"bench: {msg}", flush=True)


def free_port():
    s = socket.socket()
    s.bind(("127.0.0.1", 0))
    port = s.getsockname()[1]
    s.close()
    return port


# The machine may be shared (other people's builds, tests, fuzzers): everything
# the bench measures runs at nice -20 when we are root, so that background work
# at the default priority barely takes CPU from it.  Each scenario still records
# how busy each core was and how much of that was the server (Meter), so a
# disturbed run shows in the results.
NICE = ["nice", "-n", "-20"] if os.geteuid() == 0 and "--no-boost" not in sys.argv else []


def pin(core, argv):
    return NICE + ["taskset", "-c", core] + argv


def run(argv, **kw):
    return subprocess.run(argv, check=True, capture_output=True, text=True, **kw).stdout


# ---- /proc readings ----


def proc_cpu_ticks(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # utime + stime (all threads)


def core_busy():
    """{core: (busy ticks, total ticks)} from /proc/stat."""
    out = {}
    with open("/proc/stat") as f:
        for line in f:
            m = re.match(r"cpu(\d+)\s+(.*)", line)
            if m:
                v = [int(x) for x in m.group(2).split()]
                idle = v[3] + v[4]
                out[m.group(1)] = (sum(v[:8]) - idle, sum(v[:8]))
    return out


def status_kb(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return None


def reset_peak_rss(pid):
    try:
        with open(f"/proc/{pid}/clear_refs", "w") as f:
            f.write("5")  # resets VmHWM to the current RSS (needs root or the owner)
        return True
    except OSError:
        return False


class Meter:
    """CPU of a set of processes and of each core over one scenario."""

    def __init__(self, pids):
        self.pids = [p for p in pids if p]
        self.t0 = time.monotonic()
        self.c0 = {p: proc_cpu_ticks(p) for p in self.pids}
        self.k0 = core_busy()

    def done(self):
        wall = time.monotonic() - self.t0
        own = sum(proc_cpu_ticks(p) - self.c0[p] for p in self.pids) / HZ
        k1 = core_busy()
        cores = {}
        for c, (b, t) in k1.items():
            b0, t0 = self.k0.get(c, (0, 0))
            cores[c] = round(100.0 * (b - b0) / max(1, t - t0), 1)
        own_pct = round(100.0 * own / wall, 1)
        return {
            "server_cpu_pct": own_pct,
            "core_busy_pct": cores,
            # CPU on the server's core that was not the server (other processes)
            "foreign_cpu_pct_on_server_core": round(max(0.0, cores.get(SVC_CORE, 0) - own_pct), 1),
        }


# ---- wrk ----


def wrk(url, name, seconds, env_extra=None, conns=None):
    threads, c = conns or CONNS[name]
    out = tempfile.NamedTemporaryFile(prefix="wrk-", suffix=".json", delete=False).name
    env = dict(os.environ)
    env.update({"BENCH_OUT": out})
    env.update(env_extra or {})
    argv = pin(LOAD_CORE, ["wrk", f"-t{threads}", f"-c{c}", f"-d{seconds}s", "--timeout", "30s",
                           "--latency", "-s", LUA, url])
    return subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT,
                            text=True), out, f"wrk -t{threads} -c{c} -d{seconds}s --latency"


def wrk_result(proc, out, cmd):
    text, _ = proc.communicate(timeout=600)
    try:
        with open(out) as f:
            r = json.load(f)
    except (OSError, ValueError):
        r = {"requests": 0, "error": "wrk produced no summary", "wrk_output": text[-2000:]}
    finally:
        try:
            os.unlink(out)
        except OSError:
            pass
    if r.get("requests") is not None and r.get("duration_us"):
        r["rps"] = round(r["requests"] / (r["duration_us"] / 1e6), 1)
        for k in ("p50", "p90", "p99", "p99_9"):
            if f"lat_{k}_us" in r:
                r[f"{k}_ms"] = round(r[f"lat_{k}_us"] / 1000.0, 3)
    r["errors"] = sum(r.get(k, 0) for k in ("errors_connect", "errors_read", "errors_write",
                                             "errors_timeout"))
    r["wrk_cmd"] = cmd
    return r


def run_load(base, name, path, seconds, pids, env_extra=None, watch_pid=None):
    url = base + path
    if watch_pid:
        reset_peak_rss(watch_pid)
    m = Meter(pids)
    p, out, cmd = wrk(url, name, seconds, env_extra)
    r = wrk_result(p, out, cmd + " " + url)
    r.update(m.done())
    if watch_pid:
        r["peak_rss_kb"] = status_kb(watch_pid, "VmHWM")
    return r


# ---- HTTP helpers (seeding) ----


def http_json(base, method, path, body=None, token=None, timeout=120):
    data = json.dumps(body).encode() if body is not None else None
    req = urllib.request.Request(base + path, data=data, method=method)
    if data is not None:
        req.add_header("Content-Type", "application/json")
    if token:
        req.add_header("Authorization", "Bearer " + token)
    try:
        with urllib.request.urlopen(req, timeout=timeout) as resp:
            raw = resp.read()
            return resp.status, json.loads(raw) if raw else None
    except urllib.error.HTTPError as e:
        raw = e.read()
        try:
            return e.code, json.loads(raw)
        except ValueError:
            return e.code, raw.decode(errors="replace")


def wait_ready(port, timeout=30.0, proc=None):
    """Tight poll of /api/v1/ready; returns seconds until the first 200."""
    t0 = time.monotonic()
    while time.monotonic() - t0 < timeout:
        if proc is not None and proc.poll() is not None:
            raise RuntimeError(f"service exited with {proc.returncode} before it was ready")
        try:
            c = http.client.HTTPConnection("127.0.0.1", port, timeout=5)
            c.request("GET", "/api/v1/ready")
            st = c.getresponse().status
            c.close()
            if st == 200:
                return time.monotonic() - t0
        except OSError:
            pass
        time.sleep(0.0005)
    raise RuntimeError(f"service on port {port} not ready within {timeout} s")


# ---- the service ----


class Service:
    def __init__(self, binary, workdir, env, log_path):
        self.binary = binary
        self.workdir = workdir
        self.env = env
        self.log_path = log_path
        self.proc = None
        self.port = None

    def start(self, wait=True):
        self.port = free_port()
        env = dict(self.env)
        env["PORT"] = str(self.port)
        self.logf = open(self.log_path, "ab")  # O_APPEND: safe to truncate between scenarios
        t0 = time.monotonic()
        self.proc = subprocess.Popen(pin(SVC_CORE, [self.binary, "serve"]), cwd=self.workdir,
                                     env=env, stdout=self.logf, stderr=subprocess.STDOUT)
        self.started = t0
        if wait:
            return wait_ready(self.port, proc=self.proc)
        return None

    @property
    def base(self):
        return f"http://127.0.0.1:{self.port}"

    def log_problems(self):
        n = 0
        try:
            with open(self.log_path, "rb") as f:
                for line in f:
                    if b" ERROR " in line or b" CRITICAL " in line:
                        n += 1
        except OSError:
            pass
        return n

    def truncate_log(self):
        try:
            os.truncate(self.log_path, 0)
        except OSError:
            pass

    def stop(self):
        if self.proc and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        if self.proc:
            self.logf.close()
        self.proc = None


# Backends the bench knows.  "postgres-fixedpool" is a diagnostic variant: the
# same 15 database connections as the defaults (DATABASE_POOL_SIZE=10 +
# DATABASE_MAX_OVERFLOW=5) but all persistent, to isolate the cost of overflow
# connections being closed on release and re-opened (docs/performance.md).
VARIANTS = {
    "sqlite": {"db": "sqlite", "env": {}},
    "postgres": {"db": "postgres", "env": {}},
    # Diagnostic: the per-request access-log line off (LOG_LEVEL=WARNING), to
    # measure what it costs the inline routes.
    "sqlite-nolog": {"db": "sqlite", "env": {"LOG_LEVEL": "WARNING"},
                     "only": ["health", "jwks"], "cold": False},
    "postgres-fixedpool": {"db": "postgres",
                           "env": {"DATABASE_POOL_SIZE": "15", "DATABASE_MAX_OVERFLOW": "0"},
                           "only": ["users_me", "refresh"], "cold": False},
}


def service_env(args, workdir, backend):
    # cwd is a fresh temporary directory: no developer .env is read.
    env = {k: v for k, v in os.environ.items()
           if k in ("PATH", "LANG", "LC_ALL", "HOME", "TZ")}
    env.update({
        "ENVIRONMENT": "development",
        "HOST": "127.0.0.1",
        "WORKERS": str(args.workers),
        "LOG_LEVEL": "INFO",  # the production default: one access-log line per request
        "PASSWORD_BCRYPT_ROUNDS": str(args.rounds),
        "RSA_PRIVATE_KEY_PATH": os.path.join(workdir, "private.pem"),
        "SECRET_KEY": "bench-secret-key-0123456789abcdef0123456789",
        # The bench is one client address hammering credential endpoints on purpose.
        "RATE_LIMIT_IP_PER_MINUTE": "1000000",
        "RATE_LIMIT_LOGIN_PER_MINUTE": "100000",
        "RATE_LIMIT_ACCOUNT_PER_HOUR": "1000000",
        # No grace for a re-presented refresh token: any reuse would be a 401.
        "REFRESH_TOKEN_REUSE_INTERVAL_SECONDS": "0",
    })
    v = VARIANTS[backend]
    if v["db"] == "sqlite":
        env["DATABASE_URL"] = "sqlite:///" + os.path.join(workdir, "bench.db")
    else:
        env["DATABASE_URL"] = os.environ["TEST_PG_URL"]
        env["REDIS_URL"] = os.environ["TEST_REDIS_URL"]
    env.update(v["env"])
    return env


def seed(base, n_chains, tag):
    """Users, an access token and one refresh token per chain, all through the API."""
    email = f"bench-{tag}-{int(time.time() * 1000)}@example.com"
    st, body = http_json(base, "POST", "/api/v1/auth/register",
                         {"email": email, "password": PASSWORD, "full_name": "Bench User"})
    if st != 201:
        raise RuntimeError(f"register answered {st}: {body}")
    refresh = []
    access = None
    for _ in range(n_chains + 1):
        st, body = http_json(base, "POST", "/api/v1/auth/login",
                             {"email": email, "password": PASSWORD})
        if st != 200:
            raise RuntimeError(f"login answered {st}: {body}")
        if access is None:
            access = body["access_token"]
        else:
            refresh.append(body["refresh_token"])
    st, body = http_json(base, "GET", "/api/v1/users/me", token=access)
    if st != 200:
        raise RuntimeError(f"users/me answered {st}: {body}")
    return email, access, refresh


def pin_services():
    """PostgreSQL (postmaster and its children) and Redis go to the load core."""
    pids = []
    data = os.environ.get("TEST_PG_DATA")
    if data and os.path.exists(os.path.join(data, "postmaster.pid")):
        with open(os.path.join(data, "postmaster.pid")) as f:
            pm = f.readline().strip()
        pids.append(pm)
        try:
            pids += run(["pgrep", "-P", pm]).split()
        except subprocess.CalledProcessError:
            pass
    rd = os.environ.get("TEST_REDIS_DIR")
    if rd and os.path.exists(os.path.join(rd, "redis.pid")):
        with open(os.path.join(rd, "redis.pid")) as f:
            pids.append(f.read().strip())
    for p in pids:
        subprocess.run(["taskset", "-a", "-p", "-c", LOAD_CORE, p], capture_output=True)
        if NICE:  # new PostgreSQL backends inherit the postmaster's nice value
            subprocess.run(["renice", "-n", "-20", "-p", p], capture_output=True)
            try:  # Redis daemonizes into its own session (autogroup)
                with open(f"/proc/{p}/autogroup", "w") as f:
                    f.write("-20")
            except OSError:
                pass
    return pids


def backend_scenarios(args, backend, workdir):
    tag = backend
    res = {"backend": backend, "scenarios": {}}
    env = service_env(args, workdir, backend)
    res["service_env"] = {k: ("<redacted>" if k in ("SECRET_KEY",) or k.endswith("_URL") and k != "DATABASE_URL" else v)
                          for k, v in env.items() if k not in ("PATH", "HOME", "LANG", "LC_ALL", "TZ", "ENV_FILE")}
    only = VARIANTS[backend].get("only")
    if VARIANTS[backend]["db"] != "sqlite":
        res["service_env"]["DATABASE_URL"] = "postgresql://auth:***@127.0.0.1/auth"
        res["service_env"]["REDIS_URL"] = "redis://:***@127.0.0.1/0"
    svc = Service(args.bin, workdir, env, os.path.join(workdir, f"service-{backend}.log"))
    log(f"[{backend}] starting the service (first start: migrations)")
    svc.start()
    try:
        time.sleep(0.5)
        res["idle_rss_after_start_kb"] = status_kb(svc.proc.pid, "VmRSS")
        log(f"[{backend}] seeding through the API (bcrypt cost {args.rounds})")
        t0 = time.monotonic()
        email, access, chains = seed(svc.base, CONNS["refresh"][1], tag)
        res["seed_seconds"] = round(time.monotonic() - t0, 2)
        tokfile = os.path.join(workdir, f"refresh-{backend}.txt")
        with open(tokfile, "w") as f:
            f.write("\n".join(chains) + "\n")
        pids = [svc.proc.pid]
        D = args.duration
        plan = [
            ("health", "/api/v1/health", {}),
            ("jwks", "/.well-known/jwks.json", {}),
            ("users_me", "/api/v1/users/me", {"BENCH_BEARER": access}),
            ("login", "/api/v1/auth/login",
             {"BENCH_METHOD": "POST", "BENCH_BODY": json.dumps({"email": email, "password": PASSWORD})}),
            ("refresh", "/api/v1/auth/refresh", {"BENCH_MODE": "refresh", "BENCH_TOKENS": tokfile}),
        ]
        for name, path, extra in plan:
            if only and name not in only:
                continue
            svc.truncate_log()
            log(f"[{backend}] {name}: {D} s")
            r = run_load(svc.base, name, path, D, pids, extra, watch_pid=svc.proc.pid)
            r["log_errors"] = svc.log_problems()
            res["scenarios"][name] = r
            brief(backend, name, r)
        # Health latency while a login flood keeps every bcrypt thread busy.
        if only and "health_under_login_flood" not in only:
            return res
        svc.truncate_log()
        log(f"[{backend}] health during a login flood: {D} s")
        reset_peak_rss(svc.proc.pid)
        m = Meter(pids)
        login_body = json.dumps({"email": email, "password": PASSWORD})
        pl, ol, cl = wrk(svc.base + "/api/v1/auth/login", "flood_login", D + 2,
                         {"BENCH_METHOD": "POST", "BENCH_BODY": login_body})
        time.sleep(1.0)  # the flood is running before the health clock starts
        ph, oh, ch = wrk(svc.base + "/api/v1/health", "flood_health", D)
        rh = wrk_result(ph, oh, ch + " " + svc.base + "/api/v1/health")
        rl = wrk_result(pl, ol, cl + " " + svc.base + "/api/v1/auth/login")
        rh.update(m.done())
        rh["peak_rss_kb"] = status_kb(svc.proc.pid, "VmHWM")
        rh["log_errors"] = svc.log_problems()
        rh["flood"] = {k: rl.get(k) for k in ("requests", "rps", "p50_ms", "p99_ms", "errors",
                                              "non2xx", "wrk_cmd")}
        res["scenarios"]["health_under_login_flood"] = rh
        brief(backend, "health_under_login_flood", rh)
        time.sleep(1.0)
        res["idle_rss_after_load_kb"] = status_kb(svc.proc.pid, "VmRSS")
        res["peak_rss_whole_run_kb"] = max(
            [s.get("peak_rss_kb") or 0 for s in res["scenarios"].values()])
    finally:
        svc.stop()

    if VARIANTS[backend].get("cold") is False:
        return res
    # Cold start: schema and key in place (a restart), process start -> first 200 on /ready.
    times, rss = [], []
    for i in range(args.cold_repeats):
        svc.truncate_log()
        s = Service(args.bin, workdir, env, os.path.join(workdir, f"service-{backend}.log"))
        try:
            t = s.start()
            times.append(t)
            time.sleep(0.3)
            rss.append(status_kb(s.proc.pid, "VmRSS"))
        finally:
            s.stop()
    res["cold_start"] = {
        "repeats": len(times),
        "seconds": [round(t, 4) for t in times],
        "median_ms": round(1000 * statistics.median(times), 1),
        "idle_rss_kb": [r for r in rss],
        "idle_rss_median_kb": int(statistics.median(rss)),
        "method": "Popen(taskset -c 0 auth-service serve) -> poll GET /api/v1/ready every 0.5 ms "
                  "until 200; schema already migrated, key file present",
    }
    log(f"[{backend}] cold start median {res['cold_start']['median_ms']} ms, "
        f"idle RSS {res['cold_start']['idle_rss_median_kb']} kB")
    return res


def brief(backend, name, r):
    log(f"[{backend}] {name}: {r.get('rps')} req/s p50 {r.get('p50_ms')} ms p99 {r.get('p99_ms')} ms "
        f"errors {r.get('errors')} non-2xx {r.get('non2xx')} service CPU {r.get('server_cpu_pct')}% "
        f"peak RSS {r.get('peak_rss_kb')} kB, other CPU on core {SVC_CORE}: {r.get('foreign_cpu_pct_on_server_core')}%"
        + (f" 401s {r.get('refresh_n401')} reused {r.get('refresh_reused')}" if name == "refresh" else ""))


# ---- references ----


def ref_bcrypt(args):
    out = run(pin(SVC_CORE, [os.path.join(args.tools, "bcrypt_rate"), "12", str(args.duration)]))
    r = json.loads(out)
    r["cmd"] = f"taskset -c {SVC_CORE} bench/bcrypt_rate 12 {args.duration}"
    log(f"bcrypt cost 12: {r['rate']:.2f} hashes/s on one core")
    return r


def ref_openssl(args):
    secs = max(1, int(args.duration))
    out = run(pin(SVC_CORE, ["openssl", "speed", "-seconds", str(secs), "rsa2048"]))
    m = re.search(r"rsa\s+2048 bits\s+([\d.]+)s\s+([\d.]+)s\s+([\d.]+)\s+([\d.]+)", out)
    if not m:
        raise RuntimeError("cannot parse openssl speed output:\n" + out)
    r = {"sign_per_s": float(m.group(3)), "verify_per_s": float(m.group(4)),
         "cmd": f"taskset -c {SVC_CORE} openssl speed -seconds {secs} rsa2048"}
    log(f"RSA-2048: {r['sign_per_s']} sign/s, {r['verify_per_s']} verify/s on one core")
    return r


def ref_server(args, name, argv, port, pid_of=None):
    """Start a reference server pinned to the service core, measure it like health."""
    p = subprocess.Popen(pin(SVC_CORE, argv), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        t0 = time.monotonic()
        while True:
            try:
                socket.create_connection(("127.0.0.1", port), timeout=1).close()
                break
            except OSError:
                if time.monotonic() - t0 > 10 or p.poll() is not None:
                    raise RuntimeError(f"{name} did not start")
                time.sleep(0.01)
        pids = pid_of(p) if pid_of else [p.pid]
        rounds = []
        for _ in range(args.ref_rounds):
            m = Meter(pids)
            wp, out, cmd = wrk(f"http://127.0.0.1:{port}/api/v1/health", "health", args.duration)
            r = wrk_result(wp, out, cmd)
            r.update(m.done())
            rounds.append(r)
        best = max(rounds, key=lambda x: x.get("rps") or 0)
        best["rounds_rps"] = [x.get("rps") for x in rounds]
        log(f"{name}: {best.get('rps')} req/s (rounds {best['rounds_rps']}), p99 {best.get('p99_ms')} ms, "
            f"server CPU {best.get('server_cpu_pct')}%")
        return best
    finally:
        p.send_signal(signal.SIGTERM)
        try:
            p.wait(timeout=10)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def ref_mhd(args):
    port = free_port()
    r = ref_server(args, "mhd_ceiling",
                   [os.path.join(args.tools, "mhd_ceiling"), str(port), str(args.workers)], port)
    r["cmd"] = f"taskset -c {SVC_CORE} bench/mhd_ceiling PORT {args.workers}"
    return r


def ref_nginx(args, workdir):
    """nginx answering `return 200 '{"status":"ok"}'`, one worker, pinned like the service."""
    prefix = os.path.join(workdir, "nginx")
    os.makedirs(os.path.join(prefix, "logs"), exist_ok=True)
    conf = os.path.join(prefix, "nginx.conf")
    port = free_port()
    with open(os.path.join(HERE, "nginx.conf")) as f:
        text = f.read()
    with open(conf, "w") as f:
        f.write(text.replace("@PORT@", str(port)).replace("@PREFIX@", prefix))

    def pid_of(p):
        time.sleep(0.2)  # the master forks its worker after binding
        try:
            return [p.pid] + run(["pgrep", "-P", str(p.pid)]).split()
        except subprocess.CalledProcessError:
            return [p.pid]

    r = ref_server(args, "nginx", ["nginx", "-p", prefix, "-c", conf, "-e",
                                   os.path.join(prefix, "logs", "error.log")], port, pid_of)
    r["cmd"] = f"taskset -c {SVC_CORE} nginx -c bench/nginx.conf (1 worker, access_log off)"
    return r


# ---- machine and versions ----


def sh(cmd):
    try:
        return subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=20).stdout.strip()
    except Exception:  # noqa: BLE001 - informational only
        return ""


def machine_info(args):
    lscpu = sh("lscpu")
    model = re.search(r"Model name:\s*(.*)", lscpu)
    return {
        "cpu_model": model.group(1).strip() if model else platform.processor(),
        "cores": NCPU,
        "kernel": platform.release(),
        "os": sh(". /etc/os-release && echo $PRETTY_NAME"),
        "memory": sh("free -h | awk '/Mem:/{print $2}'"),
        "hypervisor": (re.search(r"Hypervisor vendor:\s*(.*)", lscpu) or [None, ""])[1],
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "versions": {
            "auth-service": sh(f"{args.bin} --version"),
            "libmicrohttpd": sh("pkg-config --modversion libmicrohttpd"),
            "openssl": sh("openssl version"),
            "libxcrypt": sh("dpkg-query -W -f='${Version}' libcrypt1"),
            "wrk": sh("dpkg-query -W -f='${Version}' wrk"),
            "nginx": sh("nginx -v 2>&1 | sed 's/.*nginx\\///'"),
            "postgresql": sh("dpkg-query -W -f='${Version}' postgresql"),
            "redis": sh("redis-server --version | awk '{print $3}'"),
            "sqlite": sh("pkg-config --modversion sqlite3"),
            "cc": sh("cc --version | head -n1"),
        },
    }


# ---- smoke verdicts (JUnit) ----


def verdicts(result):
    cases = []
    for b in result.get("backends", []):
        for name, r in b.get("scenarios", {}).items():
            problems = []
            ok = (r.get("requests") or 0) - (r.get("non2xx") or 0)
            if ok <= 0:
                problems.append("no successful request")
            if r.get("non2xx"):
                problems.append(f"{r['non2xx']} non-2xx responses")
            if r.get("errors"):
                problems.append(f"{r['errors']} socket errors/timeouts")
            if name == "refresh":
                for k in ("refresh_n401", "refresh_reused", "refresh_other", "refresh_broken"):
                    if r.get(k):
                        problems.append(f"{k}={r[k]}")
                if not r.get("refresh_ok200"):
                    problems.append("no refresh answered 200")
            if name == "health_under_login_flood":
                fl = r.get("flood") or {}
                if not fl.get("requests"):
                    problems.append("the login flood completed no request")
                if fl.get("non2xx") or fl.get("errors"):
                    problems.append(f"login flood: {fl.get('non2xx')} non-2xx, {fl.get('errors')} errors")
            if r.get("error"):
                problems.append(r["error"])
            cases.append((f"{b['backend']}.{name}", problems, r))
        cs = b.get("cold_start") or {}
        cases.append((f"{b['backend']}.cold_start", [] if cs.get("repeats") else ["never ready"], cs))
    for e in result.get("failures", []):
        cases.append((e["where"], [e["error"]], {}))
    return cases


def write_junit(path, result):
    cases = verdicts(result)
    fails = sum(1 for _, p, _ in cases if p)
    lines = ['<?xml version="1.0" encoding="utf-8"?>',
             f'<testsuite name="bench-smoke" tests="{len(cases)}" failures="{fails}" errors="0">']
    for name, problems, r in cases:
        summary = {k: r.get(k) for k in ("requests", "rps", "non2xx", "errors", "p99_ms", "median_ms")
                   if isinstance(r, dict) and k in r}
        lines.append(f'  <testcase classname="bench" name={quoteattr(name)}>')
        if problems:
            lines.append(f'    <failure message={quoteattr("; ".join(problems))}>'
                         f'{escape(json.dumps(r)[:4000])}</failure>')
        lines.append(f'    <system-out>{escape(json.dumps(summary))}</system-out>')
        lines.append('  </testcase>')
    lines.append('</testsuite>')
    with open(path, "w") as f:
        f.write("\n".join(lines) + "\n")
    return fails


# ---- main ----


def main():
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--bin", required=True)
    ap.add_argument("--tools", help="directory holding bcrypt_rate and mhd_ceiling")
    ap.add_argument("--duration", type=int, default=10)
    ap.add_argument("--backends", default="sqlite,sqlite-nolog,postgres,postgres-fixedpool")
    ap.add_argument("--rounds", type=int, default=12, help="PASSWORD_BCRYPT_ROUNDS")
    ap.add_argument("--workers", type=int, default=1, help="WORKERS (HTTP threads)")
    ap.add_argument("--cold-repeats", type=int, default=5)
    ap.add_argument("--ref-rounds", type=int, default=2)
    ap.add_argument("--no-refs", action="store_true")
    ap.add_argument("--no-boost", action="store_true", help="no nice -20 (smoke mode)")
    ap.add_argument("--out", required=True)
    ap.add_argument("--junit")
    ap.add_argument("--mode", default="full")
    ap.add_argument("--command", default="bench/run")
    args = ap.parse_args()

    result = {"mode": args.mode, "priority_boost": bool(NICE), "command": args.command, "duration_s": args.duration,
              "pinning": {"service": SVC_CORE, "load": LOAD_CORE},
              "connections": {k: {"threads": t, "connections": c} for k, (t, c) in CONNS.items()},
              "bcrypt_rounds": args.rounds, "workers": args.workers,
              "machine": machine_info(args), "references": {}, "backends": [], "failures": []}
    workdir = tempfile.mkdtemp(prefix="auth-bench.")
    try:
        subprocess.run([args.bin, "keys", "generate", "--out", os.path.join(workdir, "private.pem")],
                       check=True, capture_output=True, cwd=workdir)
        if "postgres" in args.backends:
            result["services_pinned"] = pin_services()
        if not args.no_refs:
            for name, fn in (("bcrypt", lambda: ref_bcrypt(args)),
                             ("rsa2048", lambda: ref_openssl(args)),
                             ("mhd_ceiling", lambda: ref_mhd(args)),
                             ("nginx", lambda: ref_nginx(args, workdir))):
                try:
                    result["references"][name] = fn()
                except Exception as e:  # noqa: BLE001 - a missing reference is reported, not fatal
                    log(f"reference {name} failed: {e}")
                    result["failures"].append({"where": f"reference.{name}", "error": str(e)})
        for backend in [b for b in args.backends.split(",") if b]:
            try:
                result["backends"].append(backend_scenarios(args, backend, workdir))
            except Exception as e:  # noqa: BLE001
                log(f"[{backend}] failed: {e}")
                result["failures"].append({"where": backend, "error": str(e)})
                try:
                    with open(os.path.join(workdir, f"service-{backend}.log"), "rb") as f:
                        tail = f.read()[-3000:].decode(errors="replace")
                    log(f"[{backend}] service log tail:\n{tail}")
                except OSError:
                    pass
    finally:
        shutil.rmtree(workdir, ignore_errors=True)
    os.makedirs(os.path.dirname(os.path.abspath(args.out)), exist_ok=True)
    with open(args.out, "w") as f:
        json.dump(result, f, indent=2)
    log(f"results: {args.out}")
    rc = 1 if result["failures"] else 0
    if args.junit:
        fails = write_junit(args.junit, result)
        log(f"junit: {args.junit} ({fails} failing)")
        rc = 0  # the verdicts live in the JUnit file; scripts/summarize.py counts them
    return rc


if __name__ == "__main__":
    sys.exit(main())
