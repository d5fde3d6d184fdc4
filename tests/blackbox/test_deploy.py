"""Deployment artifacts, checked against the code they deploy.

  - GET /openapi.json: served from the binary, linted by a real linter
    (Redocly CLI, installed by `scripts/deps npm` into a cache outside the
    repository), equal to the route table of src/api/routes.c in both
    directions, with security / error responses that match what each handler
    does, and with schemas that the live responses satisfy;
  - GET /metrics: `promtool check metrics` on the output of a server that has
    served a few requests; no duplicate series; every metric an alert uses is
    exposed;
  - deploy/prometheus/alerts.yml: `promtool check rules` and the unit tests
    in alerts.test.yml (`promtool test rules`);
  - Dockerfile, .dockerignore, docker-compose.yml, .env examples, every YAML
    file under deploy/ and the systemd unit: parsed and cross-checked (ports,
    probe paths, environment names that src/config.c reads, drain timing,
    resources, security settings), the env examples and the Kubernetes
    ConfigMap + Secret validated by `auth-service check-config`.

`scripts/check-image` (debootstrap chroots) is too slow for CI; its committed
log is checked here, the script is run by hand (docs/deployment.md).
"""

import base64
import configparser
import copy
import json
import os
import re
import secrets
import shlex
import subprocess
from pathlib import Path

import pytest
import requests
import yaml

from conftest import AUTH_BIN, REPO, base_env, run_binary

DEPLOY = REPO / "deploy"
K8S = DEPLOY / "kubernetes"
PROM = DEPLOY / "prometheus"
NPM_DIR = Path(os.environ.get("AUTH_NPM_DIR", "/var/cache/auth-service-npm"))
REDOCLY = NPM_DIR / "node_modules" / ".bin" / "redocly"
PASSWORD = "correct horse battery"
HTTP_METHODS = ("get", "put", "post", "delete", "patch", "head", "options")


# --------------------------------------------------------------------------
# what the code says
# --------------------------------------------------------------------------

def config_vars():
    """Every variable src/config.c reads: its vars[] table, plus ENV_FILE."""
    src = (REPO / "src" / "config.c").read_text()
    m = re.search(r"static const struct var vars\[\] = \{(.*?)\n\};", src, re.S)
    assert m, "vars[] table not found in src/config.c"
    names = set(re.findall(r'\.name\s*=\s*"([A-Z][A-Z0-9_]*)"', m.group(1)))
    assert len(names) > 30, names
    assert "ENV_FILE" in src
    return names | {"ENV_FILE"}


def router_routes():
    """[(METHOD, pattern, handler, pool)] of src/api/routes.c."""
    return [r[:4] for r in route_policies()]


def route_policies():
    """[(METHOD, pattern, handler, pool, auth, rate)] of src/api/routes.c: PLAIN(method, path,
    handler, pool, flags) and ENDPOINT(method, path, pool, .fn = f, .auth = A, .rate = R)."""
    src = (REPO / "src" / "api" / "routes.c").read_text()
    src = re.sub(r"/\*.*?\*/", "", src, flags=re.S)
    src = src[src.index("api_routes[]"):]
    routes = []
    for m in re.finditer(r'PLAIN\(\s*"([A-Z]+)"\s*,\s*"([^"]+)"\s*,\s*(\w+)\s*,\s*(POOL_\w+)', src):
        routes.append(m.groups() + ("AUTH_NONE", "RATE_NONE"))
    for m in re.finditer(r'ENDPOINT\(\s*"([A-Z]+)"\s*,\s*"([^"]+)"\s*,\s*(POOL_\w+)\s*,([^)]*)\)', src):
        fields = dict(re.findall(r"\.(\w+)\s*=\s*(\w+)", m.group(4)))
        routes.append((m.group(1), m.group(2), fields["fn"], m.group(3),
                       fields.get("auth", "AUTH_NONE"), fields.get("rate", "RATE_NONE")))
    assert len(routes) >= 20, routes
    return routes


def handler_body(name):
    """The source of a handler function in src/api/*.c."""
    for path in sorted((REPO / "src" / "api").glob("*.c")):
        src = path.read_text()
        m = re.search(rf"^(?:void\s*\n|void\s+){name}\s*\([^)]*\)\s*\n\{{(.*?)\n\}}", src, re.S | re.M)
        if m:
            return m.group(1)
    raise AssertionError(f"handler {name} not found in src/api/*.c")


def dockerfile_stages():
    """[{'from','name','steps':[(INSTR, arg)]}] with line continuations joined."""
    lines, cur = [], ""
    for raw in (REPO / "Dockerfile").read_text().splitlines():
        if not cur and (not raw.strip() or raw.lstrip().startswith("#")):
            continue
        if cur and raw.lstrip().startswith("#"):
            continue
        if raw.endswith("\\"):
            cur += raw[:-1] + " "
            continue
        lines.append(cur + raw)
        cur = ""
    stages = []
    for line in lines:
        instr, _, arg = line.strip().partition(" ")
        if instr.upper() == "FROM":
            m = re.match(r"(\S+)(?:\s+AS\s+(\S+))?$", arg.strip(), re.I)
            stages.append({"from": m.group(1), "name": m.group(2), "steps": []})
        else:
            stages[-1]["steps"].append((instr.upper(), arg.strip()))
    return stages


def stage_args(stage):
    out = {}
    for instr, arg in stage["steps"]:
        if instr == "ARG":
            for tok in shlex.split(arg):
                k, _, v = tok.partition("=")
                out[k] = v
    return out


def deps_array(name):
    src = (REPO / "scripts" / "deps").read_text()
    m = re.search(rf"^{name}=\((.*?)\)", src, re.S | re.M)
    assert m, f"{name} not in scripts/deps"
    return m.group(1).split()


def yaml_docs(path):
    with open(path) as f:
        return [d for d in yaml.safe_load_all(f) if d is not None]


def k8s_objects():
    objs = {}
    for path in sorted(K8S.glob("*.yaml")):
        for d in yaml_docs(path):
            objs.setdefault(d["kind"], []).append(d)
    return objs


def one(objs, kind):
    assert len(objs.get(kind, [])) == 1, f"expected one {kind}, got {objs.get(kind)}"
    return objs[kind][0]


def env_file_names(path):
    """(assigned names, names mentioned in '# NAME=' comments) of a .env file."""
    assigned, commented = set(), set()
    for line in Path(path).read_text().splitlines():
        m = re.match(r"^\s*(?:export\s+)?([A-Za-z_][A-Za-z0-9_]*)=", line)
        if m:
            assigned.add(m.group(1))
            continue
        m = re.match(r"^\s*#\s*([A-Z][A-Z0-9_]*)=", line)
        if m:
            commented.add(m.group(1))
    return assigned, commented


def check_config(env, cwd):
    """`auth-service check-config` with exactly env (plus PATH); (rc, out, err)."""
    full = base_env()
    full.update(env)
    return run_binary(["check-config"], full, cwd)


def real_key_b64():
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    pem = key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                            serialization.NoEncryption())
    return base64.b64encode(pem).decode()


# --------------------------------------------------------------------------
# OpenAPI
# --------------------------------------------------------------------------

@pytest.fixture(scope="module")
def redocly():
    """The pinned Redocly CLI in NPM_DIR (installed once by scripts/deps npm)."""
    if not REDOCLY.exists():
        p = subprocess.run([str(REPO / "scripts" / "deps"), "npm"], capture_output=True, text=True,
                           timeout=600)
        assert p.returncode == 0, f"scripts/deps npm failed:\n{p.stdout}\n{p.stderr}"
    assert REDOCLY.exists(), f"{REDOCLY} missing after scripts/deps npm"
    return str(REDOCLY)


def lint(redocly, path):
    env = dict(os.environ, REDOCLY_TELEMETRY="off", REDOCLY_SUPPRESS_UPDATE_NOTICE="true",
               NO_COLOR="1")
    p = subprocess.run([redocly, "lint", "--config", str(REPO / "docs" / "redocly.yaml"),
                        "--format=json", str(path)], capture_output=True, text=True, timeout=120,
                       env=env, cwd=str(Path(path).parent))
    try:
        report = json.loads(p.stdout)
    except ValueError:
        pytest.fail(f"redocly printed no JSON report (exit {p.returncode}):\n{p.stdout}\n{p.stderr}")
    return p.returncode, report


@pytest.fixture
def live(server_factory):
    return server_factory(env={"APP_NAME": "Deploy Check", "APP_VERSION": "9.8.7"})


def fetch_openapi(srv):
    r = requests.get(srv.url("/openapi.json"), timeout=10)
    assert r.status_code == 200, r.text
    assert r.headers["Content-Type"].split(";")[0] == "application/json"
    return r.json()


def doc_operations(doc):
    """{(METHOD, path): operation}"""
    out = {}
    for path, item in doc["paths"].items():
        for method, op in item.items():
            if method in HTTP_METHODS:
                out[(method.upper(), path)] = op
    return out


def test_openapi_is_served_from_the_binary_with_name_and_version(live):
    doc = fetch_openapi(live)
    assert doc["openapi"].startswith("3.1."), doc["openapi"]
    assert doc["info"]["title"] == "Deploy Check"
    assert doc["info"]["version"] == "9.8.7"
    # Apart from the two substituted fields, the document is docs/openapi.json.
    source = json.loads((REPO / "docs" / "openapi.json").read_text())
    served = copy.deepcopy(doc)
    for d in (source, served):
        d["info"].pop("title")
        d["info"].pop("version")
    assert served == source, "GET /openapi.json differs from docs/openapi.json: rebuild?"


def test_openapi_passes_redocly_lint(live, redocly, tmp_path):
    path = tmp_path / "openapi.json"
    path.write_text(json.dumps(fetch_openapi(live), indent=2))
    rc, report = lint(redocly, path)
    problems = [(p["ruleId"], p["severity"], p["message"]) for p in report["problems"]]
    assert rc == 0 and report["totals"]["errors"] == 0, problems
    assert report["totals"]["warnings"] == 0, problems


def test_linter_catches_a_broken_document(live, redocly, tmp_path):
    """The lint step can fail: an unresolved $ref and an undeclared path
    parameter are reported as errors."""
    doc = fetch_openapi(live)
    doc["paths"]["/oauth/token"]["post"]["responses"]["400"]["content"]["application/json"][
        "schema"]["$ref"] = "#/components/schemas/DoesNotExist"
    doc["paths"]["/api/v1/admin/users/{id}"]["get"].pop("parameters")
    path = tmp_path / "broken.json"
    path.write_text(json.dumps(doc))
    rc, report = lint(redocly, path)
    rules = {p["ruleId"] for p in report["problems"] if p["severity"] == "error"}
    assert rc != 0, report
    assert "no-unresolved-refs" in rules, rules
    assert "path-parameters-defined" in rules, rules


def test_openapi_paths_equal_the_router():
    doc = json.loads((REPO / "docs" / "openapi.json").read_text())
    documented = set(doc_operations(doc))
    served = {(m, p) for m, p, _, _ in router_routes()}
    assert served - documented == set(), f"routes missing from docs/openapi.json: {served - documented}"
    assert documented - served == set(), f"documented but not routed: {documented - served}"


def test_openapi_operations_match_their_handlers():
    """Security, and the error answers each handler can give, are documented."""
    doc = json.loads((REPO / "docs" / "openapi.json").read_text())
    ops = doc_operations(doc)
    ids = [op["operationId"] for op in ops.values()]
    assert len(ids) == len(set(ids)), "duplicate operationId"
    for method, path, handler, pool, auth, rate in route_policies():
        op = ops[(method, path)]
        body = handler_body(handler)
        codes = set(op["responses"])
        where = f"{method} {path} ({handler})"
        # The route table declares who may call a route; the dispatcher
        # authenticates, and answers 403 on AUTH_ADMIN routes for non-admins.
        authenticated = auth in ("AUTH_USER", "AUTH_ADMIN")
        if auth == "AUTH_ADMIN":
            assert "403" in codes, where
        assert (op["security"] == [{"bearerAuth": []}]) == authenticated, \
            f"{where}: security {op['security']} but handler authenticates: {authenticated}"
        if authenticated:
            assert "401" in codes, where
        if "403" in body or '"Admin privileges required"' in body:
            assert "403" in codes, where
        if "call_body(" in body or "login_input(" in body:
            assert {"415", "422"} <= codes, f"{where}: JSON body without 415/422: {codes}"
            assert "requestBody" in op, where
        if "oauth_form(" in body:
            assert "400" in codes and "requestBody" in op, where
        if rate.startswith("RATE_IP"):
            assert "429" in codes, f"{where}: rate limited but no 429"
        if pool != "POOL_INLINE":
            assert "503" in codes, f"{where}: runs on a worker pool (may shed with 503)"
        for name in re.findall(r"\{(\w+)\}", path):
            params = [p for p in op.get("parameters", []) if p["in"] == "path"]
            assert [p["name"] for p in params] == [name], where
        assert any(c.startswith("2") for c in codes), where


class Schema:
    """A small JSON Schema subset (what docs/openapi.json uses) for live answers."""

    def __init__(self, doc):
        self.doc = doc

    def resolve(self, s):
        while "$ref" in s:
            node = self.doc
            for part in s["$ref"].lstrip("#/").split("/"):
                node = node[part]
            s = node
        return s

    def check(self, value, s, where="$"):
        s = self.resolve(s)
        if "oneOf" in s:
            ok = [alt for alt in s["oneOf"] if not self.errors(value, alt, where)]
            assert len(ok) == 1, f"{where}: {value!r} matches {len(ok)} of oneOf"
            return
        types = s.get("type")
        if types is not None:
            types = [types] if isinstance(types, str) else types
            py = {"object": dict, "array": list, "string": str, "boolean": bool, "null": type(None),
                  "integer": int, "number": (int, float)}
            assert any(isinstance(value, py[t]) and not (t in ("integer", "number")
                                                       and isinstance(value, bool))
                       for t in types), f"{where}: {value!r} is not {types}"
        if "const" in s:
            assert value == s["const"], f"{where}: {value!r} != {s['const']!r}"
        if "enum" in s:
            assert value in s["enum"], f"{where}: {value!r} not in {s['enum']}"
        if isinstance(value, dict):
            for k in s.get("required", []):
                assert k in value, f"{where}: required {k!r} missing in {value}"
            for k, sub in s.get("properties", {}).items():
                if k in value:
                    self.check(value[k], sub, f"{where}.{k}")
        if isinstance(value, list) and "items" in s:
            for i, v in enumerate(value):
                self.check(v, s["items"], f"{where}[{i}]")

    def errors(self, value, s, where):
        try:
            self.check(value, s, where)
            return None
        except AssertionError as e:
            return str(e)

    def response(self, method, path, r):
        op = self.doc["paths"][path][method.lower()]
        status = str(r.status_code)
        assert status in op["responses"], f"{method} {path}: {status} is not documented ({r.text})"
        resp = self.resolve(op["responses"][status])
        content = resp.get("content")
        if not content:
            assert r.content == b"", f"{method} {path} {status}: undocumented body {r.text!r}"
            return
        ctype = r.headers.get("Content-Type", "").split(";")[0]
        assert ctype in content, f"{method} {path} {status}: Content-Type {ctype} not in {list(content)}"
        if ctype == "application/json":
            self.check(r.json(), content[ctype]["schema"], f"{method} {path} {status}")
        for name in resp.get("headers", {}):
            if name in ("Retry-After", "WWW-Authenticate", "Cache-Control", "Pragma"):
                assert name in r.headers, f"{method} {path} {status}: header {name} missing"


def test_live_responses_match_the_document(live):
    """Bodies the server really sends satisfy the documented schemas."""
    s = Schema(fetch_openapi(live))
    u = live.url
    email = f"deploy-{secrets.token_hex(4)}@example.com"

    def call(method, path, real_path=None, **kw):
        r = requests.request(method, u(real_path or path), timeout=30, **kw)
        s.response(method, path, r)
        return r

    call("GET", "/api/v1/health")
    call("GET", "/api/v1/ready")
    call("GET", "/.well-known/jwks.json")
    call("GET", "/.well-known/openid-configuration")
    call("GET", "/metrics")
    assert call("POST", "/api/v1/auth/register",
                json={"email": email, "password": PASSWORD, "full_name": "Dee"}).status_code == 201
    assert call("POST", "/api/v1/auth/register",
                json={"email": email, "password": PASSWORD}).status_code == 409
    assert call("POST", "/api/v1/auth/register", json={"email": "nope"}).status_code == 422
    assert call("POST", "/api/v1/auth/register", data="x",
                headers={"Content-Type": "text/plain"}).status_code == 415
    assert call("POST", "/api/v1/auth/login",
                json={"email": email, "password": "wrong password"}).status_code == 401
    tokens = call("POST", "/api/v1/auth/login", data={"username": email, "password": PASSWORD}).json()
    auth = {"Authorization": f"Bearer {tokens['access_token']}"}
    assert call("GET", "/api/v1/users/me", headers=auth).status_code == 200
    assert call("GET", "/api/v1/users/me").status_code == 401
    assert call("PATCH", "/api/v1/users/me", headers=auth, json={"full_name": None}).status_code == 200
    assert call("GET", "/api/v1/auth/sessions", headers=auth).status_code == 200
    assert call("DELETE", "/api/v1/auth/sessions/{id}", "/api/v1/auth/sessions/nope",
                headers=auth).status_code == 404
    assert call("GET", "/api/v1/admin/users", headers=auth).status_code == 403
    assert call("POST", "/api/v1/auth/refresh",
                json={"refresh_token": tokens["refresh_token"]}).status_code == 200
    assert call("POST", "/api/v1/auth/refresh", json={"refresh_token": "x"}).status_code == 401
    assert call("POST", "/oauth/token", data={"grant_type": "password", "username": email,
                                              "password": "bad"}).status_code == 400
    assert call("POST", "/oauth/token", data={"grant_type": "magic"}).status_code == 400
    assert call("POST", "/oauth/revoke", data={"token": "whatever"}).status_code == 200
    assert call("POST", "/api/v1/auth/verify-email", json={"token": "bogus"}).status_code == 400
    assert call("POST", "/api/v1/auth/password/forgot", json={"email": email}).status_code == 202
    assert call("POST", "/api/v1/auth/password/reset",
                json={"token": "bogus", "new_password": "another good one"}).status_code == 400
    assert call("POST", "/api/v1/auth/password/change", headers=auth,
                json={"current_password": "wrong one!", "new_password": "another good one"}
                ).status_code == 400
    assert call("POST", "/api/v1/auth/verify-email/resend", headers=auth).status_code == 202
    assert call("POST", "/api/v1/auth/logout", headers=auth).status_code == 204


# --------------------------------------------------------------------------
# metrics and alerts
# --------------------------------------------------------------------------

def parse_exposition(text):
    """{(name, frozenset(labels))} plus HELP/TYPE names; fails on duplicates."""
    series, helps, types = set(), set(), {}
    for line in text.splitlines():
        if line.startswith("# HELP "):
            helps.add(line.split()[2])
        elif line.startswith("# TYPE "):
            _, _, name, kind = line.split()
            assert name not in types, f"second TYPE line for {name}"
            types[name] = kind
        elif line and not line.startswith("#"):
            m = re.match(r"^([a-zA-Z_:][a-zA-Z0-9_:]*)(\{(.*)\})?\s+(\S+)$", line)
            assert m, f"unparsable sample line {line!r}"
            labels = frozenset(re.findall(r'(\w+)="((?:[^"\\]|\\.)*)"', m.group(3) or ""))
            key = (m.group(1), labels)
            assert key not in series, f"duplicate series {line!r}"
            series.add(key)
    return series, helps, types


def alert_rules():
    doc = yaml.safe_load((PROM / "alerts.yml").read_text())
    return [r for g in doc["groups"] for r in g["rules"]]


def test_metrics_pass_promtool_and_cover_the_alerts(live):
    u = live.url
    email = f"metrics-{secrets.token_hex(4)}@example.com"
    requests.get(u("/api/v1/health"), timeout=10)
    requests.get(u("/api/v1/ready"), timeout=10)
    requests.get(u("/no/such/path"), timeout=10)
    requests.post(u("/api/v1/auth/register"), json={"email": email, "password": PASSWORD}, timeout=30)
    requests.post(u("/api/v1/auth/login"), json={"email": email, "password": "wrong!!!"}, timeout=30)
    tok = requests.post(u("/api/v1/auth/login"), json={"email": email, "password": PASSWORD},
                        timeout=30).json()["access_token"]
    h = {"Authorization": f"Bearer {tok}"}
    requests.get(u("/api/v1/users/me"), headers=h, timeout=10)
    requests.patch(u("/api/v1/users/me"), headers=h, json={"full_name": "M"}, timeout=10)
    r = requests.get(u("/metrics"), timeout=10)
    assert r.status_code == 200
    assert r.headers["Content-Type"].startswith("text/plain")
    text = r.text

    p = subprocess.run(["promtool", "check", "metrics"], input=text, capture_output=True, text=True,
                       timeout=60)
    assert p.returncode == 0, f"promtool check metrics:\n{p.stdout}{p.stderr}"

    series, helps, types = parse_exposition(text)
    names = {n for n, _ in series}
    for n in names:
        family = re.sub(r"_(bucket|sum|count)$", "", n) if types.get(
            re.sub(r"_(bucket|sum|count)$", "", n)) == "histogram" else n
        assert family in types and family in helps, f"{n}: no HELP/TYPE"
    # The requests above are counted by route template, method and status.
    assert ("auth_http_requests_total", frozenset({("route", "/api/v1/users/me"), ("method", "PATCH"),
                                                   ("status", "200")})) in series
    assert any(n == "auth_logins_total" and ("result", "failure") in lab for n, lab in series)

    # Every metric an alert uses is exposed.  The outbox metrics are allowed
    # to be missing only while src/metrics.c does not produce them yet.
    metrics_c = (REPO / "src" / "metrics.c").read_text()
    used = set()
    for rule in alert_rules():
        used |= set(re.findall(r"\b(auth_[a-z0-9_]+)\b", rule["expr"]))
    assert used, "no auth_ metric in alerts.yml"
    for m in sorted(used):
        if m.startswith("auth_outbox_") and m not in metrics_c:
            continue
        assert m in names, f"alerts.yml uses {m}, which /metrics does not expose"


def test_alert_rules_pass_promtool():
    p = subprocess.run(["promtool", "check", "rules", str(PROM / "alerts.yml")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and "SUCCESS" in p.stdout, p.stdout + p.stderr
    p = subprocess.run(["promtool", "test", "rules", "alerts.test.yml"], capture_output=True,
                       text=True, timeout=120, cwd=str(PROM))
    assert p.returncode == 0 and "SUCCESS" in p.stdout, p.stdout + p.stderr


def test_alerts_cover_the_brief_and_have_runbooks():
    rules = alert_rules()
    exprs = " ".join(r["expr"] for r in rules)
    for needle in ('status=~"5..', 'route="/api/v1/ready",status="503"', "auth_worker_pool_queued",
                   "auth_worker_pool_rejected_total", "auth_db_pool_waiting",
                   "auth_refresh_reuse_detected_total", "auth_outbox_pending",
                   "auth_outbox_sent_total", "auth_outbox_failed_total",
                   'auth_logins_total{result="failure"}'):
        assert needle in exprs, f"no alert on {needle}"
    monitoring = (REPO / "docs" / "monitoring.md").read_text()
    headings = {re.sub(r"[^a-z0-9-]", "", h.strip().lower().replace(" ", "-"))
                for h in re.findall(r"^#+\s+(.*)$", monitoring, re.M)}
    for r in rules:
        assert r["labels"]["severity"] in ("page", "warning"), r["alert"]
        for k in ("summary", "description", "runbook_url"):
            assert r["annotations"].get(k), f"{r['alert']}: no {k}"
        anchor = r["annotations"]["runbook_url"].split("#", 1)[1]
        assert anchor in headings, f"{r['alert']}: docs/monitoring.md has no section #{anchor}"


# --------------------------------------------------------------------------
# Dockerfile, .dockerignore, check-image
# --------------------------------------------------------------------------

def test_dockerfile_stages():
    stages = dockerfile_stages()
    assert [s["from"] for s in stages] == ["debian:bookworm-slim"] * 2
    build, runtime = stages
    bargs, rargs = stage_args(build), stage_args(runtime)
    build_pkgs = set(bargs["BUILD_PACKAGES"].split())
    runtime_pkgs = set(rargs["RUNTIME_PACKAGES"].split())
    missing = set(deps_array("BUILD_PKGS")) - build_pkgs
    assert not missing, f"build stage lacks scripts/deps BUILD_PKGS {missing}"
    assert {"libc6-dev", "python3"} <= build_pkgs
    assert not {p for p in runtime_pkgs if p.endswith("-dev")} | (runtime_pkgs & {"gcc", "make", "meson"})
    runs = " ".join(a for i, a in build["steps"] if i == "RUN")
    assert "meson setup build --buildtype=release" in runs and "meson compile" in runs
    steps = runtime["steps"]
    user = [a for i, a in steps if i == "USER"]
    assert user and re.fullmatch(r"1000(:1000)?", user[-1]), f"USER {user}: numeric uid 1000"
    assert [a for i, a in steps if i == "EXPOSE"] == ["8000"]
    hc = [a for i, a in steps if i == "HEALTHCHECK"]
    assert hc and json.loads(re.search(r"CMD\s+(\[.*\])", hc[0]).group(1)) == ["auth-service",
                                                                                "healthcheck"]
    assert json.loads([a for i, a in steps if i == "CMD"][-1]) == ["auth-service", "serve"]
    assert any(i == "COPY" and a.startswith("--from=build") for i, a in steps)
    assert any(i == "RUN" and "useradd --uid 1000" in a for i, a in steps)
    workdir = [a for i, a in steps if i == "WORKDIR"][-1]
    assert any(i == "RUN" and workdir in a and "-o 1000" in a for i, a in steps), \
        "the runtime WORKDIR (SQLite default) must be writable by uid 1000"


def test_runtime_packages_provide_every_linked_library():
    """Each shared library the built binary needs comes from RUNTIME_PACKAGES
    (on this Debian 12 machine, where the packages are the image's)."""
    rargs = stage_args(dockerfile_stages()[1])
    runtime_pkgs = set(rargs["RUNTIME_PACKAGES"].split()) | {"libc6"}
    p = subprocess.run(["readelf", "-d", AUTH_BIN], capture_output=True, text=True, timeout=30)
    assert p.returncode == 0, p.stderr
    needed = re.findall(r"\(NEEDED\)\s+Shared library: \[([^]]+)\]", p.stdout)
    assert needed
    for lib in needed:
        if re.match(r"lib(asan|ubsan|lsan|tsan)", lib):
            continue  # sanitizer builds of the test suite
        q = subprocess.run(["sh", "-c", f"dpkg -S '*/{lib}' | head -n 1"], capture_output=True,
                           text=True)
        pkg = q.stdout.split(":")[0].strip()
        assert pkg in runtime_pkgs, f"{lib} comes from {pkg!r}, not in RUNTIME_PACKAGES"


def dockerignore_ignored(rel):
    rules = []
    for line in (REPO / ".dockerignore").read_text().splitlines():
        line = line.strip()
        if line and not line.startswith("#"):
            rules.append((line.startswith("!"), line.lstrip("!").strip("/")))
    import fnmatch
    parts, result = rel.split("/"), False
    for neg, pat in rules:
        if any(fnmatch.fnmatchcase("/".join(parts[:i]), pat) for i in range(1, len(parts) + 1)):
            result = not neg
    return result


def test_dockerignore_and_copy_cover_the_build():
    build = dockerfile_stages()[0]
    copied = []
    for instr, arg in build["steps"]:
        if instr == "COPY":
            copied += [s.rstrip("/") for s in shlex.split(arg)[:-1]]
    for s in copied:
        assert not dockerignore_ignored(s), f"COPY {s} is excluded by .dockerignore"
    meson = (REPO / "meson.build").read_text()
    inputs = set(re.findall(r"'((?:src|docs|scripts|tests)/[^']+)'", meson))
    assert "docs/openapi.json" in inputs and "scripts/embed.py" in inputs
    for path in inputs:
        if not (REPO / path).exists():
            continue  # meson skips modules still being written
        assert any(path == c or path.startswith(c + "/") for c in copied), \
            f"meson.build needs {path}, which the build stage does not COPY"
        assert not dockerignore_ignored(path), f"{path} excluded by .dockerignore"
    for secret in (".env", "keys/private.pem", "auth.db", "build/auth-service", ".git/config"):
        assert dockerignore_ignored(secret), f"{secret} would be sent to the Docker daemon"


def test_check_image_is_manual_and_its_log_is_a_success():
    script = REPO / "scripts" / "check-image"
    assert os.access(script, os.X_OK)
    assert "check-image" not in (REPO / "scripts" / "test").read_text()
    assert "check-image" not in (REPO / ".ci" / "run").read_text()
    log = (REPO / "docs" / "check-image.log").read_text()
    assert "debootstrap" in log
    assert re.search(r"NEEDED libmicrohttpd\.so\.12\s+<- libmicrohttpd12", log)
    assert "HEALTHCHECK auth-service healthcheck: exit 0" in log
    assert "healthcheck --url /api/v1/health: exit 0" in log
    assert "not found" not in log
    assert re.search(r"check-image: OK in \d+ s", log.strip().splitlines()[-1]), log[-500:]


# --------------------------------------------------------------------------
# docker compose and .env examples
# --------------------------------------------------------------------------

def test_docker_compose():
    doc = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    svc = doc["services"]
    assert svc["db"]["image"] == "postgres:16-alpine"
    assert svc["redis"]["image"] == "redis:7-alpine"
    for name in ("db", "redis"):
        assert svc[name]["healthcheck"]["test"], name
    api = svc["api"]
    assert api["depends_on"] == {"db": {"condition": "service_healthy"},
                                 "redis": {"condition": "service_healthy"}}
    cmd = api["command"]
    cmd = cmd if isinstance(cmd, str) else " ".join(cmd)
    assert "auth-service migrate up && auth-service serve" in cmd
    env = api["environment"]
    assert set(env) <= config_vars(), set(env) - config_vars()
    assert re.match(r"postgresql\+asyncpg://[^@]+@db:5432/", env["DATABASE_URL"])
    assert re.match(r"redis://([^@]*@)?redis:6379(/\d+)?$", env["REDIS_URL"])
    assert {"DEBUG", "ENVIRONMENT"} <= set(env)
    assert "8000:8000" in [str(p) for p in api["ports"]]
    pg_volumes = [v.split(":")[0] for v in svc["db"]["volumes"]]
    assert pg_volumes and all(v in doc["volumes"] for v in pg_volumes), "named volume for PostgreSQL"
    assert api.get("build") == "." or api.get("build", {}).get("context") == "."


def test_compose_environment_is_a_valid_configuration(tmp_path):
    env = yaml.safe_load((REPO / "docker-compose.yml").read_text())["services"]["api"]["environment"]
    rc, out, err = check_config({k: str(v) for k, v in env.items()}, tmp_path)
    assert rc == 0, err


def test_env_example_lists_every_variable_and_is_valid(tmp_path):
    assigned, commented = env_file_names(REPO / ".env.example")
    known = config_vars() - {"ENV_FILE"}
    assert assigned <= known, f"unknown variables: {assigned - known}"
    assert known - assigned - commented == set(), \
        f".env.example does not mention {known - assigned - commented}"
    (tmp_path / ".env").write_text((REPO / ".env.example").read_text())
    rc, out, err = check_config({}, tmp_path)
    assert rc == 0, err
    assert "ENVIRONMENT=development" in out


def test_env_production_example_holds_placeholders_only(tmp_path):
    path = REPO / ".env.production.example"
    assigned, commented = env_file_names(path)
    assert (assigned | commented) <= config_vars(), (assigned | commented) - config_vars()
    text = path.read_text()
    assert re.search(r"^ENVIRONMENT=production$", text, re.M)
    # As shipped, the production rules refuse it: nothing in it is a usable secret.
    (tmp_path / ".env").write_text(text)
    rc, out, err = check_config({}, tmp_path)
    assert rc != 0
    assert "SECRET_KEY" in err and "RSA_PRIVATE_KEY_CONTENT" in err, err
    # With the secrets filled in, it is a valid production configuration.
    filled = re.sub(r"^SECRET_KEY=.*$", "SECRET_KEY=" + secrets.token_hex(32), text, flags=re.M)
    filled = re.sub(r"^RSA_PRIVATE_KEY_CONTENT=.*$", "RSA_PRIVATE_KEY_CONTENT=" + real_key_b64(),
                    filled, flags=re.M)
    (tmp_path / ".env").write_text(filled)
    rc, out, err = check_config({}, tmp_path)
    assert rc == 0, err
    assert "ENVIRONMENT=production" in out


# --------------------------------------------------------------------------
# Kubernetes
# --------------------------------------------------------------------------

def test_every_yaml_file_parses():
    files = sorted(DEPLOY.rglob("*.yml")) + sorted(DEPLOY.rglob("*.yaml")) + [REPO / "docker-compose.yml"]
    assert len(files) >= 10, files
    for f in files:
        docs = yaml_docs(f)
        assert docs, f"{f} is empty"
    kinds = set(k8s_objects())
    assert {"Deployment", "Service", "ConfigMap", "Secret", "Job", "PodDisruptionBudget",
            "HorizontalPodAutoscaler"} <= kinds, kinds


def container_port(container, ref):
    if isinstance(ref, int):
        return ref
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ref in ports, f"port {ref!r} not declared"
    return ports[ref]


def test_deployment():
    objs = k8s_objects()
    dep = one(objs, "Deployment")
    spec = dep["spec"]
    pod = spec["template"]["spec"]
    assert spec["replicas"] == 3
    assert spec["selector"]["matchLabels"].items() <= spec["template"]["metadata"]["labels"].items()
    (c,) = pod["containers"]
    assert [p["containerPort"] for p in c["ports"]] == [8000]
    routes = {(m, p) for m, p, _, _ in router_routes()}
    assert c["livenessProbe"]["httpGet"]["path"] == "/api/v1/health"
    assert c["readinessProbe"]["httpGet"]["path"] == "/api/v1/ready"
    for probe in ("livenessProbe", "readinessProbe", "startupProbe"):
        if probe in c:
            g = c[probe]["httpGet"]
            assert ("GET", g["path"]) in routes, f"{probe} path {g['path']} is not routed"
            assert container_port(c, g["port"]) == 8000
            assert c[probe]["periodSeconds"] >= 1
    assert c["readinessProbe"]["periodSeconds"] <= c["livenessProbe"]["periodSeconds"]
    assert c["resources"] == {"requests": {"memory": "256Mi", "cpu": "250m"},
                              "limits": {"memory": "512Mi", "cpu": "500m"}}
    assert c["lifecycle"]["preStop"]["exec"]["command"] in (["sleep", "15"],
                                                            ["/bin/sh", "-c", "sleep 15"])
    cfg = one(objs, "ConfigMap")
    shutdown = int(cfg["data"].get("SHUTDOWN_TIMEOUT_SECONDS", 20))
    assert pod["terminationGracePeriodSeconds"] > 15 + shutdown, \
        f"terminationGracePeriodSeconds {pod['terminationGracePeriodSeconds']} <= preStop 15 + {shutdown}"
    psc, csc = pod.get("securityContext", {}), c["securityContext"]
    uid = re.match(r"(\d+)", [a for i, a in dockerfile_stages()[1]["steps"] if i == "USER"][-1]).group(1)
    assert (csc.get("runAsNonRoot") or psc.get("runAsNonRoot")) is True
    assert str(csc.get("runAsUser", psc.get("runAsUser"))) == uid == "1000"
    assert csc["readOnlyRootFilesystem"] is True
    assert csc["allowPrivilegeEscalation"] is False
    assert csc["capabilities"]["drop"] == ["ALL"]
    assert (csc.get("seccompProfile") or psc.get("seccompProfile"))["type"] == "RuntimeDefault"
    mounts = {m["mountPath"]: m["name"] for m in c["volumeMounts"]}
    vols = {v["name"]: v for v in pod["volumes"]}
    assert "/tmp" in mounts and "emptyDir" in vols[mounts["/tmp"]]
    sources = {(k, v["name"]) for e in c["envFrom"] for k, v in e.items()}
    assert ("configMapRef", cfg["metadata"]["name"]) in sources
    assert ("secretRef", one(objs, "Secret")["metadata"]["name"]) in sources
    assert int(cfg["data"]["PORT"]) == 8000


def test_service_pdb_hpa_job():
    objs = k8s_objects()
    dep = one(objs, "Deployment")
    labels = dep["spec"]["template"]["metadata"]["labels"]
    (c,) = dep["spec"]["template"]["spec"]["containers"]
    svc = one(objs, "Service")
    (port,) = svc["spec"]["ports"]
    assert port["port"] == 80
    assert container_port(c, port["targetPort"]) == 8000
    expose = [a for i, a in dockerfile_stages()[1]["steps"] if i == "EXPOSE"]
    assert [str(container_port(c, port["targetPort"]))] == expose
    assert svc["spec"]["selector"].items() <= labels.items()
    pdb = one(objs, "PodDisruptionBudget")
    assert pdb["spec"]["selector"]["matchLabels"].items() <= labels.items()
    assert 0 < pdb["spec"]["minAvailable"] < dep["spec"]["replicas"]
    hpa = one(objs, "HorizontalPodAutoscaler")
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment",
                                             "name": dep["metadata"]["name"]}
    assert hpa["spec"]["minReplicas"] >= dep["spec"]["replicas"]
    assert hpa["spec"]["maxReplicas"] >= hpa["spec"]["minReplicas"]
    job = one(objs, "Job")
    (jc,) = job["spec"]["template"]["spec"]["containers"]
    assert (jc.get("command", []) + jc.get("args", []))[-3:] == ["auth-service", "migrate", "up"] or \
        jc.get("args") == ["migrate", "up"]
    assert jc["image"] == c["image"]
    assert jc["envFrom"] == c["envFrom"]
    assert job["spec"]["template"]["spec"]["restartPolicy"] in ("Never", "OnFailure")


def test_kubernetes_environment_is_a_valid_production_configuration(tmp_path):
    """ConfigMap + Secret (placeholders replaced) pass check-config in production;
    with the placeholders as shipped, they do not."""
    objs = k8s_objects()
    data = dict(one(objs, "ConfigMap")["data"])
    secret = one(objs, "Secret")
    sdata = dict(secret.get("stringData", {}))
    for k, v in secret.get("data", {}).items():
        sdata[k] = base64.b64decode(v).decode()
    names = set(data) | set(sdata)
    assert names <= config_vars(), names - config_vars()
    assert not set(data) & {"SECRET_KEY", "RSA_PRIVATE_KEY_CONTENT", "SMTP_PASSWORD", "DATABASE_URL",
                            "REDIS_URL"}, "secrets belong in the Secret"
    assert data["ENVIRONMENT"] == "production"
    for k, v in sdata.items():
        assert "CHANGE-ME" in v, f"Secret example {k} is not a placeholder"
    rc, out, err = check_config({**data, **sdata}, tmp_path)
    assert rc != 0 and "SECRET_KEY" in err
    filled = dict(sdata, SECRET_KEY=secrets.token_hex(32), RSA_PRIVATE_KEY_CONTENT=real_key_b64())
    rc, out, err = check_config({**data, **filled}, tmp_path)
    assert rc == 0, err


# --------------------------------------------------------------------------
# systemd
# --------------------------------------------------------------------------

def read_unit():
    cp = configparser.ConfigParser(strict=False, interpolation=None)
    cp.optionxform = str
    cp.read(DEPLOY / "systemd" / "auth-service.service")
    return cp


def test_systemd_unit(tmp_path):
    u = read_unit()
    s = u["Service"]
    assert s["EnvironmentFile"].lstrip("-") == "/etc/auth-service/env"
    assert s.get("DynamicUser") == "yes" or s.get("User") not in (None, "root")
    for key, want in (("NoNewPrivileges", "yes"), ("ProtectSystem", "strict"), ("ProtectHome", "yes"),
                      ("PrivateTmp", "yes"), ("StateDirectory", "auth-service"),
                      ("WorkingDirectory", "/var/lib/auth-service"), ("Restart", "on-failure"),
                      ("KillSignal", "SIGTERM")):
        assert s.get(key) == want, f"{key}={s.get(key)}, want {want}"
    assert s["ExecStartPre"].split()[-2:] == ["migrate", "up"]
    assert s["ExecStart"].split()[-1] == "serve"
    assert s["ExecStart"].split()[0] == s["ExecStartPre"].split()[0]
    stop = int(re.match(r"(\d+)", s["TimeoutStopSec"]).group(1))
    assert stop > 20, "TimeoutStopSec must exceed the default SHUTDOWN_TIMEOUT_SECONDS (20)"
    for line in (DEPLOY / "systemd" / "auth-service.service").read_text().splitlines():
        m = re.match(r"^Environment=(\w+)=", line)
        if m:
            assert m.group(1) in config_vars()
    # systemd itself accepts the unit (binary and env file pointed at test copies).
    unit = (DEPLOY / "systemd" / "auth-service.service").read_text()
    unit = unit.replace("/usr/local/bin/auth-service", AUTH_BIN)
    unit = unit.replace("/etc/auth-service/env", str(tmp_path / "env"))
    (tmp_path / "env").write_text("ENVIRONMENT=development\n")
    (tmp_path / "auth-service.service").write_text(unit)
    p = subprocess.run(["systemd-analyze", "verify", str(tmp_path / "auth-service.service")],
                       capture_output=True, text=True, timeout=60)
    assert p.returncode == 0 and not (p.stdout + p.stderr).strip(), p.stdout + p.stderr


def test_deps_install_the_tools_these_tests_use():
    pkgs = deps_array("TEST_PKGS")
    assert {"python3-yaml", "prometheus"} <= set(pkgs)
    assert "@redocly/cli@" in (REPO / "scripts" / "deps").read_text()


# --------------------------------------------------------------------------
# docs/security.md
# --------------------------------------------------------------------------

def test_security_checklists_cite_only_real_tests():
    """Every test docs/security.md names as evidence exists, so the
    checklist cannot silently drift from the suite."""
    doc = (REPO / "docs" / "security.md").read_text()
    py = set(re.findall(r"`(test_\w+\.py)::(test_\w+)", doc))
    c = set()
    for m in re.finditer(r"`(test_\w+\.c): ([^`]+)`", doc):
        c.update((m.group(1), name) for name in re.findall(r"\b(test_\w+)\b", m.group(2)))
    assert len(py) >= 60 and len(c) >= 10, (len(py), len(c))
    missing = [f"{f}::{t}" for f, t in sorted(py)
               if not re.search(rf"^def {t}\(", (REPO / "tests" / "blackbox" / f).read_text(), re.M)]
    missing += [f"{f}: {t}" for f, t in sorted(c)
                if not re.search(rf"^static void {t}\(", (REPO / "tests" / "unit" / f).read_text(), re.M)]
    assert not missing, missing
