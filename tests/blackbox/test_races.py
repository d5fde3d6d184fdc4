"""Writes that touch only what they change (issue 12): two requests racing on
one user row must not undo each other.

- A login that upgrades a bcrypt hash (cost 4 -> the configured cost, a
  bcrypt run of tens of milliseconds between reading the user and writing
  the hash) races an admin disabling that user: the account stays disabled.
- PATCH /users/me racing a password change: the new password stays (a
  whole-row write of the record read during authentication would put the
  old hash back) and the name is one of the names sent.

Each case is repeated on fresh users: with whole-row writes most rounds lose
the update; with column-scoped writes none may.
"""

import threading

import bcrypt
import pytest

from helpers import (PASSWORD, Api, assert_token_response, bearer, create_admin_cli, insert_user,
                     new_user, unique_email, user_row)
from helpers import _module_servers_in_reports, module_server_factory  # noqa: F401 (fixtures)

ROUNDS = 10  # the service's cost: the re-hash at login takes tens of milliseconds


@pytest.fixture(scope="module")
def srv(module_server_factory):
    return module_server_factory({"PASSWORD_BCRYPT_ROUNDS": str(ROUNDS)})


@pytest.fixture(scope="module")
def admin_headers(srv):
    email = unique_email("admin")
    create_admin_cli(srv, email, PASSWORD)
    tokens = assert_token_response(Api(srv).login(email, PASSWORD, expect=None))
    return bearer(tokens["access_token"])


def run_both(first, second):
    """Start first in a thread, run second here, wait for first; both results."""
    out = {}
    t = threading.Thread(target=lambda: out.setdefault("first", first()))
    t.start()
    second_result = second()
    t.join(timeout=60)
    assert not t.is_alive(), "request did not finish"
    return out["first"], second_result


def test_login_rehash_does_not_undo_an_admin_disable(srv, admin_headers):
    url = srv.env["DATABASE_URL"]
    lost = []
    for i in range(6):
        email = unique_email("rehash")
        weak = bcrypt.hashpw(PASSWORD.encode(), bcrypt.gensalt(4)).decode()
        uid = insert_user(url, email, weak, is_verified=True)
        login_api, admin_api = Api(srv), Api(srv)
        login_api.get("/api/v1/health")  # open both keep-alive connections first
        admin_api.get("/api/v1/health")
        login, patch = run_both(
            lambda: login_api.post("/api/v1/auth/login",
                                   json={"email": email, "password": PASSWORD}),
            lambda: admin_api.patch(f"/api/v1/admin/users/{uid}", json={"is_active": False},
                                    headers=admin_headers))
        assert login.status_code in (200, 403), login.text
        assert patch.status_code == 200 and patch.json()["is_active"] is False, patch.text
        row = user_row(url, uid)  # id, email, password_hash, is_active, roles
        if row[3] not in ("0", "f", "false"):
            lost.append(i)
        # Whatever the order, the account is disabled for every later request.
        after = admin_api.get(f"/api/v1/admin/users/{uid}", headers=admin_headers).json()
        assert after["is_active"] is False
        assert Api(srv).login(email, PASSWORD, expect=None).status_code == 403
        if login.status_code == 200:
            assert Api(srv).me(login.json()["access_token"]).status_code == 401
    assert lost == [], f"admin disable undone by a concurrent login in rounds {lost}"


def test_patch_me_does_not_undo_a_password_change(srv):
    api = Api(srv)
    for i in range(4):
        acct = new_user(api, prefix="race")
        new_password = f"{PASSWORD}-new-{i}"
        stop = threading.Event()
        names = []

        def hammer(n):
            a = Api(srv)
            k = 0
            while not stop.is_set() and k < 200:
                name = f"name {n}-{k}"
                r = a.patch("/api/v1/users/me", json={"full_name": name}, headers=acct.headers)
                if r.status_code != 200:
                    break  # the change revoked nothing of this session; stop anyway
                names.append(name)
                k += 1

        threads = [threading.Thread(target=hammer, args=(n,)) for n in range(3)]
        for t in threads:
            t.start()
        change = Api(srv).post("/api/v1/auth/password/change",
                               json={"current_password": PASSWORD, "new_password": new_password},
                               headers=acct.headers)
        stop.set()
        for t in threads:
            t.join(timeout=60)
        assert change.status_code == 204, change.text
        assert names, "no PATCH ran"
        # The new password works and the old one does not, whatever PATCH did.
        assert api.login(acct.email, new_password, expect=None).status_code == 200, \
            f"round {i}: the new password was lost"
        assert api.login(acct.email, PASSWORD, expect=None).status_code == 401
        me = api.me(api.tokens(acct.email, new_password)["access_token"]).json()
        assert me["full_name"] in names


def test_refresh_racing_logout_is_never_a_server_error(srv):
    """A refresh whose session a concurrent logout revokes mid-rotation is
    an invalid refresh token (401), never a 500."""
    api = Api(srv)
    statuses = []
    for _ in range(20):
        acct = new_user(api, prefix="rlo")
        a, b = Api(srv), Api(srv)
        a.get("/api/v1/health")
        b.get("/api/v1/health")
        refresh, logout = run_both(
            lambda: a.refresh(acct.refresh),
            lambda: b.post("/api/v1/auth/logout", json={"refresh_token": acct.refresh},
                           headers=acct.headers))
        assert logout.status_code == 204, logout.text
        assert refresh.status_code in (200, 401), refresh.text
        statuses.append(refresh.status_code)
        # Whatever won, the session is gone: a successor token does not refresh.
        if refresh.status_code == 200:
            again = Api(srv).refresh(refresh.json()["refresh_token"])
            assert again.status_code == 401, again.text
