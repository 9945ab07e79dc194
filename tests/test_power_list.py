"""The power list (GET /v1/powers) and the rules of declaring powers and time limits."""

from __future__ import annotations

import httpx

from conftest import Api

PF = 'xmlns:pf="urn:powerflow:bpmn:1.0"'


def bpmn(pid: str, process_ext: str, task_ext: str = "", *, lane: bool = True) -> bytes:
    """A process with one user task ``act`` (in the lane ``officer`` unless ``lane`` is False)."""
    lanes = (
        '<bpmn:laneSet id="ls"><bpmn:lane id="l1" name="officer">'
        "<bpmn:flowNodeRef>act</bpmn:flowNodeRef></bpmn:lane></bpmn:laneSet>"
        if lane
        else ""
    )
    return f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" {PF}
    id="D_{pid}" targetNamespace="http://example.com">
  <bpmn:process id="{pid}" name="Process {pid}" isExecutable="true">
    <bpmn:extensionElements>{process_ext}</bpmn:extensionElements>
    {lanes}
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="act" name="Decide">
      <bpmn:extensionElements>{task_ext}</bpmn:extensionElements>
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="act"/>
    <bpmn:sequenceFlow id="f2" sourceRef="act" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>""".encode()


def upload(api: Api, name: str, data: bytes) -> httpx.Response:
    return api.client.post(
        "/v1/definitions",
        headers=api.user("designer"),
        files={"file": (f"{name}.bpmn", data)},
    )


SMALL = bpmn(
    "small_payment",
    '<pf:powerItem code="FIN-003" category="other">Fund disbursement</pf:powerItem>'
    "<pf:legalBasis>Accounting Law art. 37</pf:legalBasis>"
    '<pf:timeLimit kind="promised" duration="P5D" calendar="working"/>',
    '<pf:timeLimit duration="P2D" calendar="working"/><pf:risk level="high"/>',
)
LARGE = bpmn(
    "large_payment",
    '<pf:powerItem code="FIN-003" category="other" amountVariable="amount" '
    'amountCap="200000">Large-amount fund disbursement</pf:powerItem>'
    "<pf:responsibleRole>finance_head</pf:responsibleRole>"
    "<pf:legalBasis>Internal Control Norms, art. 27</pf:legalBasis>"
    "<pf:legalBasis>Accounting Law art. 37</pf:legalBasis>"
    '<pf:timeLimit kind="promised" duration="P5D" calendar="working"/>'
    '<pf:timeLimit kind="statutory" duration="P20D" calendar="working" extendable="P10D" '
    'extensionApprover="principal"/>',
)
OTHER = bpmn("licence", '<pf:powerItem code="LIC-001" category="licensing">Licence</pf:powerItem>')
NO_POWER = bpmn("plain", "", lane=False)


def test_the_power_list_groups_processes_under_their_item(api: Api) -> None:
    for name, data in (("small", SMALL), ("large", LARGE), ("other", OTHER), ("plain", NO_POWER)):
        assert upload(api, name, data).status_code == 201
    clerk = api.user("clerk")
    got = api.client.get("/v1/powers", headers=clerk)
    assert got.status_code == 200, got.text
    items = got.json()
    assert [i["code"] for i in items] == ["FIN-003", "LIC-001"]  # plain declares no power
    fin = items[0]
    assert [p["key"] for p in fin["processes"]] == ["large_payment", "small_payment"]
    assert fin["name"] == "Large-amount fund disbursement"  # the first process by key
    assert fin["category"] == "other"
    assert fin["legal_basis"] == ["Internal Control Norms, art. 27", "Accounting Law art. 37"]
    assert fin["responsible_roles"] == ["finance_head", "officer"]
    assert fin["boundary"] == {"amount_variable": "amount", "amount_cap": 200000}
    assert fin["time_limits"]["statutory"] == {
        "duration": "P20D",
        "calendar": "working",
        "kind": "statutory",
        "extendable": "P10D",
        "extension_approver": "principal",
    }
    small = fin["processes"][1]
    assert small["version"] == 1 and small["executable"] is True
    assert small["responsible_roles"] == ["officer"]  # no owner declared: the task's lane
    assert small["elements"] == [
        {
            "element_id": "act",
            "name": "Decide",
            "tag": "userTask",
            "roles": ["officer"],
            "time_limit": {
                "duration": "P2D",
                "calendar": "working",
                "kind": "step",
                "extendable": None,
                "extension_approver": None,
            },
            "risk": {
                "level": "high",
                "measures": [],
                "description": None,
                "require_comment": False,
                "countersign": None,
            },
        }
    ]
    one = api.client.get("/v1/powers/FIN-003", headers=clerk)
    assert one.status_code == 200 and one.json() == fin


def test_only_the_latest_version_counts(api: Api) -> None:
    assert upload(api, "other", OTHER).status_code == 201
    renamed = bpmn(
        "licence", '<pf:powerItem code="LIC-002" category="licensing">Permit</pf:powerItem>'
    )
    assert upload(api, "other2", renamed).status_code == 201
    items = api.client.get("/v1/powers", headers=api.admin).json()
    assert [(i["code"], i["processes"][0]["version"]) for i in items] == [("LIC-002", 2)]


def test_an_unknown_item_is_a_clear_404_and_reading_needs_a_token(api: Api) -> None:
    got = api.client.get("/v1/powers/NOPE-1", headers=api.user("clerk"))
    assert got.status_code == 404
    assert got.headers["content-type"] == "application/problem+json"
    assert "No deployed process exercises the power item 'NOPE-1'" in got.json()["detail"]
    assert api.client.get("/v1/powers").status_code == 401
    assert api.client.get("/v1/powers", headers=api.user("clerk")).json() == []


def test_a_task_without_a_role_is_refused_under_a_power_item(api: Api) -> None:
    data = bpmn("unowned", '<pf:powerItem code="FIN-009">Payment</pf:powerItem>', lane=False)
    got = upload(api, "unowned", data)
    assert got.status_code == 422, got.text
    [problem] = got.json()["problems"]
    assert problem["element_id"] == "act"
    assert "no responsible role" in problem["message"]
    assert "FIN-009" in problem["message"]
    # A candidate group or a pf:responsibleRole is enough.
    owned = bpmn(
        "unowned",
        '<pf:powerItem code="FIN-009">Payment</pf:powerItem>',
        "<pf:responsibleRole>cashier</pf:responsibleRole>",
        lane=False,
    )
    assert upload(api, "owned", owned).status_code == 201


def test_a_task_without_a_role_is_a_warning_without_a_power_item(api: Api) -> None:
    got = upload(api, "plain", NO_POWER)
    assert got.status_code == 201, got.text
    [warning] = got.json()["definitions"][0]["warnings"]
    assert warning["severity"] == "warning" and warning["element_id"] == "act"
    assert "no responsible role" in warning["message"]


def test_time_limits_once_per_kind_on_a_process(api: Api) -> None:
    got = upload(api, "large", LARGE)
    assert got.status_code == 201, got.text
    meta = got.json()["definitions"][0]["metadata"]
    assert meta["time_limit"]["kind"] == "promised"  # the first declared, as before
    assert set(meta["time_limits"]) == {"promised", "statutory"}
    twice = bpmn(
        "twice",
        '<pf:timeLimit kind="promised" duration="P5D"/><pf:timeLimit kind="promised" '
        'duration="P6D"/>',
    )
    refused = upload(api, "twice", twice)
    assert refused.status_code == 422
    assert "kind 'promised' may appear at most once" in refused.json()["problems"][0]["message"]
    on_task = bpmn(
        "task_twice",
        "",
        '<pf:timeLimit kind="step" duration="P1D"/><pf:timeLimit kind="statutory" duration="P6D"/>',
    )
    refused = upload(api, "task_twice", on_task)
    assert refused.status_code == 422
    assert "at most once on an element" in refused.json()["problems"][0]["message"]


def test_bad_extension_and_boundary_values_are_refused(api: Api) -> None:
    cases = {
        '<pf:timeLimit kind="statutory" duration="P5D" extendable="soon"/>': "ISO 8601",
        '<pf:timeLimit kind="statutory" duration="P5D" extensionApprover="a b"/>': "role id",
        '<pf:timeLimit kind="promised" duration="P1M" calendar="working"/>': "working time",
        '<pf:timeLimit kind="promised" duration="-P1D"/>': "longer than zero",
        '<pf:powerItem code="X-1" amountCap="100">x</pf:powerItem>': "amountVariable",
        '<pf:powerItem code="X-1" amountVariable="amount" amountCap="lots">x</pf:powerItem>': (
            "amountCap"
        ),
        '<pf:powerItem code="X-1" amountVariable="amount" amountCap="-5">x</pf:powerItem>': (
            "amountCap"
        ),
    }
    for i, (ext, words) in enumerate(cases.items()):
        got = upload(api, f"bad{i}", bpmn(f"bad{i}", ext))
        assert got.status_code == 422, ext
        assert words in got.json()["problems"][0]["message"], (ext, got.json())


def test_the_new_attributes_validate_against_the_published_schema() -> None:
    from pathlib import Path

    from lxml import etree

    root = Path(__file__).resolve().parents[1]
    schema = etree.XMLSchema(etree.parse(str(root / "api" / "powerflow-bpmn-extensions.xsd")))
    ns = 'xmlns:pf="urn:powerflow:bpmn:1.0"'
    good = [
        f'<pf:powerItem {ns} code="F-1" amountVariable="amount" amountCap="200000.50">x'
        "</pf:powerItem>",
        f'<pf:timeLimit {ns} kind="statutory" duration="P20D" calendar="working" '
        'extendable="P10D" extensionApprover="principal"/>',
    ]
    bad = [
        f'<pf:powerItem {ns} code="F-1" amountVariable="1amount">x</pf:powerItem>',
        f'<pf:powerItem {ns} code="F-1" amountVariable="a" amountCap="-1">x</pf:powerItem>',
        f'<pf:timeLimit {ns} duration="P2D" extendable="soon"/>',
        f'<pf:timeLimit {ns} duration="P2D" extensionApprover="two words"/>',
    ]
    for text in good:
        assert schema.validate(etree.fromstring(text)), (text, schema.error_log)
    for text in bad:
        assert not schema.validate(etree.fromstring(text)), text
