"""Who sees a case: every route of the application against the matrix written in
docs/security.md, with every kind of caller, on a running server (SQLite and PostgreSQL); and the
visibility rule's edges (a future task's role holder, lists, machine actors)."""

from __future__ import annotations

import json
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx
import pytest
from fastapi.routing import iter_route_contexts
from sqlalchemy import event, update

from conftest import (
    ADMIN_TOKEN,
    DATA,
    ROOT,
    Api,
    Server,
    make_settings,
    start_server,
    stop_server,
)
from powerflow.app import create_app
from powerflow.db import queries
from powerflow.db.engine import Store
from powerflow.db.models import User
from powerflow.services import auth
from powerflow.services.errors import InvalidInput
from powerflow.services.events import event_rows
from powerflow.services.power.alerts import AlertSpec, open_alert

SECURITY_DOC = ROOT / "docs" / "security.md"
CALLERS = (
    "anonymous",
    "bogus token",
    "unrelated clerk",
    "starter",
    "role holder",
    "actor",
    "monitor",
    "auditor",
    "designer",
    "admin",
)
CELLS = {"✓", "hidden", "401", "403", "404"}
PROCESS = "case_file"


def read_matrix(path: Path = SECURITY_DOC) -> dict[str, dict[str, str]]:
    """The route matrix of docs/security.md: route key ("GET /v1/...") -> caller -> cell."""
    text = path.read_text()
    section = text[text.index("### The route matrix") :]
    rows = []
    for line in section.splitlines():
        if line.startswith("|"):
            rows.append(line)
        elif rows:  # the table ended
            break
    header = [c.strip() for c in rows[0].strip("|").split("|")]
    assert tuple(header[1:]) == CALLERS, header
    matrix: dict[str, dict[str, str]] = {}
    for line in rows[2:]:
        cells = [c.strip() for c in line.strip("|").split("|")]
        route = cells[0].strip("`")
        assert route not in matrix, f"{route} appears twice in the matrix"
        assert set(cells[1:]) <= CELLS, (route, cells)
        matrix[route] = dict(zip(CALLERS, cells[1:], strict=True))
    return matrix


def app_routes() -> list[str]:
    """Every route of the application as "METHOD path" (HEAD answered by GET left out)."""
    app = create_app(make_settings("sqlite://"), run_workers=False)
    keys = []
    for route in iter_route_contexts(app.routes):
        for method in sorted(route.methods or {"*"}):
            if method != "HEAD":
                keys.append(f"{method} {route.path}")
    return keys


def test_every_route_of_the_app_is_in_the_matrix_and_has_a_probe() -> None:
    matrix = read_matrix()
    routes = app_routes()
    missing = [r for r in routes if r not in matrix]
    assert not missing, f"add these routes to the matrix in docs/security.md: {missing}"
    stale = [r for r in matrix if r not in routes]
    assert not stale, f"the matrix in docs/security.md names routes the app lacks: {stale}"
    unprobed = [r for r in routes if r not in PROBES]
    assert not unprobed, f"add a probe to tests/test_visibility.py for: {unprobed}"


@dataclass
class Case:
    """An instance with Prepare done by ``actor`` and Review ready for the role holder."""

    instance_id: str
    business_key: str
    review_task_id: str
    actor: dict[str, str]
    alert_id: int = 0
    case_id: int = 0  # a supervision case on it, with a correction demanded of ``reviewer``
    correction_id: int = 0


@dataclass
class World:
    """A running server, a store on its database, the callers and the main case."""

    server: Server
    store: Store
    client: httpx.Client
    users: dict[str, dict[str, str]] = field(default_factory=dict)
    main: Case | None = None
    webhook_id: int = 0
    external_task_id: str = ""

    def user(self, roles: str, name: str | None = None) -> dict[str, str]:
        token = auth.add_user(self.store, name or f"u{uuid.uuid4().hex[:8]}", roles)
        return {"Authorization": f"Bearer {token}"}

    def h(self, caller: str, case: Case) -> dict[str, str]:
        """The Authorization header of a kind of caller (the actor is the case's own)."""
        if caller == "actor":
            return case.actor
        return self.users[caller]

    def request(self, method: str, url: str, **kwargs: object) -> httpx.Response:
        return self.client.request(method, url, **kwargs)  # type: ignore[arg-type]

    def new_case(self) -> Case:
        """Start an instance as the starter; a fresh actor completes Prepare, then loses the
        role ``preparer`` (moved to another office)."""
        key = f"case-{uuid.uuid4().hex[:10]}"
        started = self.client.post(
            "/v1/instances",
            headers=self.users["starter"],
            json={"definition_key": PROCESS, "business_key": key, "variables": {"amount": 10}},
        )
        assert started.status_code == 201, started.text
        body = started.json()
        name = f"actor-{uuid.uuid4().hex[:8]}"
        actor = self.user("clerk,preparer", name)
        done = self.client.post(
            f"/v1/tasks/{body['tasks'][0]['id']}/complete",
            headers=actor,
            json={"data": {"note": "prepared"}},
        )
        assert done.status_code == 200, done.text
        [review] = [t for t in done.json()["tasks"] if t["element_id"] == "review"]
        with self.store.write() as session:
            session.execute(update(User).where(User.name == name).values(roles=["clerk"]))
        token = auth.rotate_token(self.store, name)  # a fresh token: the server reads new roles
        alert_id = self.new_alert(body["id"], review["id"])
        case_id, correction_id = self.new_supervision_case(body["id"])
        header = {"Authorization": f"Bearer {token}"}
        return Case(body["id"], key, review["id"], header, alert_id, case_id, correction_id)

    def new_supervision_case(self, instance_id: str) -> tuple[int, int]:
        """A monitor's supervision case on the instance, demanding a correction of the
        reviewers (the role holder is its addressee)."""
        monitor = self.users["monitor"]
        opened = self.client.post(
            "/v1/cases",
            headers=monitor,
            json={"instance_id": instance_id, "title": "Probe case", "reason": "probe"},
        )
        assert opened.status_code == 201, opened.text
        case_id = int(opened.json()["id"])
        demanded = self.client.post(
            f"/v1/cases/{case_id}/corrections",
            headers=monitor,
            json={"demand": "Explain the delay.", "to_role": "reviewer"},
        )
        assert demanded.status_code == 201, demanded.text
        return case_id, int(demanded.json()["corrections"][0]["id"])

    def new_alert(self, instance_id: str, task_id: str) -> int:
        """A yellow alert on the case's Review task, raised as the alert loop raises one."""
        spec = AlertSpec(
            level="yellow",
            source="time_limit",
            reason="step_limit_passed",
            message="Task 'Review the file' passed its time limit.",
            dedupe_key=f"probe:{instance_id}",
            task_id=task_id,
            element_id="review",
            roles=["reviewer"],
        )
        now = self.store.now()
        with self.store.begin(write=True) as conn:
            instance = queries.load_instance(conn, instance_id, lock=True)
            assert instance is not None
            event = open_alert(conn, instance, spec, at=now)
            assert event is not None
            rows = event_rows(instance, [event], actor="system", at=now, conn=conn)
            assert queries.save_instance(conn, instance)
            queries.insert_events(conn, rows)
        return int(event.payload["alert_id"])  # type: ignore[arg-type]

    def external_task(self) -> str:
        """An open external task (tests/data/external_payment.bpmn), made once."""
        if not self.external_task_id:
            deployed = self.client.post(
                "/v1/definitions",
                headers=self.users["designer"],
                files={"file": ("ext.bpmn", (DATA / "external_payment.bpmn").read_bytes())},
            )
            assert deployed.status_code in (200, 201), deployed.text
            admin = self.users["admin"]
            started = self.client.post(
                "/v1/instances",
                headers=admin,
                json={"definition_key": "external_payment", "variables": {"amount": 1}},
            )
            assert started.status_code == 201, started.text
            listed = self.client.get(
                f"/v1/external-tasks?instance_id={started.json()['id']}", headers=admin
            )
            self.external_task_id = listed.json()["items"][0]["id"]
        return self.external_task_id

    def version(self, case: Case) -> int:
        got = self.client.get(f"/v1/instances/{case.instance_id}", headers=self.users["admin"])
        return int(got.json()["version"])

    def new_webhook(self) -> int:
        created = self.client.post(
            "/v1/webhooks",
            headers=self.users["admin"],
            json={"url": "https://hooks.example.com/powerflow", "types": "instance.started"},
        )
        assert created.status_code == 201, created.text
        return int(created.json()["id"])


def judged(response: httpx.Response, ok: tuple[int, ...] = (200,)) -> str:
    """The cell a single-resource answer stands for."""
    if response.status_code in ok:
        return "✓"
    if response.status_code in (401, 403, 404):
        return str(response.status_code)
    return f"unexpected {response.status_code}: {response.text[:300]}"


def listed(response: httpx.Response, present: bool) -> str:
    """The cell a list answer stands for."""
    if response.status_code != 200:
        return judged(response)
    return "✓" if present else "hidden"


@dataclass(frozen=True)
class Probe:
    """How to try a route as a caller on a case, and what the answer means."""

    call: Callable[[World, str, Case], str]
    fresh: bool = False  # changes the case: tried on a fresh instance per caller
    setup: Callable[[World, Case], None] | None = None
    body: dict | None = None


def _get(path: Callable[[Case], str], ok: tuple[int, ...] = (200,)) -> Probe:
    return Probe(lambda w, c, case: judged(w.request("GET", path(case), headers=w.h(c, case)), ok))


def _stream(path: Callable[[Case], str]) -> Probe:
    def call(w: World, caller: str, case: Case) -> str:
        headers = {**w.h(caller, case), "Accept": "text/event-stream"}
        with w.client.stream("GET", path(case), headers=headers, timeout=15) as response:
            if response.status_code != 200:
                response.read()
                return judged(response)
            for line in response.iter_lines():  # the case's first event arrives
                if line.startswith("data:"):
                    data = json.loads(line.removeprefix("data:"))
                    return "✓" if data["instance_id"] == case.instance_id else f"wrong {data}"
        return "stream ended without an event"

    return Probe(call)


def _post(
    path: Callable[[Case], str],
    body: dict | None = None,
    *,
    ok: tuple[int, ...] = (200,),
    setup: Callable[[World, Case], None] | None = None,
) -> Probe:
    def call(w: World, caller: str, case: Case) -> str:
        return judged(w.request("POST", path(case), headers=w.h(caller, case), json=body), ok)

    return Probe(call, fresh=True, setup=setup, body=body)


def _instances_list(w: World, caller: str, case: Case) -> str:
    got = w.request(
        "GET", f"/v1/instances?business_key={case.business_key}", headers=w.h(caller, case)
    )
    return listed(
        got, got.status_code == 200 and [i["id"] for i in got.json()["items"]] == [case.instance_id]
    )


def _tasks_list(w: World, caller: str, case: Case) -> str:
    got = w.request(
        "GET", f"/v1/tasks?instance_id={case.instance_id}&limit=500", headers=w.h(caller, case)
    )
    return listed(
        got,
        got.status_code == 200 and case.review_task_id in [t["id"] for t in got.json()["items"]],
    )


def _events_list(w: World, caller: str, case: Case) -> str:
    got = w.request("GET", f"/v1/events?instance_id={case.instance_id}", headers=w.h(caller, case))
    if got.status_code == 200:
        ids = {e["instance_id"] for e in got.json()["items"]}
        return "✓" if ids == {case.instance_id} else f"wrong instances {ids}"
    return judged(got)


def _deploy(w: World, caller: str, case: Case) -> str:
    got = w.client.post(
        "/v1/definitions",
        headers=w.h(caller, case),
        files={"file": ("visibility.bpmn", (DATA / "visibility.bpmn").read_bytes())},
    )
    return judged(got, (200, 201))


def _start(w: World, caller: str, case: Case) -> str:
    got = w.client.post(
        "/v1/instances",
        headers=w.h(caller, case),
        json={"definition_key": PROCESS, "variables": {"amount": 1}},
    )
    return judged(got, (201,))


def _webhook(method: str, suffix: str = "", ok: tuple[int, ...] = (200,)) -> Probe:
    def call(w: World, caller: str, case: Case) -> str:
        hook = w.new_webhook() if method == "DELETE" else w.webhook_id
        body = {"active": False} if method == "PATCH" else None
        got = w.request(
            method, f"/v1/webhooks/{hook}{suffix}", headers=w.h(caller, case), json=body
        )
        return judged(got, ok)

    return Probe(call)


def _create_webhook(w: World, caller: str, case: Case) -> str:
    got = w.client.post(
        "/v1/webhooks",
        headers=w.h(caller, case),
        json={"url": "https://hooks.example.com/other", "types": "instance.completed"},
    )
    return judged(got, (201,))


def _docs_asset(w: World, caller: str, case: Case) -> str:
    """The first script the offline /docs page loads from the package's assets."""
    html = w.request("GET", "/docs", headers=w.h(caller, case)).text
    src = html.split('src="/docs-assets/', 1)[1].split('"', 1)[0]
    return judged(w.request("GET", f"/docs-assets/{src}", headers=w.h(caller, case)))


def _console_asset(w: World, caller: str, case: Case) -> str:
    """The script the console's page loads (docs/console.md)."""
    html = w.request("GET", "/console/", headers=w.h(caller, case)).text
    src = html.split('src="/console/assets/', 1)[1].split('"', 1)[0]
    return judged(w.request("GET", f"/console/assets/{src}", headers=w.h(caller, case)))


def _user(method: str, suffix: str = "", ok: tuple[int, ...] = (200,)) -> Probe:
    """A users route tried on a throwaway user (never on the callers themselves)."""

    def call(w: World, caller: str, case: Case) -> str:
        name = f"probe-{uuid.uuid4().hex[:8]}"
        w.user("clerk", name)
        body = {"roles": ["clerk", "reviewer"]} if method == "PATCH" else None
        got = w.request(method, f"/v1/users/{name}{suffix}", headers=w.h(caller, case), json=body)
        return judged(got, ok)

    return Probe(call)


def _create_user(w: World, caller: str, case: Case) -> str:
    got = w.client.post(
        "/v1/users",
        headers=w.h(caller, case),
        json={"name": f"new-{uuid.uuid4().hex[:8]}", "roles": ["clerk"]},
    )
    return judged(got, (201,))


def _calendar_day(method: str) -> Probe:
    """Edit or withdraw an edit of a day far ahead (withdrawing: one the admin just made)."""

    def call(w: World, caller: str, case: Case) -> str:
        day = "/v1/calendar/days/2099-01-05"
        edit = {"kind": "holiday", "name": "Probe holiday"}
        if method == "DELETE":
            made = w.client.put(day, headers=w.users["admin"], json=edit)
            assert made.status_code in (200, 201), made.text
            return judged(w.request("DELETE", day, headers=w.h(caller, case)), (204,))
        return judged(w.request("PUT", day, headers=w.h(caller, case), json=edit), (200, 201))

    return Probe(call)


def _power(w: World, caller: str, case: Case) -> str:
    """One power item: the expense claim's (tests/data/gateway.bpmn), deployed once."""
    deployed = w.client.post(
        "/v1/definitions",
        headers=w.users["designer"],
        files={"file": ("gateway.bpmn", (DATA / "gateway.bpmn").read_bytes())},
    )
    assert deployed.status_code in (200, 201), deployed.text
    return judged(w.request("GET", "/v1/powers/FIN-001", headers=w.h(caller, case)))


def _external(method: str, suffix: str, body: dict, ok: tuple[int, ...] = (204,)) -> Probe:
    """An external-task route on an open external task (only workers and admins act on it)."""

    def call(w: World, caller: str, case: Case) -> str:
        url = f"/v1/external-tasks/{w.external_task()}{suffix}"
        return judged(w.request(method, url, headers=w.h(caller, case), json=body), ok)

    return Probe(call)


def _fetch_and_lock(w: World, caller: str, case: Case) -> str:
    body = {"worker_id": "probe", "topics": [{"name": "charge-card", "lock_duration": 1000}]}
    got = w.request(
        "POST", "/v1/external-tasks/fetch-and-lock", headers=w.h(caller, case), json=body
    )
    return judged(got)


def _suspended(w: World, case: Case) -> None:
    got = w.client.post(f"/v1/instances/{case.instance_id}/suspend", headers=w.users["monitor"])
    assert got.status_code == 200, got.text


def _claimed_by_holder(w: World, case: Case) -> None:
    got = w.client.post(f"/v1/tasks/{case.review_task_id}/claim", headers=w.users["role holder"])
    assert got.status_code == 200, got.text


PROBE_RULE = {  # guards no deployed process: the probes change nothing else
    "kind": "reason-required",
    "message": "A probe rule.",
    "process_key": "no-such-process",
    "params": {"variable": "x", "values": "no", "reason": "why"},
}


def _rule(method: str, ok: tuple[int, ...] = (200,)) -> Callable[[World, str, Case], str]:
    """A rules route on an API rule the administrator (re)writes first."""

    def call(w: World, caller: str, case: Case) -> str:
        made = w.client.put("/v1/rules/PROBE-1", headers=w.users["admin"], json=PROBE_RULE)
        assert made.status_code in (200, 201), made.text
        body = PROBE_RULE if method == "PUT" else None
        got = w.request(method, "/v1/rules/PROBE-1", headers=w.h(caller, case), json=body)
        return judged(got, ok)

    return call


def _declare(w: World, caller: str, case: Case) -> str:
    body = {"counterparty": "Probe Co", "kind": "other"}
    return judged(w.client.post("/v1/declarations", headers=w.h(caller, case), json=body), (201,))


def _withdraw(w: World, caller: str, case: Case) -> str:
    """Withdrawing the starter's declaration (made for them by the administrator)."""
    made = w.client.post(
        "/v1/declarations",
        headers=w.users["admin"],
        json={"counterparty": "Probe Co", "kind": "other", "person": "starter"},
    )
    assert made.status_code == 201, made.text
    got = w.request("DELETE", f"/v1/declarations/{made.json()['id']}", headers=w.h(caller, case))
    return judged(got)


def _list(
    method: str, suffix: str = "", ok: tuple[int, ...] = (200,)
) -> Callable[[World, str, Case], str]:
    """A lists route on the list ``probe`` (with a fresh entry for deletion)."""

    def call(w: World, caller: str, case: Case) -> str:
        admin = w.users["admin"]
        made = w.client.put("/v1/lists/probe", headers=admin, json={"description": "Probe"})
        assert made.status_code in (200, 201), made.text
        value = f"v-{uuid.uuid4().hex[:8]}"
        body: dict[str, str] | None = None
        path = f"/v1/lists/probe{suffix}"
        if method == "PUT":
            body = {"description": "Probe"}
        elif method == "POST":
            body = {"value": value, "reason": "probe"}
        elif method == "DELETE":
            added = w.client.post(f"{path[:-1]}", headers=admin, json={"value": value})
            assert added.status_code == 201, added.text
            path += value
        return judged(w.request(method, path, headers=w.h(caller, case), json=body), ok)

    return call


def _alerts_list(w: World, caller: str, case: Case) -> str:
    got = w.request("GET", f"/v1/alerts?instance_id={case.instance_id}", headers=w.h(caller, case))
    return listed(
        got, got.status_code == 200 and case.alert_id in [a["id"] for a in got.json()["items"]]
    )


def _put_profile(w: World, caller: str, case: Case) -> str:
    body = {"description": "probe", "thresholds": [{"level": "red", "limit": "step"}]}
    got = w.request("PUT", "/v1/alert-profiles/probe", headers=w.h(caller, case), json=body)
    return judged(got, (200, 201))


def _alert(suffix: str = "") -> Callable[[Case], str]:
    return lambda case: f"/v1/alerts/{case.alert_id}{suffix}"


def _parked_case(w: World, case: Case) -> None:
    """Park the case at an incident, as a failed step (or an unloadable state) would."""
    from powerflow.services.incidents import fail_instance

    assert fail_instance(w.store, case.instance_id, actor="probe", message="probe incident")


def _past_the_roles(
    path: Callable[[Case], str],
    body: dict,
    *,
    setup: Callable[[World, Case], None] | None = None,
) -> Probe:
    """A recovery route: a 409 (the state does not allow it: no failed element to skip, no
    other version to migrate to) means the caller got past the role and visibility checks."""

    def call(w: World, caller: str, case: Case) -> str:
        got = w.request("POST", path(case), headers=w.h(caller, case), json=body)
        return "✓" if got.status_code == 409 else judged(got)

    return Probe(call, fresh=True, setup=setup, body=body)


def _unheard(path: str) -> Callable[[World, str, Case], str]:
    """Send a message or signal that nothing waits for (a message is kept)."""

    def call(w: World, caller: str, case: Case) -> str:
        body = {"name": "probe-unheard", "payload": {}}
        return judged(w.request("POST", path, headers=w.h(caller, case), json=body))

    return call


def _inst(suffix: str = "") -> Callable[[Case], str]:
    return lambda case: f"/v1/instances/{case.instance_id}{suffix}"


def _task(suffix: str = "") -> Callable[[Case], str]:
    return lambda case: f"/v1/tasks/{case.review_task_id}{suffix}"


def _open_case(w: World, caller: str, case: Case) -> str:
    body = {"instance_id": case.instance_id, "title": "Probe", "reason": "probe"}
    return judged(w.request("POST", "/v1/cases", headers=w.h(caller, case), json=body), (201,))


def _cases_list(w: World, caller: str, case: Case) -> str:
    got = w.request("GET", f"/v1/cases?instance_id={case.instance_id}", headers=w.h(caller, case))
    return listed(
        got, got.status_code == 200 and case.case_id in [c["id"] for c in got.json()["items"]]
    )


def _corrections_list(path: Callable[[Case], str]) -> Callable[[World, str, Case], str]:
    """A corrections list, paged through (every fresh case adds a correction to it)."""

    def call(w: World, caller: str, case: Case) -> str:
        offset, ids = 0, []
        while True:
            got = w.request(
                "GET",
                path(case),
                headers=w.h(caller, case),
                params={"limit": 500, "offset": offset},
            )
            if got.status_code != 200:
                return judged(got)
            ids += [c["id"] for c in got.json()["items"]]
            if not got.json()["has_more"]:
                return listed(got, case.correction_id in ids)
            offset += 500

    return call


def _case(suffix: str = "") -> Callable[[Case], str]:
    return lambda case: f"/v1/cases/{case.case_id}{suffix}"


def _suspended_by_case(w: World, case: Case) -> None:
    got = w.client.post(
        f"/v1/cases/{case.case_id}/suspend", headers=w.users["monitor"], json={"reason": "probe"}
    )
    assert got.status_code == 200, got.text


UNKNOWN_NOTICE = 2_000_000_000

PROBES: dict[str, Probe] = {
    "GET /health": _get(lambda _: "/health"),
    # /public/: the probe's process discloses nothing, so everyone gets the lists (without it)
    # and 404 for it, its case and an unknown notice (tests/test_public.py covers the rest).
    "GET /public/powers": _get(lambda _: "/public/powers"),
    "GET /public/processes/{key}": _get(lambda _: f"/public/processes/{PROCESS}"),
    "GET /public/processes/{key}/diagram": _get(lambda _: f"/public/processes/{PROCESS}/diagram"),
    "GET /public/progress/{key}/{business_key}": _get(
        lambda case: f"/public/progress/{PROCESS}/{case.business_key}"
    ),
    "GET /public/notices": _get(lambda _: "/public/notices"),
    "GET /public/notices/{notice_id}": _get(lambda _: f"/public/notices/{UNKNOWN_NOTICE}"),
    "POST /public/notices/{notice_id}/objections": _post(
        lambda _: f"/public/notices/{UNKNOWN_NOTICE}/objections", {"text": "probe"}, ok=(201,)
    ),
    "GET /v1/notices/{notice_id}/objections": _get(
        lambda _: f"/v1/notices/{UNKNOWN_NOTICE}/objections"
    ),
    "GET /openapi.json": _get(lambda _: "/openapi.json"),
    "GET /docs": _get(lambda _: "/docs"),
    "GET /docs/oauth2-redirect": _get(lambda _: "/docs/oauth2-redirect"),
    "GET /redoc": _get(lambda _: "/redoc"),
    "GET /v1/me": _get(lambda _: "/v1/me"),
    "POST /v1/definitions": Probe(_deploy),
    "GET /v1/definitions": _get(lambda _: "/v1/definitions"),
    "GET /v1/definitions/{key}": _get(lambda _: f"/v1/definitions/{PROCESS}"),
    "GET /v1/definitions/{key}/xml": _get(lambda _: f"/v1/definitions/{PROCESS}/xml"),
    "GET /v1/definitions/{key}/risk-map": _get(lambda _: f"/v1/definitions/{PROCESS}/risk-map"),
    "POST /v1/instances": Probe(_start),
    "GET /v1/instances": Probe(_instances_list),
    "GET /v1/instances/{instance_id}": _get(_inst()),
    "POST /v1/instances/{instance_id}/cancel": _post(_inst("/cancel"), {"reason": "probe"}),
    "POST /v1/instances/{instance_id}/suspend": _post(_inst("/suspend")),
    "POST /v1/instances/{instance_id}/resume": _post(_inst("/resume"), setup=_suspended),
    "POST /v1/instances/{instance_id}/messages": _post(
        _inst("/messages"), {"name": "documents", "payload": {}}
    ),
    "GET /v1/instances/{instance_id}/events": _get(_inst("/events")),
    "GET /v1/instances/{instance_id}/events/stream": _stream(_inst("/events/stream?after=0")),
    "GET /v1/instances/{instance_id}/audit": _get(_inst("/audit")),
    # the case is live, so not in the archive: 404 to everyone who gets past the role check
    # (the rule over an archived case is tests/test_archive.py's)
    "GET /v1/archive/instances/{instance_id}": _get(
        lambda case: f"/v1/archive/instances/{case.instance_id}"
    ),
    "GET /v1/archive/instances/{instance_id}/proofs": _get(
        lambda case: f"/v1/archive/instances/{case.instance_id}/proofs"
    ),
    "GET /v1/instances/{instance_id}/audit.csv": _get(_inst("/audit.csv")),
    "GET /v1/events": Probe(_events_list),
    "GET /v1/events/latest": _get(lambda c: "/v1/events/latest"),
    "GET /v1/events/stream": _stream(
        lambda case: f"/v1/events/stream?instance_id={case.instance_id}"
    ),
    "GET /v1/tasks": Probe(_tasks_list),
    "GET /v1/tasks/{task_id}": _get(_task()),
    "POST /v1/tasks/{task_id}/claim": _post(_task("/claim")),
    "POST /v1/tasks/{task_id}/unclaim": _post(_task("/unclaim"), setup=_claimed_by_holder),
    "POST /v1/tasks/{task_id}/complete": _post(_task("/complete"), {"data": {"approved": True}}),
    "POST /v1/tasks/{task_id}/countersign": _past_the_roles(
        _task("/countersign"), {"decision": "approve"}
    ),
    "GET /v1/tasks/{task_id}/countersigns": _get(_task("/countersigns")),
    "POST /v1/webhooks": Probe(_create_webhook),
    "GET /v1/webhooks": _get(lambda _: "/v1/webhooks"),
    "PATCH /v1/webhooks/{webhook_id}": _webhook("PATCH"),
    "DELETE /v1/webhooks/{webhook_id}": _webhook("DELETE", ok=(204,)),
    "GET /v1/webhooks/{webhook_id}/deliveries": _webhook("GET", "/deliveries"),
    "* /docs-assets": Probe(_docs_asset),
    "GET /": _get(lambda _: "/", ok=(307,)),  # to /console/
    "GET /console": _get(lambda _: "/console", ok=(308,)),
    "GET /console/": _get(lambda _: "/console/"),
    "GET /console/assets/{name}": Probe(_console_asset),
    "GET /v1/users": _get(lambda _: "/v1/users"),
    "POST /v1/users": Probe(_create_user),
    "GET /v1/users/{name}": _user("GET"),
    "PATCH /v1/users/{name}": _user("PATCH"),
    "POST /v1/users/{name}/token": _user("POST", "/token"),
    "GET /v1/calendar": _get(lambda _: "/v1/calendar?year=2026"),
    "PUT /v1/calendar/days/{day}": _calendar_day("PUT"),
    "DELETE /v1/calendar/days/{day}": _calendar_day("DELETE"),
    "GET /v1/powers": _get(lambda _: "/v1/powers"),
    "GET /v1/powers/{code}": Probe(_power),
    "GET /v1/rules": _get(lambda _: "/v1/rules"),
    "GET /v1/rules/{rule_id}": Probe(_rule("GET")),
    "PUT /v1/rules/{rule_id}": Probe(_rule("PUT", ok=(200, 201))),
    "DELETE /v1/rules/{rule_id}": Probe(_rule("DELETE")),
    "GET /v1/violations": _get(lambda _: "/v1/violations"),
    "POST /v1/declarations": Probe(_declare),
    "GET /v1/declarations": _get(lambda _: "/v1/declarations"),
    "DELETE /v1/declarations/{declaration_id}": Probe(_withdraw),
    "GET /v1/lists": _get(lambda _: "/v1/lists"),
    "PUT /v1/lists/{name}": Probe(_list("PUT", ok=(200, 201))),
    "GET /v1/lists/{name}": Probe(_list("GET")),
    "POST /v1/lists/{name}/entries": Probe(_list("POST", "/entries", ok=(201,))),
    "DELETE /v1/lists/{name}/entries/{value}": Probe(_list("DELETE", "/entries/")),
    "GET /v1/alerts": Probe(_alerts_list),
    "GET /v1/stats/processes": _get(lambda _: "/v1/stats/processes"),
    "GET /v1/stats/processes/{key}": _get(lambda _: f"/v1/stats/processes/{PROCESS}"),
    "GET /v1/stats/roles": _get(lambda _: "/v1/stats/roles"),
    "GET /v1/stats/people": _get(lambda _: "/v1/stats/people"),
    "GET /v1/stats/anomalies": _get(lambda _: "/v1/stats/anomalies?by=person"),
    # the audit log: the worker may not have signed the first checkpoint or appended the
    # case's events yet (404, 409: past the role check all the same)
    "GET /v1/audit/checkpoints/latest": _get(
        lambda _: "/v1/audit/checkpoints/latest", ok=(200, 404)
    ),
    "GET /v1/audit/checkpoints": _get(lambda _: "/v1/audit/checkpoints"),
    "POST /v1/audit/checkpoints": Probe(
        lambda w, c, case: judged(
            w.request("POST", "/v1/audit/checkpoints", headers=w.h(c, case), json=None)
        )
    ),
    "POST /v1/audit/checkpoints/{tree_size}/cosignatures": Probe(
        lambda w, c, case: judged(
            w.request(
                "POST",
                "/v1/audit/checkpoints/1/cosignatures",
                headers=w.h(c, case),
                json={"note": "probe"},
            ),
            ok=(409,),  # no witness is configured on the test server
        )
    ),
    "GET /v1/audit/proofs/inclusion": _get(
        lambda _: "/v1/audit/proofs/inclusion?event_id=1", ok=(200, 409)
    ),
    "GET /v1/audit/proofs/consistency": _get(lambda _: "/v1/audit/proofs/consistency?from=0&to=0"),
    "GET /v1/audit/key": _get(lambda _: "/v1/audit/key"),
    "GET /v1/exports/xes": _get(lambda case: f"/v1/exports/xes?instance_id={case.instance_id}"),
    "GET /v1/exports/ocel": _get(lambda case: f"/v1/exports/ocel?instance_id={case.instance_id}"),
    "GET /public/audit/checkpoints/latest": _get(
        lambda _: "/public/audit/checkpoints/latest", ok=(200, 404)
    ),
    "GET /public/audit/key": _get(lambda _: "/public/audit/key"),
    "GET /v1/alerts/{alert_id}": _get(_alert()),
    "POST /v1/alerts/{alert_id}/acknowledge": _post(_alert("/acknowledge"), {"comment": "seen"}),
    "GET /v1/alert-profiles": _get(lambda _: "/v1/alert-profiles"),
    "GET /v1/alert-profiles/{name}": _get(lambda _: "/v1/alert-profiles/two-tier"),
    "PUT /v1/alert-profiles/{name}": Probe(_put_profile),
    "GET /v1/incidents": _get(lambda _: "/v1/incidents?status=open"),
    "GET /v1/instances/{instance_id}/incidents": _get(_inst("/incidents")),
    "POST /v1/instances/{instance_id}/retry": _post(
        _inst("/retry"), {"reason": "probe"}, setup=_parked_case
    ),
    "POST /v1/instances/{instance_id}/skip": _past_the_roles(
        _inst("/skip"), {"reason": "probe"}, setup=_parked_case
    ),
    "POST /v1/instances/{instance_id}/move": _post(
        _inst("/move"), {"to_element": "prepare", "reason": "probe"}
    ),
    "POST /v1/instances/{instance_id}/migrate": _past_the_roles(
        _inst("/migrate"), {"to_version": 1, "dry_run": True}
    ),
    "POST /v1/messages": Probe(_unheard("/v1/messages")),
    "POST /v1/signals": Probe(_unheard("/v1/signals")),
    "GET /v1/messages": _get(lambda _: "/v1/messages"),
    "POST /v1/instances/{instance_id}/deadline-extensions": _post(
        _inst("/deadline-extensions"),
        {"limit": "statutory", "duration": "P1D", "reason": "probe"},
    ),
    "POST /v1/external-tasks/fetch-and-lock": Probe(_fetch_and_lock),
    "GET /v1/external-tasks": _get(lambda _: "/v1/external-tasks"),
    "POST /v1/external-tasks/{task_id}/complete": _external(
        "POST", "/complete", {"worker_id": "probe", "variables": {}}
    ),
    "POST /v1/external-tasks/{task_id}/failure": _external(
        "POST", "/failure", {"worker_id": "probe", "error_message": "x", "retries": 1}
    ),
    "POST /v1/external-tasks/{task_id}/extend-lock": _external(
        "POST", "/extend-lock", {"worker_id": "probe", "new_duration": 1000}
    ),
    "POST /v1/external-tasks/{task_id}/bpmn-error": _external(
        "POST", "/bpmn-error", {"worker_id": "probe", "error_code": "card_declined"}
    ),
    "PUT /v1/external-tasks/{task_id}/retries": _external(
        "PUT", "/retries", {"retries": 3}, ok=(200,)
    ),
    "POST /v1/cases": Probe(_open_case, fresh=True),
    "GET /v1/cases": Probe(_cases_list),
    "GET /v1/cases/{case_id}": _get(_case()),
    "POST /v1/cases/{case_id}/findings": _post(_case("/findings"), {"text": "probe"}, ok=(201,)),
    "POST /v1/cases/{case_id}/corrections": _post(
        _case("/corrections"), {"demand": "probe", "to_person": "starter"}, ok=(201,)
    ),
    "POST /v1/cases/{case_id}/corrections/{correction_id}/reply": _post(
        lambda case: f"/v1/cases/{case.case_id}/corrections/{case.correction_id}/reply",
        {"text": "Corrected."},
    ),
    "POST /v1/cases/{case_id}/suspend": _post(_case("/suspend"), {"reason": "probe"}),
    "POST /v1/cases/{case_id}/resume": _post(
        _case("/resume"), {"reason": "probe"}, setup=_suspended_by_case
    ),
    "POST /v1/cases/{case_id}/close": _post(
        _case("/close"), {"outcome": "no_fault", "summary": "probe"}
    ),
    "GET /v1/corrections": Probe(_corrections_list(lambda _: "/v1/corrections?state=open")),
    "GET /v1/instances/{instance_id}/corrections": Probe(_corrections_list(_inst("/corrections"))),
    "GET /v1/people/{name}/record": _get(lambda _: "/v1/people/starter/record"),
}


@pytest.fixture
def probe_server(db_url: str) -> Iterator[Server]:
    """A real server that lets webhooks target the probe's (unresolvable) example host."""
    srv = start_server(
        db_url,
        POWERFLOW_DEPLOY_EXAMPLES="false",
        POWERFLOW_WEBHOOK_ALLOWED_HOSTS="hooks.example.com",
        POWERFLOW_PUBLIC_BURST="100000",
    )
    try:
        yield srv
    finally:
        stop_server(srv)


@pytest.fixture
def world(probe_server: Server) -> Iterator[World]:
    server = probe_server
    store = Store(server.db_url)
    try:
        with httpx.Client(base_url=server.url, timeout=30) as client:
            w = World(server, store, client)
            w.users = {
                "anonymous": {},
                "bogus token": {"Authorization": "Bearer pf_not_a_token_of_anyone"},
                "unrelated clerk": w.user("clerk,outsider"),
                "starter": w.user("clerk", "starter"),
                "role holder": w.user("reviewer", "holder"),
                "monitor": w.user("monitor"),
                "auditor": w.user("auditor"),
                "designer": w.user("designer"),
                "admin": {"Authorization": f"Bearer {ADMIN_TOKEN}"},
            }
            deployed = client.post(
                "/v1/definitions",
                headers=w.users["designer"],
                files={"file": ("visibility.bpmn", (DATA / "visibility.bpmn").read_bytes())},
            )
            assert deployed.status_code == 201, deployed.text
            w.main = w.new_case()
            w.webhook_id = w.new_webhook()
            yield w
    finally:
        store.dispose()


def _unknown(case: Case) -> Case:
    unknown = 2_000_000_000
    return Case(str(uuid.uuid4()), "none", str(uuid.uuid4()), case.actor, unknown, unknown, unknown)


def _same_as_unknown(w: World, probe: Probe, caller: str, case: Case, route: str) -> str | None:
    """A 404 must read exactly like the one for an id that does not exist."""
    method, path = route.split(" ", 1)
    answers = []
    for target in (case, _unknown(case)):
        url = path.replace("{instance_id}", target.instance_id)
        url = url.replace("{task_id}", target.review_task_id)
        url = url.replace("{alert_id}", str(target.alert_id))
        url = url.replace("{case_id}", str(target.case_id))
        url = url.replace("{correction_id}", str(target.correction_id))
        url = url.replace("{notice_id}", str(UNKNOWN_NOTICE))
        url = url.replace("{key}", PROCESS if target is case else "no_such_process")
        url = url.replace("{business_key}", target.business_key)
        response = w.request(method, url, headers=w.h(caller, target), json=probe.body)
        detail = response.json()["detail"]
        detail = detail.replace(target.instance_id, "ID").replace(target.review_task_id, "ID")
        detail = detail.replace(f"Alert {target.alert_id} ", "Alert ID ")
        detail = detail.replace(f"Supervision case {target.case_id} ", "Supervision case ID ")
        answers.append((response.status_code, response.json()["code"], detail))
    hidden, missing = answers
    return None if hidden == missing else f"404 differs from unknown id: {hidden} / {missing}"


@pytest.mark.e2e
def test_every_route_answers_every_caller_as_the_matrix_in_docs_security_says(
    world: World,
) -> None:
    matrix = read_matrix()
    assert world.main is not None
    wrong: list[str] = []
    for route in app_routes():
        probe = PROBES[route]
        for caller in CALLERS:
            expected = matrix[route][caller]
            case = world.main
            if probe.fresh and caller not in ("anonymous", "bogus token"):
                case = world.new_case()
                if probe.setup is not None:
                    probe.setup(world, case)
            before = world.version(case) if probe.fresh else None
            got = probe.call(world, caller, case)
            if got != expected:
                wrong.append(f"{route} as {caller}: got {got}, matrix says {expected}")
                continue
            if before is not None and got != "✓" and world.version(case) != before:
                wrong.append(f"{route} as {caller}: refused ({got}) but the instance changed")
            if got == "404" and "{" in route:
                differs = _same_as_unknown(world, probe, caller, case, route)
                if differs:
                    wrong.append(f"{route} as {caller}: {differs}")
    assert not wrong, "\n".join(wrong)


# --- the rule's edges, in-process (both databases) -------------------------------------------


def _start_case(api: Api, starter: dict[str, str]) -> dict:
    started = api.client.post(
        "/v1/instances",
        headers=starter,
        json={"definition_key": PROCESS, "variables": {"amount": 3}},
    )
    assert started.status_code == 201, started.text
    return started.json()


def _sees(api: Api, headers: dict[str, str], instance_id: str) -> bool:
    one = api.client.get(f"/v1/instances/{instance_id}", headers=headers)
    listed_ids = [
        i["id"] for i in api.client.get("/v1/instances?limit=500", headers=headers).json()["items"]
    ]
    assert (one.status_code == 200) == (instance_id in listed_ids), (one.status_code, listed_ids)
    assert one.status_code in (200, 404)
    return one.status_code == 200


def test_the_holder_of_a_future_tasks_role_sees_the_case_once_that_task_exists(api: Api) -> None:
    assert api.deploy("visibility.bpmn").status_code == 201
    starter = api.user("clerk")
    preparer = api.user("preparer")
    reviewer = api.user("reviewer")
    case = _start_case(api, starter)
    # the review does not exist yet: the reviewer is not involved
    assert not _sees(api, reviewer, case["id"])
    assert _sees(api, preparer, case["id"]) and _sees(api, starter, case["id"])
    prepare = case["tasks"][0]["id"]
    done = api.client.post(
        f"/v1/tasks/{prepare}/complete", headers=preparer, json={"data": {"note": "ok"}}
    )
    assert done.status_code == 200, done.text
    # now it does: the reviewer sees the case and its whole history, from the start
    assert _sees(api, reviewer, case["id"])
    history = api.client.get(f"/v1/instances/{case['id']}/events", headers=reviewer).json()
    assert history["items"][0]["type"] == "instance.started"
    # the preparer's task is past; they still see the case and the task they did
    assert api.client.get(f"/v1/tasks/{prepare}", headers=preparer).status_code == 200
    [review] = [t for t in done.json()["tasks"] if t["element_id"] == "review"]
    # and a task they may not act on, of a case they are involved in: visible, but 403 to act
    assert api.client.get(f"/v1/tasks/{review['id']}", headers=preparer).status_code == 200
    claim = api.client.post(f"/v1/tasks/{review['id']}/claim", headers=preparer)
    assert claim.status_code == 403 and "reviewer" in claim.json()["detail"]
    # the review done and the case closed: still visible to everyone involved, past tasks too
    api.client.post(
        f"/v1/instances/{case['id']}/messages", headers=starter, json={"name": "documents"}
    )
    api.client.post(
        f"/v1/tasks/{review['id']}/complete", headers=reviewer, json={"data": {"approved": True}}
    )
    closed = api.client.get(f"/v1/instances/{case['id']}", headers=api.admin).json()
    assert closed["status"] == "completed"
    for who in (starter, preparer, reviewer):
        assert _sees(api, who, case["id"])
    assert not _sees(api, api.user("clerk,outsider"), case["id"])


def test_the_inbox_lists_what_the_caller_may_act_on_and_a_visible_case_lists_all_its_tasks(
    api: Api,
) -> None:
    assert api.deploy("visibility.bpmn").status_code == 201
    starter = api.user("clerk")
    case = _start_case(api, starter)
    prepare = case["tasks"][0]["id"]
    inbox = api.client.get("/v1/tasks?state=ready", headers=starter).json()["items"]
    assert prepare not in [t["id"] for t in inbox]  # the starter cannot prepare
    of_case = api.client.get(f"/v1/tasks?instance_id={case['id']}", headers=starter).json()
    assert [t["id"] for t in of_case["items"]] == [prepare]
    stranger = api.client.get(
        f"/v1/tasks?instance_id={case['id']}", headers=api.user("clerk,outsider")
    ).json()
    assert stranger["items"] == []
    auditor = api.client.get("/v1/tasks?state=ready", headers=api.user("auditor")).json()
    assert prepare in [t["id"] for t in auditor["items"]]


def test_a_user_named_like_a_machine_actor_is_not_involved_in_every_case(api: Api) -> None:
    from powerflow import workers
    from powerflow.services.events import SYSTEM_ACTOR
    from powerflow.services.visibility import MACHINE_ACTORS

    assert {SYSTEM_ACTOR, workers.TIMER_ACTOR.name} <= MACHINE_ACTORS
    assert api.deploy("visibility.bpmn").status_code == 201
    case = _start_case(api, api.user("clerk"))
    events = api.client.get(f"/v1/instances/{case['id']}/events", headers=api.admin).json()
    assert SYSTEM_ACTOR in {e["actor"] for e in events["items"]}  # task.ready is the engine's
    # A database from before the names were reserved may still hold such a user.
    token = auth.new_token()
    with api.store.write() as session:
        session.add(User(name=SYSTEM_ACTOR, roles=["designer"], token_hash=auth.hash_token(token)))
    assert not _sees(api, {"Authorization": f"Bearer {token}"}, case["id"])


@pytest.mark.parametrize("name", ["system", "timer", "System"])
def test_the_machine_actors_names_cannot_be_given_to_a_person(api: Api, name: str) -> None:
    """The audit trail records the engine's steps as "system" and the timer's as "timer": a
    person bearing either name could pass their acts off as the engine's."""
    refused = api.client.post(
        "/v1/users", headers=api.admin, json={"name": name, "roles": ["clerk"]}
    )
    assert refused.status_code == 422, refused.text
    assert "is reserved" in refused.json()["detail"]
    with pytest.raises(InvalidInput, match="reserved"):
        auth.add_user(api.store, name, "clerk")


def test_lists_stay_one_statement_per_page_whatever_the_number_of_cases(api: Api) -> None:
    """The visibility rule is part of the page's statement, never a statement per row."""
    assert api.deploy("visibility.bpmn").status_code == 201
    starter = api.user("clerk")
    reviewer = api.user("reviewer")
    preparer = api.user("clerk,preparer")
    engine = api.store.engine
    counted: list[str] = []

    def count(*args: object) -> None:
        counted.append(str(args[2]))

    def statements(path: str, headers: dict[str, str]) -> int:
        counted.clear()
        event.listen(engine, "before_cursor_execute", count)
        try:
            assert api.client.get(path, headers=headers).status_code == 200
        finally:
            event.remove(engine, "before_cursor_execute", count)
        return len([s for s in counted if s.lstrip().upper().startswith("SELECT")])

    def add_cases(n: int) -> None:
        for _ in range(n):
            case = _start_case(api, starter)
            api.client.post(
                f"/v1/tasks/{case['tasks'][0]['id']}/complete",
                headers=preparer,
                json={"data": {"note": "n"}},
            )

    add_cases(2)
    for headers in (starter, reviewer):  # the token lookup is a statement of its own, once
        api.client.get("/v1/me", headers=headers)
    few = {who: statements("/v1/instances", h) for who, h in (("s", starter), ("r", reviewer))}
    add_cases(4)
    many = {who: statements("/v1/instances", h) for who, h in (("s", starter), ("r", reviewer))}
    assert few == many
    assert len(api.client.get("/v1/instances", headers=reviewer).json()["items"]) == 6


def test_the_feed_of_every_instance_refuses_others_with_a_sentence(api: Api) -> None:
    for roles in ("clerk", "auditor", "designer"):
        got = api.client.get("/v1/events", headers=api.user(roles))
        assert got.status_code == 403
        assert "monitor" in got.json()["detail"] and "/v1/instances/" in got.json()["detail"]
    assert api.client.get("/v1/events", headers=api.user("monitor")).status_code == 200


def test_a_taken_business_key_tells_a_stranger_nothing_but_that_it_is_taken(api: Api) -> None:
    assert api.deploy("visibility.bpmn").status_code == 201
    body = {"definition_key": PROCESS, "business_key": "K-1", "variables": {"amount": 1}}
    first = api.client.post("/v1/instances", headers=api.user("clerk"), json=body)
    assert first.status_code == 201
    again = api.client.post("/v1/instances", headers=api.user("clerk,outsider"), json=body)
    assert again.status_code == 409
    assert first.json()["id"] not in again.text and "already exists" in again.json()["detail"]
