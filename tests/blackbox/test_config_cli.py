"""Configuration (environment, .env, ENV_FILE, validation, production guards) and the CLI."""

import re
import shutil

import pytest
import requests

from conftest import CONFIG_VARS, FIXTURES

SECRET_40 = "s3cr3t-" + "k" * 33          # 40 bytes


def error_lines(stderr):
    return [l for l in stderr.splitlines() if re.search(r"\berror\b", l, re.I)]


def assert_every_error_line_names_a_variable(stderr):
    lines = error_lines(stderr)
    assert lines, f"no error line in stderr:\n{stderr}"
    for line in lines:
        named = set(re.findall(r"\b[A-Z][A-Z0-9_]{2,}\b", line)) & CONFIG_VARS
        assert named, f"error line names no configuration variable: {line!r}"


def lines_naming(stderr, var):
    return [l for l in error_lines(stderr) if re.search(rf"\b{var}\b", l)]


@pytest.fixture
def cfg_srv(server_factory):
    """A configured but not started server: its env and workdir for CLI runs."""
    return server_factory(start=False)


@pytest.fixture
def empty_dir(tmp_path):
    d = tmp_path / "cwd"
    d.mkdir()
    return d


# ---- bad values stop `serve` promptly, naming the variable ----

@pytest.mark.parametrize("value", ["abc", "70000", "-1", "80x", "65536"])
def test_bad_port_stops_serve(cfg_srv, value):
    rc, out, err = cfg_srv.run_cli(["serve"], {"PORT": value}, timeout=10)
    assert rc != 0
    named = lines_naming(err, "PORT")
    assert named, err
    assert_every_error_line_names_a_variable(err)


def test_bad_port_error_gives_an_example(cfg_srv):
    rc, out, err = cfg_srv.run_cli(["check-config"], {"PORT": "abc"})
    assert rc != 0
    line = lines_naming(err, "PORT")[0]
    assert "abc" in line or re.search(r"\d", line), line   # the problem and a good example


def test_bad_database_url_scheme_stops_serve(cfg_srv):
    rc, out, err = cfg_srv.run_cli(["serve"], {"DATABASE_URL": "mysql://x"}, timeout=10)
    assert rc != 0
    assert lines_naming(err, "DATABASE_URL"), err
    assert_every_error_line_names_a_variable(err)


@pytest.mark.parametrize("url", [
    "postgresql://user:pw@localhost:5432/auth_db",
    "postgres://user:pw@localhost/auth_db",
    "postgresql+asyncpg://user:pw@db.example.com/auth",
    "postgresql+psycopg://user:pw@db.example.com/auth",
    "sqlite:///relative.db",
    "sqlite:////tmp/absolute.db",
])
def test_supported_database_urls_validate(cfg_srv, url):
    rc, out, err = cfg_srv.run_cli(["check-config"], {"DATABASE_URL": url})
    assert rc == 0, err
    assert "pw@" not in out + err, "database password printed"


def test_several_problems_one_line_each(cfg_srv):
    rc, out, err = cfg_srv.run_cli(["check-config"], {"PORT": "abc", "DATABASE_URL": "mysql://x",
                                                      "PASSWORD_BCRYPT_ROUNDS": "3"})
    assert rc != 0
    for var in ("PORT", "DATABASE_URL", "PASSWORD_BCRYPT_ROUNDS"):
        assert len(lines_naming(err, var)) == 1, (var, err)
    assert_every_error_line_names_a_variable(err)


@pytest.mark.parametrize("var,value", [
    ("PASSWORD_BCRYPT_ROUNDS", "3"),
    ("PASSWORD_BCRYPT_ROUNDS", "32"),
    ("DEBUG", "maybe"),
    ("ENVIRONMENT", "prod"),
    ("LOG_FORMAT", "xml"),
    ("LOG_LEVEL", "LOUD"),
    ("WORKERS", "many"),
    ("SHUTDOWN_TIMEOUT_SECONDS", "soon"),
])
def test_bad_value_names_its_variable(cfg_srv, var, value):
    rc, out, err = cfg_srv.run_cli(["check-config"], {var: value})
    assert rc != 0, out
    assert lines_naming(err, var), err
    assert_every_error_line_names_a_variable(err)


@pytest.mark.parametrize("value", ["True", "false", "YES", "no", "1", "0"])
def test_booleans_accept_the_documented_spellings(cfg_srv, value):
    rc, out, err = cfg_srv.run_cli(["check-config"], {"DEBUG": value})
    assert rc == 0, err


def test_production_without_secret_key_or_signing_key_refuses(server_factory):
    srv = server_factory(start=False, write_key=False,
                         env={"ENVIRONMENT": "production", "PASSWORD_BCRYPT_ROUNDS": "12"})
    for cmd in (["serve"], ["check-config"]):
        rc, out, err = srv.run_cli(cmd, timeout=10)
        assert rc != 0, (cmd, out)
        assert lines_naming(err, "SECRET_KEY"), err
        assert re.search(r"\bRSA_PRIVATE_KEY(_PATH|_CONTENT)?\b", "\n".join(error_lines(err))), err
        assert_every_error_line_names_a_variable(err)


def test_production_with_short_secret_key_refuses(server_factory):
    srv = server_factory(start=False, env={"ENVIRONMENT": "production",
                                           "PASSWORD_BCRYPT_ROUNDS": "12",
                                           "SECRET_KEY": "x" * 31})
    rc, out, err = srv.run_cli(["check-config"])
    assert rc != 0
    assert lines_naming(err, "SECRET_KEY"), err


@pytest.mark.parametrize("var,value", [
    ("DEBUG", "true"),
    ("CORS_ORIGINS", "*"),
    ("PASSWORD_BCRYPT_ROUNDS", "9"),
])
def test_production_refuses_unsafe_settings(server_factory, var, value):
    srv = server_factory(start=False, env={"ENVIRONMENT": "production",
                                           "PASSWORD_BCRYPT_ROUNDS": "12",
                                           "SECRET_KEY": SECRET_40})
    rc, out, err = srv.run_cli(["check-config"])
    assert rc == 0, f"the safe baseline must pass first:\n{err}"
    rc, out, err = srv.run_cli(["check-config"], {var: value})
    assert rc != 0, out
    assert lines_naming(err, var), err


def test_failing_check_config_prints_no_secret(server_factory):
    secrets = {"SECRET_KEY": "short-secret-value", "SMTP_PASSWORD": "hunter2-secret",
               "DATABASE_URL": "postgresql://user:dbpass-secret-9@db.example.com/auth"}
    srv = server_factory(start=False, write_key=False,
                         env=dict(secrets, ENVIRONMENT="production", PASSWORD_BCRYPT_ROUNDS="12",
                                  SMTP_HOST="smtp.example.com", SMTP_USER="mailer"))
    rc, out, err = srv.run_cli(["check-config"])
    assert rc != 0
    for leaked in ("short-secret-value", "hunter2-secret", "dbpass-secret-9"):
        assert leaked not in out + err, f"{leaked!r} printed"


def test_successful_check_config_prints_no_secret(server_factory):
    srv = server_factory(start=False, env={"SECRET_KEY": SECRET_40,
                                           "SMTP_PASSWORD": "hunter2-secret",
                                           "SMTP_HOST": "smtp.example.com", "SMTP_USER": "mailer"})
    rc, out, err = srv.run_cli(["check-config"])
    assert rc == 0, err
    assert "SMTP_PASSWORD" in out       # listed, but redacted
    for leaked in (SECRET_40, "hunter2-secret"):
        assert leaked not in out + err


# ---- the seed .env files ----

def test_development_seed_as_dotenv(run_auth, empty_dir):
    shutil.copy(FIXTURES / "env.development", empty_dir / ".env")
    rc, out, err = run_auth(["check-config"], cwd=empty_dir)
    assert rc == 0, err
    assert re.search(r"^APP_NAME=Auth Service$", out, re.M), out
    assert re.search(r"^ENVIRONMENT=development$", out, re.M), out
    assert re.search(r"^PORT=8000$", out, re.M), out
    assert "your-app-password" not in out + err
    assert "user:password@" not in out + err


def test_development_seed_through_env_file(run_auth, empty_dir, tmp_path):
    conf = tmp_path / "conf"
    conf.mkdir()
    shutil.copy(FIXTURES / "env.development", conf / "settings.env")
    rc, out, err = run_auth(["check-config"], env={"ENV_FILE": str(conf / "settings.env")},
                            cwd=empty_dir)
    assert rc == 0, err
    assert re.search(r"^APP_NAME=Auth Service$", out, re.M), out
    assert "your-app-password" not in out + err


def test_env_file_wins_over_cwd_dotenv(run_auth, empty_dir, tmp_path):
    (empty_dir / ".env").write_text("APP_NAME=From Cwd\n")
    other = tmp_path / "other.env"
    other.write_text("APP_NAME=From Env File\n")
    rc, out, err = run_auth(["check-config"], env={"ENV_FILE": str(other)}, cwd=empty_dir)
    assert rc == 0, err
    assert re.search(r"^APP_NAME=From Env File$", out, re.M), out


def test_production_seed_as_written_is_refused(run_auth, empty_dir):
    shutil.copy(FIXTURES / "env.production", empty_dir / ".env")
    rc, out, err = run_auth(["check-config"], cwd=empty_dir)
    assert rc != 0, out
    assert lines_naming(err, "SECRET_KEY"), err
    assert lines_naming(err, "RSA_PRIVATE_KEY_CONTENT"), err
    assert_every_error_line_names_a_variable(err)
    assert "sendgrid-api-key" not in out + err


def test_production_seed_with_secrets_filled_in_passes(run_auth, empty_dir, rsa_private_pem_b64):
    shutil.copy(FIXTURES / "env.production", empty_dir / ".env")
    rc, out, err = run_auth(["check-config"], cwd=empty_dir,
                            env={"SECRET_KEY": SECRET_40,
                                 "RSA_PRIVATE_KEY_CONTENT": rsa_private_pem_b64})
    assert rc == 0, err
    assert re.search(r"^ENVIRONMENT=production$", out, re.M), out
    assert re.search(r"^PORT=3000$", out, re.M), out
    for leaked in (SECRET_40, rsa_private_pem_b64[:40], "sendgrid-api-key", "user:password@"):
        assert leaked not in out + err


@pytest.mark.parametrize("content", ["base64-encoded-private-key",        # the seed's placeholder
                                     "bm90IGEgcGVtIGtleQ=="])              # base64, but not a PEM
def test_invalid_rsa_private_key_content_is_a_config_error(run_auth, empty_dir, content):
    shutil.copy(FIXTURES / "env.production", empty_dir / ".env")
    rc, out, err = run_auth(["check-config"], cwd=empty_dir,
                            env={"SECRET_KEY": SECRET_40, "RSA_PRIVATE_KEY_CONTENT": content})
    assert rc != 0, out
    assert lines_naming(err, "RSA_PRIVATE_KEY_CONTENT"), err
    assert_every_error_line_names_a_variable(err)


def test_invalid_rsa_private_key_content_stops_serve(server_factory):
    srv = server_factory(start=False, write_key=False,
                         env={"RSA_PRIVATE_KEY_CONTENT": "base64-encoded-private-key"})
    rc, out, err = srv.run_cli(["serve"], timeout=15)
    assert rc != 0
    assert "RSA_PRIVATE_KEY_CONTENT" in out + err, out + err


def test_environment_wins_over_dotenv(run_auth, empty_dir):
    shutil.copy(FIXTURES / "env.development", empty_dir / ".env")
    rc, out, err = run_auth(["check-config"], env={"PORT": "9999"}, cwd=empty_dir)
    assert rc == 0, err
    assert re.search(r"^PORT=9999$", out, re.M), out
    assert not re.search(r"^PORT=8000$", out, re.M), out


def test_dotenv_quotes_export_and_comments(run_auth, empty_dir):
    (empty_dir / ".env").write_text(
        "# comment line\n"
        "\n"
        'export APP_NAME="Quoted Name"\n'
        "APP_VERSION='2.3.4'\n"
        "ENVIRONMENT=test\n"
        "PORT=8123 # trailing comment\n"
        "DATABASE_URL=sqlite:///./x.db\n"
    )
    rc, out, err = run_auth(["check-config"], cwd=empty_dir)
    assert rc == 0, err
    assert re.search(r"^APP_NAME=Quoted Name$", out, re.M), out
    assert re.search(r"^APP_VERSION=2\.3\.4$", out, re.M), out
    assert re.search(r"^PORT=8123$", out, re.M), out


def test_malformed_dotenv_line_is_reported(run_auth, empty_dir):
    (empty_dir / ".env").write_text("APP_NAME=ok\nthis line has no equals sign\n")
    rc, out, err = run_auth(["check-config"], cwd=empty_dir)
    assert rc != 0, out
    assert re.search(r"\b2\b", err), f"the bad line number is not reported:\n{err}"


def test_serve_reads_dotenv_in_its_working_directory(server_factory):
    srv = server_factory(env={"APP_VERSION": None},
                         files={".env": 'export APP_VERSION="7.7.7"\nAPP_NAME=Dotenv App\n'})
    r = requests.get(srv.url("/api/v1/health"))
    assert r.json() == {"status": "ok", "version": "7.7.7"}


# ---- CLI ----

@pytest.mark.parametrize("args", [["--help"], ["-h"], ["migrate", "--help"],
                                  ["check-config", "--help"], ["serve", "--help"]])
def test_help_exits_0_with_usage_on_stdout(run_auth, empty_dir, args):
    rc, out, err = run_auth(args, cwd=empty_dir)
    assert rc == 0
    assert "usage" in out.lower()
    for sub in ("serve", "migrate", "check-config", "healthcheck"):
        assert sub in out


@pytest.mark.parametrize("flag", ["--version", "-V"])
def test_version(run_auth, empty_dir, flag):
    rc, out, err = run_auth([flag], cwd=empty_dir)
    assert rc == 0
    assert re.search(r"\d+\.\d+\.\d+", out), out


@pytest.mark.parametrize("args", [["frobnicate"], ["--nope"], ["serve", "--nope"],
                                  ["check-config", "extra"]])
def test_unknown_command_or_flag_exits_2_with_usage_on_stderr(run_auth, empty_dir, args):
    rc, out, err = run_auth(args, cwd=empty_dir, timeout=10)
    assert rc == 2, (out, err)
    assert "usage" in err.lower()


def test_healthcheck_against_a_running_server(server):
    rc, out, err = server.run_cli(["healthcheck"])
    assert rc == 0, err
    rc, out, err = server.run_cli(["healthcheck", "--url", server.url("/api/v1/health")])
    assert rc == 0, err
    rc, out, err = server.run_cli(["healthcheck", "--url", server.url("/api/v1/nope")])
    assert rc != 0
    assert server.stop() == 0
    rc, out, err = server.run_cli(["healthcheck"])
    assert rc != 0
