"""Day-one administration: create users, change their roles, disable and re-enable them, over
the admin API and the CLI; and an inbox that says which roles it was selected by (issue 7,
item 7)."""

from __future__ import annotations

import subprocess
import sys
import time

import httpx

from conftest import Api, Server


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def test_admin_creates_a_user_and_sees_the_token_once(api: Api) -> None:
    created = api.client.post(
        "/v1/users", headers=api.admin, json={"name": "lin", "roles": ["clerk", "handler"]}
    )
    assert created.status_code == 201, created.text
    body = created.json()
    assert set(body) == {"name", "roles", "disabled", "created_at", "token"}
    assert (body["name"], body["roles"], body["disabled"]) == ("lin", ["clerk", "handler"], False)
    me = api.client.get("/v1/me", headers=_bearer(body["token"])).json()
    assert me == {"name": "lin", "roles": ["clerk", "handler"]}

    listed = api.client.get("/v1/users", headers=api.admin)
    assert listed.status_code == 200
    assert [u["name"] for u in listed.json()] == ["admin", "lin"]
    assert all(set(u) == {"name", "roles", "disabled", "created_at"} for u in listed.json())
    assert "token" not in api.client.get("/v1/users/lin", headers=api.admin).text

    again = api.client.post("/v1/users", headers=api.admin, json={"name": "lin", "roles": []})
    assert again.status_code == 409
    bad = api.client.post("/v1/users", headers=api.admin, json={"name": "x", "roles": ["a b"]})
    assert bad.status_code == 422


def test_only_administrators_manage_users(api: Api) -> None:
    clerk = api.user("clerk,monitor,designer", "clerk1")
    for method, url, body in [
        ("GET", "/v1/users", None),
        ("POST", "/v1/users", {"name": "x", "roles": ["admin"]}),
        ("GET", "/v1/users/clerk1", None),
        ("PATCH", "/v1/users/clerk1", {"roles": ["admin"]}),
        ("POST", "/v1/users/clerk1/token", None),
    ]:
        response = api.client.request(method, url, headers=clerk, json=body)
        assert response.status_code == 403, (method, url, response.text)
        assert "admin" in response.json()["detail"]
        assert api.client.request(method, url, json=body).status_code == 401
    assert api.client.get("/v1/me", headers=clerk).json()["roles"] == [
        "clerk",
        "designer",
        "monitor",
    ]


def test_roles_change_and_disabling_take_effect_at_once(api: Api) -> None:
    token = api.client.post(
        "/v1/users", headers=api.admin, json={"name": "wang", "roles": ["clerk"]}
    ).json()["token"]
    wang = _bearer(token)
    assert api.client.get("/v1/me", headers=wang).json()["roles"] == ["clerk"]  # now cached

    changed = api.client.patch(
        "/v1/users/wang", headers=api.admin, json={"roles": ["clerk", "department-head"]}
    )
    assert changed.status_code == 200, changed.text
    assert changed.json()["roles"] == ["clerk", "department-head"]
    assert api.client.get("/v1/me", headers=wang).json()["roles"] == ["clerk", "department-head"]

    disabled = api.client.patch("/v1/users/wang", headers=api.admin, json={"disabled": True})
    assert disabled.json()["disabled"] is True
    refused = api.client.get("/v1/me", headers=wang)
    assert refused.status_code == 401
    assert api.client.get("/v1/tasks", headers=wang).status_code == 401

    enabled = api.client.patch("/v1/users/wang", headers=api.admin, json={"disabled": False})
    assert enabled.json() | {"created_at": None} == {
        "name": "wang",
        "roles": ["clerk", "department-head"],
        "disabled": False,
        "created_at": None,
    }
    assert api.client.get("/v1/me", headers=wang).status_code == 200

    rotated = api.client.post("/v1/users/wang/token", headers=api.admin)
    assert rotated.status_code == 200
    assert api.client.get("/v1/me", headers=wang).status_code == 401
    assert api.client.get("/v1/me", headers=_bearer(rotated.json()["token"])).status_code == 200

    missing = api.client.patch("/v1/users/nobody", headers=api.admin, json={"disabled": True})
    assert missing.status_code == 404


def test_the_last_active_administrator_cannot_be_removed(api: Api) -> None:
    for body in ({"disabled": True}, {"roles": ["clerk"]}):
        refused = api.client.patch("/v1/users/admin", headers=api.admin, json=body)
        assert refused.status_code == 409, refused.text
        assert "no active administrator" in refused.json()["detail"]
    assert api.client.get("/v1/me", headers=api.admin).json()["roles"] == ["admin"]
    api.client.post("/v1/users", headers=api.admin, json={"name": "root2", "roles": ["admin"]})
    assert (
        api.client.patch("/v1/users/admin", headers=api.admin, json={"roles": ["clerk"]})
    ).status_code == 200


def test_an_empty_inbox_says_which_roles_the_caller_holds(api: Api) -> None:
    api.deploy("three_tasks.bpmn")
    outsider = api.user("clerk,applicant", "lin")
    empty = api.client.get("/v1/tasks?state=ready", headers=outsider).json()
    assert empty["items"] == []
    assert empty["caller_roles"] == ["applicant", "clerk"]
    assert "Your roles are: applicant, clerk" in empty["hint"]

    office = api.user("clerk,clerk-office")
    api.client.post("/v1/instances", headers=office, json={"definition_key": "three_tasks"})
    full = api.client.get("/v1/tasks?state=ready", headers=office).json()
    assert len(full["items"]) == 1
    assert full["caller_roles"] == ["clerk", "clerk-office"]
    assert full["hint"] is None


def _cli(server: Server, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "powerflow", "users", *args, "--database-url", server.db_url],
        capture_output=True,
        text=True,
        timeout=60,
    )


def _status_within(url: str, headers: dict[str, str], status: int, seconds: float) -> int:
    """Poll /v1/me until it answers ``status`` (the server caches a token up to 5 s)."""
    deadline = time.monotonic() + seconds
    while True:
        answer = httpx.get(f"{url}/v1/me", headers=headers, timeout=5).status_code
        if answer == status or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def test_cli_changes_roles_disables_and_enables_a_user(server: Server) -> None:
    headers = server.user("clerk", "zhao")
    assert httpx.get(f"{server.url}/v1/me", headers=headers).status_code == 200

    roles = _cli(server, "roles", "zhao", "--roles", "clerk,cashier")
    assert roles.returncode == 0, roles.stderr
    assert roles.stdout.strip() == "zhao\tclerk,cashier"
    deadline = time.monotonic() + 10
    while httpx.get(f"{server.url}/v1/me", headers=headers).json()["roles"] != [
        "cashier",
        "clerk",
    ]:
        assert time.monotonic() < deadline, "the new roles did not take effect within 10 s"
        time.sleep(0.2)

    disabled = _cli(server, "disable", "zhao")
    assert disabled.returncode == 0, disabled.stderr
    assert disabled.stdout.strip() == "zhao\tclerk,cashier\t(disabled)"
    assert _status_within(server.url, headers, 401, 10) == 401
    assert "zhao\tclerk,cashier\t(disabled)" in _cli(server, "list").stdout

    enabled = _cli(server, "enable", "zhao")
    assert enabled.returncode == 0, enabled.stderr
    assert _status_within(server.url, headers, 200, 10) == 200

    unknown = _cli(server, "disable", "nobody")
    assert unknown.returncode == 1
    assert unknown.stderr.strip() == "There is no user named 'nobody'."
