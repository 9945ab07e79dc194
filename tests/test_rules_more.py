"""Rules beyond the kind matrix: claims, upload problems, API rule versions, declarations,
lists, and the cumulative window under a controlled clock."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from conftest import Api
from powerflow.clock import ManualClock
from rules_support import complete, deploy_xml, events, process_xml, snapshot, start, types

SOD = (
    '<pf:rule id="P3-SOD" kind="separation-of-duties" tasks="prepare,review" starter="{starter}" '
    'legalBasis="Accounting Law art. 37">The checker must be neither the maker nor the '
    "requester.</pf:rule>"
)


def _users(api: Api) -> dict[str, dict[str, str]]:
    return {
        "maker": api.user("clerk,preparer,reviewer", "maker"),
        "checker": api.user("clerk,reviewer", "checker"),
        "requester": api.user("clerk,reviewer", "requester"),
    }


def test_a_blocked_claim_is_refused_and_recorded_once(api: Api, tmp_path: Path) -> None:
    assert deploy_xml(api, tmp_path, process_xml("p", process=SOD.format(starter="true")))
    users = _users(api)
    instance = start(api, users["requester"], "p")
    done = complete(api, users["maker"], instance["tasks"][0]["id"])
    review = done.json()["tasks"][0]["id"]
    before = snapshot(api, instance["id"])
    seen = len(types(api, instance["id"]))

    for who in ("maker", "requester"):  # the maker did prepare; the requester started it
        refused = api.client.post(f"/v1/tasks/{review}/claim", headers=users[who])
        assert refused.status_code == 403, refused.text
        assert refused.json()["rule_id"] == "P3-SOD"
        assert refused.json()["violations"][0]["evidence"]
    assert snapshot(api, instance["id"]) == before
    assert types(api, instance["id"])[seen:] == ["violation.blocked", "alert.raised"] * 2

    claimed = api.client.post(f"/v1/tasks/{review}/claim", headers=users["checker"])
    assert claimed.status_code == 200, claimed.text
    assert claimed.json()["assignee"] == "checker"
    violations = api.client.get("/v1/violations", headers=api.admin).json()["items"]
    assert {(v["actor"], v["act"], v["effect"]) for v in violations} == {
        ("maker", "claim", "block"),
        ("requester", "claim", "block"),
    }


def test_a_warning_on_claim_lets_the_claim_through_and_records_it(api: Api, tmp_path: Path) -> None:
    rule = SOD.format(starter="false").replace("kind=", 'effect="warn" kind=')
    assert deploy_xml(api, tmp_path, process_xml("p", process=rule)).status_code == 201
    users = _users(api)
    instance = start(api, users["maker"], "p")
    review = complete(api, users["maker"], instance["tasks"][0]["id"]).json()["tasks"][0]["id"]
    claimed = api.client.post(f"/v1/tasks/{review}/claim", headers=users["maker"])
    assert claimed.status_code == 200, claimed.text
    assert types(api, instance["id"])[-3:] == ["violation.recorded", "alert.raised", "task.claimed"]
    # completing is checked again (on="claim,complete" by default for this kind)
    done = complete(api, users["maker"], review)
    assert done.status_code == 200
    assert types(api, instance["id"]).count("violation.recorded") == 2


BAD_RULES = [
    ('<pf:rule id="X" kind="nonsense">Text.</pf:rule>', "kind 'nonsense' is not one of"),
    ('<pf:rule kind="authority" variable="a" caps="r:1">Text.</pf:rule>', "needs an id"),
    ('<pf:rule id="X" kind="authority" variable="a" caps="r:1"/>', "needs its sentence"),
    ('<pf:rule id="X" kind="authority" variable="a" caps="r:lots">T.</pf:rule>', "number"),
    (
        '<pf:rule id="X" kind="cumulative" variable="a" key="k" window="P30D" threshold="x">T.'
        "</pf:rule>",
        "threshold must be a number",
    ),
    ('<pf:rule id="X" kind="quorum" present="p" memberCount="0">T.</pf:rule>', "member_count"),
    (
        '<pf:rule id="X" kind="separation-of-duties" tasks="prepare,nowhere">T.</pf:rule>',
        "'nowhere', which is no element of this process",
    ),
    (
        '<pf:rule id="X" kind="required-before" before="start">T.</pf:rule>',
        "which is not a human task",
    ),
    (
        '<pf:rule id="X" kind="expression" require="__import__(\'os\').getcwd()">T.</pf:rule>',
        "not an allowed expression",
    ),
    ('<pf:rule id="X" kind="expression" require="data[">T.</pf:rule>', "not an allowed"),
    (
        '<pf:rule id="X" kind="list" variable="v" list="l" colour="red">T.</pf:rule>',
        "does not take colour",
    ),
    (
        '<pf:rule id="X" kind="authority" effect="stop" variable="a" caps="r:1">T.</pf:rule>',
        "effect 'stop'",
    ),
]


@pytest.mark.parametrize(("rule", "message"), BAD_RULES)
def test_a_bad_rule_is_refused_at_upload_with_its_line(
    sqlite_api: Api, tmp_path: Path, rule: str, message: str
) -> None:
    response = deploy_xml(sqlite_api, tmp_path, process_xml("bad", review=rule))
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    assert any(message in p["message"] and p["line"] == 12 for p in problems), problems


def test_duplicate_rule_ids_and_rules_on_lanes_are_refused(sqlite_api: Api, tmp_path: Path) -> None:
    rule = '<pf:rule id="D" kind="authority" variable="a" caps="r:1">T.</pf:rule>'
    response = deploy_xml(sqlite_api, tmp_path, process_xml("dup", review=rule, prepare=rule))
    assert response.status_code == 422
    assert "declared twice" in response.json()["problems"][0]["message"]


def test_rules_through_the_api_are_versioned_and_violations_keep_their_version(
    api: Api, tmp_path: Path
) -> None:
    assert deploy_xml(api, tmp_path, process_xml("pay")).status_code == 201
    users = _users(api)
    body = {
        "kind": "authority",
        "effect": "block",
        "message": "Above your authority: refer it up.",
        "legal_basis": ["Delegation of authority, art. 3"],
        "process_key": "pay",
        "elements": ["review"],
        "params": {"variable": "amount", "caps": {"reviewer": 1000}},
    }
    clerk = api.client.put("/v1/rules/ORG-CAP", headers=users["checker"], json=body)
    assert clerk.status_code == 403
    first = api.client.put("/v1/rules/ORG-CAP", headers=api.admin, json=body)
    assert first.status_code == 201, first.text
    assert (first.json()["version"], first.json()["source"]) == (1, "api")

    def attempt(amount: int) -> int:
        instance = start(api, users["maker"], "pay")
        done = complete(api, users["maker"], instance["tasks"][0]["id"])
        return int(
            complete(
                api, users["checker"], done.json()["tasks"][0]["id"], amount=amount
            ).status_code
        )

    assert attempt(5000) == 403
    assert attempt(500) == 200
    body["params"] = {"variable": "amount", "caps": {"reviewer": 10000}}
    body["effect"] = "warn"
    second = api.client.put("/v1/rules/ORG-CAP", headers=api.admin, json=body)
    assert second.status_code == 200 and second.json()["version"] == 2
    assert attempt(5000) == 200
    assert attempt(20000) == 200  # a warning now
    found = api.client.get("/v1/violations?rule_id=ORG-CAP", headers=api.admin).json()["items"]
    assert [(v["rule_version"], v["effect"], v["rule_source"]) for v in found] == [
        (2, "warn", "api"),
        (1, "block", "api"),
    ]
    detail = api.client.get("/v1/rules/ORG-CAP", headers=api.user("monitor")).json()
    assert [v["version"] for v in detail["versions"]] == [2, 1]
    retired = api.client.delete("/v1/rules/ORG-CAP", headers=api.admin)
    assert retired.status_code == 200 and retired.json()["enabled"] is False
    assert attempt(20000) == 200
    assert len(api.client.get("/v1/violations", headers=api.admin).json()["items"]) == 2
    listed = api.client.get("/v1/rules", headers=api.user("auditor")).json()
    assert all(r["rule_id"] != "ORG-CAP" for r in listed)
    assert api.client.get("/v1/rules", headers=users["checker"]).status_code == 403


def test_the_rule_list_shows_bpmn_rules_of_the_latest_versions(api: Api, tmp_path: Path) -> None:
    assert deploy_xml(api, tmp_path, process_xml("p", process=SOD.format(starter="false")))
    listed = api.client.get("/v1/rules", headers=api.user("designer")).json()
    assert [(r["rule_id"], r["source"], r["version"], r["process_key"]) for r in listed] == [
        ("P3-SOD", "bpmn", 1, "p")
    ]
    assert listed[0]["elements"] == ["prepare", "review"]
    assert listed[0]["on"] == ["claim", "complete"]
    assert api.client.get("/v1/rules/P3-SOD", headers=api.admin).json()["source"] == "bpmn"
    assert api.client.get("/v1/rules/none", headers=api.admin).status_code == 404
    bad = api.client.put(
        "/v1/rules/X", headers=api.admin, json={"kind": "quorum", "message": "m", "params": {}}
    )
    assert bad.status_code == 422 and "needs present" in bad.json()["detail"]
    unknown = api.client.put(
        "/v1/rules/Y",
        headers=api.admin,
        json={
            "kind": "required-before",
            "message": "m",
            "process_key": "p",
            "elements": ["review"],
            "params": {"before": "nowhere"},
        },
    )
    assert unknown.status_code == 422 and "'nowhere'" in unknown.json()["detail"]


def test_recusal_follows_declarations_and_their_withdrawal(api: Api, tmp_path: Path) -> None:
    rule = (
        '<pf:rule id="R12" kind="recusal" variables="payee">You declared a relationship with '
        "this payee: step aside.</pf:rule>"
    )
    assert deploy_xml(api, tmp_path, process_xml("p", review=rule)).status_code == 201
    users = _users(api)
    declared = api.client.post(
        "/v1/declarations",
        headers=api.admin,
        json={"counterparty": "Qinghe Supplies", "kind": "in_law", "person": "checker"},
    )
    assert declared.status_code == 201, declared.text
    on_behalf = api.client.post(
        "/v1/declarations",
        headers=users["maker"],
        json={"counterparty": "A", "kind": "other", "person": "checker"},
    )
    assert on_behalf.status_code == 403
    mine = api.client.get("/v1/declarations", headers=users["checker"]).json()["items"]
    assert [d["counterparty"] for d in mine] == ["Qinghe Supplies"]
    assert api.client.get("/v1/declarations", headers=users["maker"]).json()["items"] == []

    instance = start(api, users["maker"], "p", payee="QINGHE supplies")
    review = complete(api, users["maker"], instance["tasks"][0]["id"]).json()["tasks"][0]["id"]
    claim = api.client.post(f"/v1/tasks/{review}/claim", headers=users["checker"])
    assert claim.status_code == 403 and claim.json()["rule_id"] == "R12"
    assert (
        api.client.delete(
            f"/v1/declarations/{declared.json()['id']}", headers=users["maker"]
        ).status_code
        == 403
    )
    own = api.client.delete(f"/v1/declarations/{declared.json()['id']}", headers=users["checker"])
    assert own.status_code == 403  # the declarant asks a supervisor (M11)
    withdrawn = api.client.delete(
        f"/v1/declarations/{declared.json()['id']}", headers=api.user("monitor", "supervisor")
    )
    assert withdrawn.status_code == 200 and withdrawn.json()["withdrawn_at"]
    assert api.client.post(f"/v1/tasks/{review}/claim", headers=users["checker"]).status_code == 200
    kept = api.client.get(
        "/v1/declarations?include_withdrawn=true&person=checker", headers=api.admin
    ).json()["items"]
    assert kept[0]["withdrawn_by"] == "supervisor"


def test_lists_are_managed_by_administrators_and_keep_removed_entries(api: Api) -> None:
    monitor = api.user("monitor")
    assert api.client.put("/v1/lists/suppliers", headers=monitor, json={}).status_code == 403
    assert api.client.put("/v1/lists/suppliers", headers=api.admin, json={}).status_code == 201
    again = api.client.put("/v1/lists/suppliers", headers=api.admin, json={"description": "Barred"})
    assert again.status_code == 200 and again.json()["description"] == "Barred"
    entry = {"value": "Bad Co", "reason": "Court ruling"}
    assert api.client.post("/v1/lists/suppliers/entries", headers=api.admin, json=entry)
    dup = api.client.post(
        "/v1/lists/suppliers/entries", headers=api.admin, json={"value": " bad CO"}
    )
    assert dup.status_code == 409
    assert (
        api.client.post("/v1/lists/nolist/entries", headers=api.admin, json=entry).status_code
        == 404
    )
    assert [
        e["value"] for e in api.client.get("/v1/lists/suppliers", headers=monitor).json()["entries"]
    ] == ["Bad Co"]
    removed = api.client.delete("/v1/lists/suppliers/entries/bad%20co", headers=api.admin)
    assert removed.status_code == 200 and removed.json()["removed_by"] == "admin"
    assert (
        api.client.delete("/v1/lists/suppliers/entries/Bad%20Co", headers=api.admin).status_code
        == 404
    )
    assert api.client.get("/v1/lists/suppliers", headers=monitor).json()["entries"] == []
    history = api.client.get("/v1/lists/suppliers?removed=true", headers=monitor).json()
    assert history["entries"][0]["removed_at"]
    assert [x["name"] for x in api.client.get("/v1/lists", headers=monitor).json()] == ["suppliers"]
    assert api.client.get("/v1/lists", headers=api.user("clerk")).status_code == 403


def test_the_cumulative_window_slides_with_the_clock(api: Api, tmp_path: Path) -> None:
    clock = ManualClock(datetime(2026, 3, 1, 2, 0, tzinfo=UTC))
    api.store.clock = clock
    rule = (
        '<pf:rule id="R13" kind="cumulative" variable="amount" key="payee,budget" '
        'window="P30D" threshold="100000">Payments to one payee on one budget line within 30 '
        "days reach 100,000: split payments are not allowed.</pf:rule>"
    )
    assert deploy_xml(api, tmp_path, process_xml("p", review=rule)).status_code == 201
    users = _users(api)

    def pay(amount: int, payee: str = "Qinghe", budget: str = "30218") -> int:
        instance = start(api, users["maker"], "p")
        done = complete(api, users["maker"], instance["tasks"][0]["id"])
        response = complete(
            api,
            users["checker"],
            done.json()["tasks"][0]["id"],
            amount=amount,
            payee=payee,
            budget=budget,
        )
        return int(response.status_code)

    assert pay(60000) == 200
    clock.advance(timedelta(days=10))
    assert pay(30000) == 200  # 90,000 within the window
    assert pay(20000) == 403  # would make 110,000
    assert pay(20000, budget="30219") == 200  # another budget line
    clock.advance(timedelta(days=21))  # the first payment left the window: 30,000 remain
    assert pay(20000) == 200
    assert pay(49999) == 200  # 99,999
    assert pay(1) == 403


def test_a_process_level_rule_guards_every_human_task(api: Api, tmp_path: Path) -> None:
    rule = (
        '<pf:rule id="R05" kind="reason-required" variable="decision" values="rejected" '
        'reason="reason" effect="record">A rejection needs its reason.</pf:rule>'
    )
    assert deploy_xml(api, tmp_path, process_xml("p", process=rule)).status_code == 201
    users = _users(api)
    instance = start(api, users["maker"], "p")
    done = complete(api, users["maker"], instance["tasks"][0]["id"], decision="rejected")
    assert done.status_code == 200
    found = api.client.get("/v1/violations?effect=record", headers=api.admin).json()["items"]
    assert [(v["element_id"], v["level"]) for v in found] == [("prepare", None)]
    assert api.client.get("/v1/violations?effect=bad", headers=api.admin).status_code == 422
    assert api.client.get("/v1/violations", headers=users["maker"]).status_code == 403


def test_the_published_schema_takes_the_documented_rules() -> None:
    import re

    from lxml import etree

    from powerflow.engine.rules import from_element, normalize

    root = Path(__file__).resolve().parents[1]
    schema = etree.XMLSchema(etree.parse(str(root / "api" / "powerflow-bpmn-extensions.xsd")))
    doc = (root / "docs" / "extensions.md").read_text()
    examples = re.findall(r"<pf:rule\s.*?</pf:rule>", doc, re.S)
    assert len(examples) >= 10
    pf = 'xmlns:pf="urn:powerflow:bpmn:1.0" '
    for example in examples:
        element = etree.fromstring(example.replace("<pf:rule", f"<pf:rule {pf}", 1))
        assert schema.validate(element), (example, schema.error_log)
        assert normalize(from_element(element), bpmn=True)["message"]
    wrong = f'<pf:rule {pf}id="a" kind="nonsense">T.</pf:rule>'
    assert not schema.validate(etree.fromstring(wrong))


class _NoDatabase:
    """Stands where the act's connection would be: any use of it fails the test."""

    def __getattr__(self, name: str) -> object:
        raise AssertionError(f"the policy used the database ({name}) with no rule to check")


def test_an_act_no_rule_guards_costs_no_statement(api: Api, tmp_path: Path) -> None:
    from types import SimpleNamespace

    from powerflow.services import definitions
    from powerflow.services.auth import Principal
    from powerflow.services.power import policy, rules

    rule = '<pf:rule id="R" kind="authority" variable="a" caps="reviewer:1">T.</pf:rule>'
    assert deploy_xml(api, tmp_path, process_xml("p", review=rule)).status_code == 201
    users = _users(api)
    instance = start(api, users["maker"], "p")  # an act warms the API rules' cache
    assert complete(api, users["maker"], instance["tasks"][0]["id"]).status_code == 200
    task = SimpleNamespace(
        id="t", name="Prepare", element_id="prepare", roles=["preparer"], assignee=None
    )
    with api.store.begin(write=False) as conn:
        definition = definitions.resolve(api.store, conn, "p", None)
        rules.applicable(api.store, conn, definition, "prepare", "claim")  # fresh cache
    for act in ("claim", "complete"):
        outcome = policy.check(
            api.store,
            _NoDatabase(),  # type: ignore[arg-type]
            act=act,
            principal=Principal("maker", frozenset({"preparer"})),
            definition=definition,
            task=task,
            load_instance=lambda: (_ for _ in ()).throw(AssertionError("instance loaded")),
        )
        assert outcome is None


def test_an_expression_that_fails_at_run_time_breaks_its_rule(api: Api, tmp_path: Path) -> None:
    rule = (
        '<pf:rule id="X" kind="expression" require="data[\'missing\'] &gt; 0">Needs a positive '
        "'missing'.</pf:rule>"
    )
    assert deploy_xml(api, tmp_path, process_xml("p", review=rule)).status_code == 201
    users = _users(api)
    instance = start(api, users["maker"], "p")
    review = complete(api, users["maker"], instance["tasks"][0]["id"]).json()["tasks"][0]["id"]
    refused = complete(api, users["checker"], review, note="x")
    assert refused.status_code == 403
    assert "missing" in refused.json()["violations"][0]["evidence"]["error"]


def test_a_rule_without_a_level_takes_it_from_the_process_alert_profile(
    api: Api, tmp_path: Path
) -> None:
    """The profile's rule_levels decide the alert of a warn or block rule without a level."""
    strict = {
        "description": "warnings are red",
        "thresholds": [{"level": "red", "limit": "statutory", "offset": "PT0S"}],
        "rule_levels": {"warn": "red", "block": "red"},
    }
    assert api.client.put(
        "/v1/alert-profiles/strict", headers=api.admin, json=strict
    ).status_code in (
        200,
        201,
    )
    rule = (
        '<pf:rule id="W-1" kind="reason-required" effect="warn" variable="decision" '
        'values="rejected" reason="reason">A rejection needs its reason.</pf:rule>'
    )
    levels = {}
    for key, profile in (("p_strict", '<pf:alertProfile name="strict"/>'), ("p_default", "")):
        xml = process_xml(key, review=rule, process=profile)
        assert deploy_xml(api, tmp_path, xml, key).status_code == 201
        maker = api.user("clerk,preparer", f"maker-{key}")
        checker = api.user("clerk,reviewer", f"checker-{key}")
        instance = start(api, maker, key)
        assert complete(api, maker, instance["tasks"][0]["id"]).status_code == 200
        listed = api.client.get(
            f"/v1/tasks?instance_id={instance['id']}&state=ready", headers=api.admin
        )
        review = listed.json()["items"][0]
        done = complete(api, checker, review["id"], decision="rejected")
        assert done.status_code == 200, done.text
        raised = [e for e in events(api, instance["id"]) if e["type"] == "alert.raised"]
        levels[key] = [e["payload"]["level"] for e in raised]
        [violation] = api.client.get(
            "/v1/violations", headers=api.admin, params={"instance_id": instance["id"]}
        ).json()["items"]
        assert violation["level"] == levels[key][0]
    assert levels == {"p_strict": ["red"], "p_default": ["yellow"]}


def test_the_rule_list_filters_by_process_source_and_kind(api: Api, tmp_path: Path) -> None:
    rule = (
        '<pf:rule id="F-1" kind="reason-required" variable="d" values="no" reason="r">'
        "Why?</pf:rule>"
    )
    assert deploy_xml(api, tmp_path, process_xml("p_filter", review=rule), "f").status_code == 201
    body = {"kind": "expression", "message": "Org-wide.", "params": {"require": "True"}}
    assert api.client.put("/v1/rules/ORG-1", headers=api.admin, json=body).status_code == 201
    other = {**body, "process_key": "p_other", "message": "Another process."}
    assert api.client.put("/v1/rules/OTHER-1", headers=api.admin, json=other).status_code == 201

    def ids(**params: str) -> list[str]:
        got = api.client.get("/v1/rules", headers=api.admin, params=params)
        assert got.status_code == 200, got.text
        return sorted(r["rule_id"] for r in got.json())

    assert ids() == ["F-1", "ORG-1", "OTHER-1"]
    assert ids(process_key="p_filter") == ["F-1", "ORG-1"]
    assert ids(source="api") == ["ORG-1", "OTHER-1"]
    assert ids(kind="reason-required") == ["F-1"]
    bad = api.client.get("/v1/rules", headers=api.admin, params={"kind": "nonsense"})
    assert bad.status_code == 422 and "kind must be one of" in bad.json()["detail"]


def test_a_list_entry_added_by_another_worker_is_seen_after_the_check_interval(
    api: Api, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Lists are kept in memory per worker; another worker's change is seen once the version
    check runs again (every CHECK_SECONDS; here 0, so at the next act) - never missed."""
    from powerflow.db.engine import Store
    from powerflow.services.auth import Principal
    from powerflow.services.power import lists, snapshots

    monkeypatch.setattr(snapshots, "CHECK_SECONDS", 0.0)
    rule = '<pf:rule id="L-1" kind="list" variable="payee" list="barred">Barred.</pf:rule>'
    assert deploy_xml(api, tmp_path, process_xml("p_lists", prepare=rule), "l").status_code == 201
    admin = Principal("admin", frozenset({"admin"}))
    lists.put_list(api.store, admin, "barred", "Barred suppliers")
    maker = api.user("clerk,preparer", "maker")
    first = start(api, maker, "p_lists")
    assert complete(api, maker, first["tasks"][0]["id"], payee="Evil Corp").status_code == 200
    other = Store(str(api.store.url.render_as_string(hide_password=False)))
    try:
        lists.add_entry(other, admin, "barred", "Evil Corp", "found out")  # another worker
    finally:
        other.dispose()
    second = start(api, maker, "p_lists")
    refused = complete(api, maker, second["tasks"][0]["id"], payee="evil corp ")
    assert refused.status_code == 403 and refused.json()["rule_id"] == "L-1", refused.text


def test_two_cumulative_rules_on_one_act_sum_their_own_keys_and_windows(
    api: Api, tmp_path: Path
) -> None:
    """Several cumulative rules of one act are summed in one statement, each by its own key
    and window."""
    rules = (
        '<pf:rule id="C-1" kind="cumulative" variable="amount" key="payee" window="P30D" '
        'threshold="1000" effect="warn">Payee total.</pf:rule>'
        '<pf:rule id="C-2" kind="cumulative" variable="amount" key="budget" '
        'window="calendar-year" threshold="250" effect="warn">Budget line total.</pf:rule>'
    )
    assert deploy_xml(api, tmp_path, process_xml("p_cum2", prepare=rules), "c").status_code == 201
    maker = api.user("clerk,preparer", "maker")
    found = []
    for amount, payee in ((200, "A Ltd"), (40, "B Ltd"), (100, "A Ltd")):
        instance = start(api, maker, "p_cum2")
        done = complete(
            api, maker, instance["tasks"][0]["id"], amount=amount, payee=payee, budget="OPS"
        )
        assert done.status_code == 200, done.text
        found.append(
            [
                (v["rule_id"], v["evidence"]["total"])
                for v in api.client.get(
                    "/v1/violations", headers=api.admin, params={"instance_id": instance["id"]}
                ).json()["items"]
            ]
        )
    assert found == [[], [], [("C-2", 340.0)]]
