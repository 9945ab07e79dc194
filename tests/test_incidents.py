"""Incidents over HTTP: a failed step parks its instance; an administrator retries (with fixed
variables), skips, moves the token or cancels, each recorded with actor and reason; BPMN errors
and escalations inside one file; the corpus models whose upstream test expects an error."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from sqlalchemy import select

from conftest import DATA, Api
from flows import complete, events, read, ready, start
from powerflow.clock import ManualClock
from powerflow.db.models import Instance
from powerflow.services.power.alert_loop import raise_due_alerts

CORPUS = DATA / "corpus"
REASON = "The divisor was entered as zero; corrected with the applicant."


def _event_rows(api: Api, instance: dict[str, Any]) -> list[dict[str, Any]]:
    got = api.client.get(
        f"/v1/instances/{instance['id']}/events", headers=api.admin, params={"limit": 500}
    )
    assert got.status_code == 200, got.text
    items: list[dict[str, Any]] = got.json()["items"]
    return items


def _act(
    api: Api, instance: dict[str, Any], action: str, body: dict[str, Any], status: int = 200
) -> dict[str, Any]:
    got = api.client.post(f"/v1/instances/{instance['id']}/{action}", headers=api.admin, json=body)
    assert got.status_code == status, got.text
    answer: dict[str, Any] = got.json()
    return answer


def _parked(api: Api, clerk: dict[str, str], divisor: int = 0) -> dict[str, Any]:
    """A fragile instance whose division failed after 'Enter the figures'."""
    instance = start(api, clerk, "fragile", divisor=divisor)
    return complete(api, clerk, instance, "first", note="figures entered")


def _incidents(api: Api, instance: dict[str, Any]) -> list[dict[str, Any]]:
    got = api.client.get(f"/v1/instances/{instance['id']}/incidents", headers=api.admin)
    assert got.status_code == 200, got.text
    items: list[dict[str, Any]] = got.json()["items"]
    return items


@pytest.fixture
def fragile(api: Api) -> dict[str, str]:
    """The fragile process deployed; a clerk to drive it."""
    assert api.deploy("fragile.bpmn").status_code == 201
    return api.user("clerk", "clara")


def test_a_failed_step_parks_the_instance_with_an_open_incident(
    api: Api, fragile: dict[str, str]
) -> None:
    parked = _parked(api, fragile)
    assert parked["status"] == "failed" and parked["ended_at"] is None
    incident = parked["incident"]
    assert incident["element_id"] == "divide" and incident["element_name"] == "Divide"
    assert "division by zero" in incident["message"] and incident["id"]
    failed = [e for e in _event_rows(api, parked) if e["type"] == "instance.failed"]
    assert [e["payload"]["incident_id"] for e in failed] == [incident["id"]]
    # The open incidents list (monitor, admin) and the instance's own history show it.
    monitor = api.user("monitor")
    listed = api.client.get("/v1/incidents", headers=monitor, params={"status": "open"})
    assert listed.status_code == 200, listed.text
    [row] = listed.json()["items"]
    assert (row["id"], row["instance_id"], row["status"]) == (incident["id"], parked["id"], "open")
    assert row["definition_key"] == "fragile" and row["resolution"] is None
    assert _incidents(api, parked) == [row]
    assert api.client.get("/v1/incidents", headers=fragile).status_code == 403
    # The parked instance is listed as failed; nothing but an administrator moves it on.
    failed_list = api.client.get("/v1/instances", headers=api.admin, params={"status": "failed"})
    assert [i["id"] for i in failed_list.json()["items"]] == [parked["id"]]
    message = api.client.post(
        f"/v1/instances/{parked['id']}/messages", headers=fragile, json={"name": "x", "payload": {}}
    )
    assert message.status_code == 409
    assert "stopped by an incident at 'Divide'" in message.json()["detail"]


def test_retry_with_corrected_variables_resolves_the_incident(
    api: Api, fragile: dict[str, str], reload_every_step: None
) -> None:
    parked = _parked(api, fragile)
    first = parked["incident"]["id"]
    # The same data fails again: a new incident, the first one resolved as retried.
    again = _act(api, parked, "retry", {"reason": "try once more"})
    assert again["status"] == "failed" and again["incident"]["id"] != first
    history = _incidents(api, parked)
    assert [(i["status"], i["resolution"]) for i in history] == [
        ("open", None),
        ("resolved", "retried"),
    ]
    assert history[1]["resolved_by"] == "admin" and history[1]["reason"] == "try once more"
    fixed = _act(api, parked, "retry", {"variables": {"divisor": 4}, "reason": REASON})
    assert fixed["status"] == "running" and fixed["incident"] is None
    assert ready(fixed) == ["check"] and fixed["data"]["ratio"] == 2.5
    rows = _event_rows(api, parked)
    retried = [e for e in rows if e["type"] == "instance.retried"]
    assert retried[-1]["payload"] == {"variables": {"divisor": 4}, "reason": REASON}
    assert retried[-1]["actor"] == "admin" and retried[-1]["element_id"] == "divide"
    resolved = [e["payload"] for e in rows if e["type"] == "incident.resolved"]
    assert [r["resolution"] for r in resolved] == ["retried", "retried"]
    opened = api.client.get("/v1/incidents", headers=api.admin, params={"status": "open"})
    assert opened.json()["items"] == []
    done = complete(api, fragile, fixed, "check")
    assert done["status"] == "completed"


def test_skip_completes_the_failed_element_without_running_it(
    api: Api, fragile: dict[str, str]
) -> None:
    parked = _parked(api, fragile)
    skipped = _act(api, parked, "skip", {"reason": "The ratio is not needed for this case."})
    assert skipped["status"] == "running" and ready(skipped) == ["check"]
    assert "ratio" not in skipped["data"]
    [event] = [e for e in _event_rows(api, parked) if e["type"] == "element.skipped"]
    assert event["element_id"] == "divide" and event["actor"] == "admin"
    assert event["payload"] == {"reason": "The ratio is not needed for this case."}
    assert _incidents(api, parked)[0]["resolution"] == "skipped"


def test_cancel_works_on_a_parked_instance(api: Api, fragile: dict[str, str]) -> None:
    parked = _parked(api, fragile)
    cancelled = _act(api, parked, "cancel", {"reason": "Withdrawn by the applicant."})
    assert cancelled["status"] == "cancelled" and cancelled["ended_at"] is not None
    [incident] = _incidents(api, parked)
    assert (incident["resolution"], incident["reason"]) == (
        "cancelled",
        "Withdrawn by the applicant.",
    )
    kinds = [t for t, _ in events(api, parked)]
    assert kinds[-2:] == ["incident.resolved", "instance.cancelled"]
    _act(api, parked, "retry", {"reason": "too late"}, status=409)


def test_every_refusal_is_a_sentence_and_changes_nothing(api: Api, fragile: dict[str, str]) -> None:
    parked = _parked(api, fragile)
    running = start(api, fragile, "fragile", divisor=2)
    before = read(api, parked)
    url = f"/v1/instances/{parked['id']}"
    monitor, stranger = api.user("monitor"), api.user("designer")
    cases: list[tuple[str, dict[str, str], dict[str, Any], int, str]] = [
        ("/retry", monitor, {"reason": "x"}, 403, "needs the 'admin' role"),
        ("/skip", fragile, {"reason": "x"}, 403, "needs the 'admin' role"),
        ("/retry", stranger, {"reason": "x"}, 404, "Instance"),
        ("/retry", api.admin, {}, 422, "reason"),
        ("/retry", api.admin, {"reason": "   "}, 422, "Say why"),
        ("/retry", api.admin, {"reason": "x", "variables": {"_x": 1}}, 422, "reserved"),
        (
            "/retry",
            api.admin,
            {"reason": "x", "variables": {"d": {"typename": 1}}},
            422,
            "typename",
        ),
        ("/move", api.admin, {"to_element": "nowhere", "reason": "x"}, 409, "not an element"),
        ("/move", api.admin, {"to_element": "check", "reason": "x"}, 409, "not been reached"),
        ("/migrate", api.admin, {"to_version": 7, "reason": "x"}, 422, "no version 7"),
        ("/migrate", api.admin, {"to_version": 1, "reason": "x"}, 409, "already runs"),
    ]
    for suffix, headers, body, status, words in cases:
        got = api.client.post(url + suffix, headers=headers, json=body)
        assert got.status_code == status, (suffix, body, got.text)
        assert words in got.json()["detail"], (suffix, got.json())
    unknown = api.client.post(
        "/v1/instances/00000000-0000-0000-0000-000000000000/retry",
        headers=api.admin,
        json={"reason": "x"},
    )
    assert unknown.status_code == 404
    for action in ("retry", "skip"):
        got = api.client.post(
            f"/v1/instances/{running['id']}/{action}", headers=api.admin, json={"reason": "x"}
        )
        assert got.status_code == 409 and "not stopped by an incident" in got.json()["detail"]
    after = read(api, parked)
    assert after["version"] == before["version"] and after["incident"] == before["incident"]
    # Tasks of a parked instance cannot be completed (here: one of another parked branch).
    assert after["tasks"] == []


def test_a_parked_case_keeps_its_time_limits(api: Api, fragile: dict[str, str]) -> None:
    clock = ManualClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    api.store.clock = clock
    parked = _parked(api, fragile)
    assert parked["status"] == "failed" and parked["promised_due_at"] is not None
    with api.store.read() as session:
        row = session.scalars(select(Instance).where(Instance.id == parked["id"])).one()
        assert row.next_alert_at is not None and row.ended_at is None
    clock.set(datetime.fromisoformat(parked["promised_due_at"]) + timedelta(minutes=1))
    assert raise_due_alerts(api.store) >= 1
    alerts = api.client.get("/v1/alerts", headers=api.admin, params={"instance_id": parked["id"]})
    assert any(a["state"] == "open" for a in alerts.json()["items"])


def test_move_the_token_back_reopens_the_task_with_a_new_deadline(
    api: Api, fragile: dict[str, str], reload_every_step: None
) -> None:
    clock = ManualClock(datetime(2026, 3, 2, 1, 0, tzinfo=UTC))
    api.store.clock = clock
    instance = start(api, fragile, "fragile", divisor=5)
    first_due = instance["tasks"][0]["due_at"]
    instance = complete(api, fragile, instance, "first", note="done")
    assert ready(instance) == ["check"]
    check_id = instance["tasks"][0]["id"]
    clock.set(datetime(2026, 3, 3, 1, 0, tzinfo=UTC))
    moved = _act(
        api,
        instance,
        "move",
        {"from_element": "check", "to_element": "first", "reason": "The figures must be redone."},
    )
    assert moved["status"] == "running" and ready(moved) == ["first"]
    reopened = moved["tasks"][0]
    assert reopened["state"] == "ready" and reopened["due_at"] > first_due
    closed = api.client.get(f"/v1/tasks/{check_id}", headers=api.admin).json()
    assert closed["state"] == "cancelled"
    [event] = [e for e in _event_rows(api, instance) if e["type"] == "token.moved"]
    assert event["element_id"] == "first" and event["actor"] == "admin"
    assert event["payload"] == {"from_elements": ["check"], "reason": "The figures must be redone."}
    inbox = api.client.get("/v1/tasks", headers=fragile, params={"instance_id": instance["id"]})
    assert [t["element_id"] for t in inbox.json()["items"] if t["state"] == "ready"] == ["first"]
    again = complete(api, fragile, moved, "first", divisor=2)
    assert again["data"]["ratio"] == 5.0 and ready(again) == ["check"]
    # A parked instance can be moved too: back before the failed element.
    parked = _parked(api, fragile)
    unparked = _act(api, parked, "move", {"to_element": "first", "reason": "Re-enter."})
    assert unparked["status"] == "running" and ready(unparked) == ["first"]
    assert _incidents(api, parked)[0]["resolution"] == "moved"


def test_move_on_the_corpus_reset_with_boundary_event(api: Api, reload_every_step: None) -> None:
    """ResetTokenOnBoundaryEventTest over HTTP: back to 'First' the boundary timer waits
    again and the subprocess entered since is gone; back to 'Last' inside the subprocess the
    instance continues from there; both complete."""
    assert api.deploy(CORPUS / "reset_with_boundary_event.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = start(api, clerk, "token")
    assert ready(instance) == ["First"] and instance["next_timer_at"] is not None
    instance = complete(api, clerk, instance, "First")
    assert ready(instance) == ["Last"] and instance["next_timer_at"] is None
    moved = _act(api, instance, "move", {"to_element": "First", "reason": "redo"})
    assert ready(moved) == ["First"] and moved["next_timer_at"] is not None
    done = complete(api, clerk, complete(api, clerk, moved, "First"), "Last")
    assert ready(done) == ["Final"]
    back = _act(api, done, "move", {"to_element": "Last", "reason": "redo the last step"})
    assert ready(back) == ["Last"]
    end = complete(api, clerk, complete(api, clerk, back, "Last"), "Final")
    assert end["status"] == "completed"


# --- BPMN errors and escalations within one file ----------------------------------------


@pytest.mark.parametrize(
    ("variables", "expected", "caught"),
    [
        # error end → error boundary
        (
            {"amount": -1, "registered": True},
            ["correct"],
            ("error", "on_invalid", "invalid_amount"),
        ),
        # escalation
        (
            {"amount": 5000, "registered": True},
            ["inform_manager", "issue"],
            ("escalation", "on_large", "large"),
        ),
        # the call activity's error
        (
            {"amount": 5, "registered": False},
            ["register_by_hand"],
            ("error", "on_not_found", "not_found"),
        ),
        ({"amount": 5, "registered": True}, ["issue"], None),
    ],
    ids=["error-boundary", "escalation-boundary", "call-activity-error", "no-error"],
)
def test_errors_and_escalations_are_caught_by_their_boundaries(
    api: Api,
    variables: dict[str, Any],
    expected: list[str],
    caught: tuple[str, str, str] | None,
) -> None:
    assert api.deploy("bpmn_errors.bpmn").status_code == 201
    instance = start(api, api.user("clerk"), "permit_check", **variables)
    assert instance["status"] == "running", instance["incident"]
    assert ready(instance) == expected
    recorded = {
        (e["type"].removesuffix(".caught"), e["element_id"], e["payload"]["code"])
        for e in api.client.get(
            f"/v1/instances/{instance['id']}/events", headers=api.user("monitor")
        ).json()["items"]
        if e["type"] in ("error.caught", "escalation.caught")
    }
    assert recorded == ({caught} if caught else set())


def test_an_uncaught_bpmn_error_is_an_incident_naming_the_element(
    api: Api, reload_every_step: None
) -> None:
    assert api.deploy("bpmn_errors.bpmn").status_code == 201
    instance = start(api, api.user("clerk"), "unguarded")
    assert instance["status"] == "failed"
    incident = instance["incident"]
    assert (incident["element_id"], incident["element_name"]) == ("us_fail", "Check failed")
    assert "'invalid_amount'" in incident["message"] and "caught by no" in incident["message"]
    assert _act(api, instance, "retry", {"reason": "again"})["status"] == "failed"
    carried_on = _act(api, instance, "skip", {"reason": "The check is not needed."})
    assert carried_on["status"] == "running" and ready(carried_on) == ["u_after"]


def test_corpus_uncaught_escalation_completes(api: Api) -> None:
    """UncaughtEscalationTest: an escalation nobody catches is only reported."""
    assert api.deploy(CORPUS / "uncaught_escalation.bpmn").status_code == 201
    instance = start(api, api.user("clerk"), "top_level")
    assert instance["status"] == "completed", instance["incident"]


def test_corpus_exclusive_gateway_without_default(api: Api) -> None:
    """ExclusiveGatewayNoDefaultTest: x = 1 matches no condition; the gateway is in error
    (an incident on Gateway_CheckValue); it cannot be skipped, a retry with x = 2 runs on."""
    assert api.deploy(CORPUS / "exclusive_gateway_no_default.bpmn").status_code == 201
    instance = start(api, api.user("clerk"), "NoDefaultGateway", x=1)
    assert instance["status"] == "failed"
    assert instance["incident"]["element_id"] == "Gateway_CheckValue"
    assert "No conditions satisfied" in instance["incident"]["message"]
    refused = _act(api, instance, "skip", {"reason": "x"}, status=409)
    assert "cannot be skipped" in refused["detail"]
    retried = _act(api, instance, "retry", {"variables": {"x": 2}, "reason": "x is 2"})
    assert ready(retried) == ["Activity_Greater"]


@pytest.mark.parametrize(
    ("values", "outcome"),
    [
        ({"v": -1, "u": -1, "w": -1}, {"v": 0, "u": -1, "w": -1}),
        ({"v": 0, "u": 1, "w": 1}, {"v": 0, "u": 1, "w": 1}),
        ({"v": 0, "u": -1, "w": -1}, None),
    ],
    ids=["default-only", "parallel", "no-path-from-second"],
)
def test_corpus_inclusive_gateway(
    api: Api, values: dict[str, int], outcome: dict[str, int] | None
) -> None:
    """InclusiveGatewayTest: the third case stops in error at the gateway 'second'."""
    assert api.deploy(CORPUS / "inclusive_gateway.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = complete(api, clerk, start(api, clerk, "main"), "set_data", **values)
    if outcome is None:
        assert instance["status"] == "failed"
        assert instance["incident"]["element_id"] == "second"
    else:
        assert instance["status"] == "completed", instance["incident"]
        assert instance["data"] == outcome


def test_corpus_prescript_postscript(api: Api, reload_every_step: None) -> None:
    """PrescriptPostsciptTest: the scripts around 'Any Task' give c and z; without a and b the
    pre-script fails, an incident on the task says so, and a retry with them runs it."""
    assert api.deploy(CORPUS / "prescript_postscript.bpmn").status_code == 201
    clerk = api.user("clerk")
    good = start(api, clerk, "Process_1", a=1, b=2)
    done = complete(api, clerk, good, "Activity_1iqs4li")
    assert done["status"] == "completed" and done["data"] == {"a": 1, "b": 2, "c": 12, "z": 6}
    bad = start(api, clerk, "Process_1")
    assert bad["status"] == "failed"
    assert bad["incident"]["element_id"] == "Activity_1iqs4li"
    assert "Pre-Script" in bad["incident"]["message"]
    retried = _act(api, bad, "retry", {"variables": {"a": 1, "b": 2}, "reason": "a and b given"})
    assert ready(retried) == ["Activity_1iqs4li"]
    done = complete(api, clerk, retried, "Activity_1iqs4li")
    assert done["data"] == {"a": 1, "b": 2, "c": 12, "z": 6}


def _as_before_state_binding(store: Any, instance_id: str) -> None:
    """Make an instance's events as code before revision 0023 wrote them: no state digest,
    chain hashes without it, and no such column."""
    from sqlalchemy import text

    from powerflow.audit_log.chain import CHAINED_FIELDS, event_hash
    from powerflow.db.models import Event
    from powerflow.services.events import hashed_content

    with store.write() as session:
        prev = None
        for ev in session.scalars(
            select(Event).where(Event.instance_id == instance_id).order_by(Event.seq)
        ):
            ev.state_digest = None
            ev.prev_hash = prev
            ev.hash = prev = event_hash(
                prev, hashed_content({c: getattr(ev, c) for c in CHAINED_FIELDS})
            )
        instance = session.get(Instance, instance_id)
        assert instance is not None
        instance.last_event_hash = prev
    with store.engine.begin() as conn:
        conn.execute(text("ALTER TABLE events DROP COLUMN state_digest"))


def test_instances_failed_before_the_upgrade_are_parked_by_it(tmp_path: Any) -> None:
    """Revision 0014 turns each instance that had failed (final until then) into a parked one
    with an open incident, which an administrator can then retry."""
    from sqlalchemy import text

    from powerflow.bootstrap import SYSTEM
    from powerflow.db.engine import Store
    from powerflow.db.migrate import upgrade
    from powerflow.services import definitions, instances, recovery
    from powerflow.services.auth import Principal

    store = Store(f"sqlite:///{tmp_path / 'old.db'}")
    try:
        upgrade(store.engine, "0013")
        with store.engine.begin() as conn:  # today's code writes this column (revision 0023)
            conn.execute(text("ALTER TABLE events ADD COLUMN state_digest VARCHAR(64)"))
        data = (DATA / "fragile.bpmn").read_bytes()
        definitions.deploy(store, data, "fragile.bpmn", SYSTEM, max_bytes=1 << 20)
        clerk = Principal("clara", frozenset({"clerk"}))
        started = instances.start_instance(store, clerk, "fragile", variables={"divisor": 2})
        _as_before_state_binding(store, started.id)
        incident = '{"element_id": "first", "element_name": "Enter the figures", "message": "old"}'
        with store.engine.begin() as conn:
            conn.execute(
                text(
                    "UPDATE instances SET status = 'failed', incident = :incident, "
                    "ended_at = updated_at WHERE id = :id"
                ),
                {"incident": incident, "id": started.id},
            )
        upgrade(store.engine)
        admin = Principal("admin", frozenset({"admin"}))
        [row] = recovery.list_incidents(
            store, admin, status="open", definition_key=None, limit=10, offset=0
        ).items
        assert (row.instance_id, row.element_id, row.message) == (started.id, "first", "old")
        view = instances.get_instance(store, admin, started.id)
        assert view.status == "failed" and view.ended_at is None
        retried = recovery.retry(store, admin, started.id, variables=None, reason="after upgrade")
        assert retried.status == "running" and [t.element_id for t in retried.tasks] == ["first"]
    finally:
        store.dispose()


def test_an_incident_inside_an_embedded_subprocess(api: Api, reload_every_step: None) -> None:
    """The failed script is inside a subprocess: the token moves back to the user task before
    it (inside the same subprocess), and a skip completes the subprocess and the instance."""
    assert api.deploy("subprocess_script.bpmn").status_code == 201
    clerk = api.user("clerk")
    instance = complete(api, clerk, start(api, clerk, "subprocess_peek"), "wait")
    assert instance["status"] == "failed" and instance["incident"]["element_id"] == "peek"
    moved = _act(api, instance, "move", {"to_element": "wait", "reason": "look again"})
    assert moved["status"] == "running" and ready(moved) == ["wait"]
    again = complete(api, clerk, moved, "wait")
    assert again["status"] == "failed" and again["incident"]["id"] != instance["incident"]["id"]
    done = _act(api, again, "skip", {"reason": "The peek is not allowed; skip it."})
    assert done["status"] == "completed" and "leak" not in done["data"]
    assert [i["resolution"] for i in _incidents(api, instance)] == ["skipped", "moved"]
