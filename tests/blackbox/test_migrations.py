"""`migrate up|down N|status`, schema checks by `serve`, data kept across restarts."""

import os
import re

import pytest
import requests

from conftest import db_tables, expected_redis_check

SECRET_40 = "staging-secret-" + "z" * 25


def parse_status(out):
    """{version: "applied"|"pending"} from `migrate status` output."""
    states = {}
    for line in out.splitlines():
        m = re.match(r"^\s*(\d+)\b.*?\b(applied|pending)\b", line, re.I)
        if m:
            states[int(m.group(1))] = m.group(2).lower()
    return states


def status(srv):
    rc, out, err = srv.run_cli(["migrate", "status"])
    assert rc == 0, err
    states = parse_status(out)
    assert states, f"no migration listed by `migrate status`:\n{out}"
    return states, out


@pytest.fixture
def fresh(server_factory):
    """Environment of a server whose database has never been touched."""
    return server_factory(start=False)


def test_status_on_fresh_database_lists_0001_pending(fresh):
    states, out = status(fresh)
    assert states.get(1) == "pending", out
    assert re.search(r"^\s*0001\b", out, re.M), f"versions are not shown as 0001:\n{out}"
    assert set(states.values()) == {"pending"}, out


def test_up_applies_then_status_shows_applied_and_up_is_idempotent(fresh):
    rc, out, err = fresh.run_cli(["migrate", "up"])
    assert rc == 0, err
    states, out = status(fresh)
    assert set(states.values()) == {"applied"}, out
    rc, out, err = fresh.run_cli(["migrate", "up"])
    assert rc == 0, err
    assert status(fresh)[0] == states


def test_first_migration_creates_the_schema(fresh):
    status(fresh)
    before = db_tables(fresh.env["DATABASE_URL"])
    rc, out, err = fresh.run_cli(["migrate", "up"])
    assert rc == 0, err
    after = db_tables(fresh.env["DATABASE_URL"])
    assert "schema_migrations" in after
    created = after - before
    # users, sessions, refresh tokens, one-time tokens, outbox, audit (SPEC 3)
    assert len(created) >= 6, sorted(after)
    for word in ("user", "session", "refresh", "outbox", "audit"):
        assert any(word in t for t in created), (word, sorted(created))


def test_down_rolls_back_and_up_works_again(fresh):
    assert fresh.run_cli(["migrate", "status"])[0] == 0
    url = fresh.env["DATABASE_URL"]
    tables_fresh = db_tables(url)
    assert fresh.run_cli(["migrate", "up"])[0] == 0
    applied, _ = status(fresh)
    latest = max(applied)

    rc, out, err = fresh.run_cli(["migrate", "down", "1"])
    assert rc == 0, err
    states, out = status(fresh)
    assert states[latest] == "pending", out
    assert all(v == "applied" for k, v in states.items() if k != latest), out
    if latest == 1:
        # Only the bookkeeping table may outlive the rollback of the first migration.
        assert db_tables(url) - {"schema_migrations"} == tables_fresh - {"schema_migrations"}, \
            "down 1 did not undo the whole schema"

    rc, out, err = fresh.run_cli(["migrate", "up"])
    assert rc == 0, err
    assert set(status(fresh)[0].values()) == {"applied"}


@pytest.mark.parametrize("args", [
    ["migrate", "down", "0"],
    ["migrate", "down", "x"],
    ["migrate", "down", "-1"],
    ["migrate", "down"],
    ["migrate", "down", "1", "2"],
    ["migrate", "sideways"],
    ["migrate", "status", "extra"],
])
def test_bad_migrate_arguments_exit_2(fresh, args):
    rc, out, err = fresh.run_cli(args)
    assert rc == 2, (out, err)
    assert "usage" in err.lower()


def test_bad_arguments_change_nothing(fresh):
    assert fresh.run_cli(["migrate", "up"])[0] == 0
    before, _ = status(fresh)
    assert fresh.run_cli(["migrate", "down", "0"])[0] == 2
    assert status(fresh)[0] == before


def test_serve_migrates_automatically_in_test_environment(fresh):
    assert set(status(fresh)[0].values()) == {"pending"}
    fresh.start()
    r = requests.get(fresh.url("/api/v1/ready"))
    assert r.status_code == 200, r.text
    assert set(status(fresh)[0].values()) == {"applied"}


def test_staging_refuses_an_unmigrated_database_until_migrate_up(server_factory):
    srv = server_factory(start=False, env={"ENVIRONMENT": "staging", "SECRET_KEY": SECRET_40,
                                           "PASSWORD_BCRYPT_ROUNDS": "12"})
    rc, out, err = srv.run_cli(["serve"], timeout=15)
    assert rc != 0
    assert "auth-service migrate up" in out + err, out + err
    assert set(status(srv)[0].values()) == {"pending"}, "a refused serve must not migrate"

    rc, out, err = srv.run_cli(["migrate", "up"])
    assert rc == 0, err
    srv.start()
    r = requests.get(srv.url("/api/v1/ready"))
    assert r.status_code == 200, r.text
    assert r.json() == {"status": "ready",
                        "checks": {"database": "ok", "redis": expected_redis_check()}}


def test_staging_refuses_after_a_rollback(server_factory):
    srv = server_factory(start=False, env={"ENVIRONMENT": "staging", "SECRET_KEY": SECRET_40,
                                           "PASSWORD_BCRYPT_ROUNDS": "12"})
    assert srv.run_cli(["migrate", "up"])[0] == 0
    assert srv.run_cli(["migrate", "down", "1"])[0] == 0
    rc, out, err = srv.run_cli(["serve"], timeout=15)
    assert rc != 0
    assert "auth-service migrate up" in out + err


def test_data_kept_across_restart(server_factory):
    srv = server_factory()
    assert requests.get(srv.url("/api/v1/ready")).status_code == 200
    assert srv.stop() == 0
    states, before = status(srv)
    assert set(states.values()) == {"applied"}, before
    if srv.env["DATABASE_URL"].startswith("sqlite:"):
        assert os.path.exists(srv.env["DATABASE_URL"][len("sqlite:///"):])

    srv.start()
    r = requests.get(srv.url("/api/v1/ready"))
    assert r.status_code == 200, r.text
    assert srv.stop() == 0
    _, after = status(srv)
    assert after == before, "restart re-applied or changed migrations"


def test_serve_after_rollback_in_test_environment_remigrates(server_factory):
    srv = server_factory()
    assert srv.stop() == 0
    assert srv.run_cli(["migrate", "down", "1"])[0] == 0
    assert "pending" in status(srv)[0].values()
    srv.start()
    assert requests.get(srv.url("/api/v1/ready")).status_code == 200
    assert set(status(srv)[0].values()) == {"applied"}
