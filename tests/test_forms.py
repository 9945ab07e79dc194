"""Submitted data is bounded by the model: a task accepts its declared fields and nothing else,
a task that declares nothing accepts nothing unless the model opts in (pf:acceptsData), and the
variables of a new instance are those of the start form (issue 7, item 1)."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import ROOT, Api

REVIEW = {"dept_head_approved": True, "dept_head_opinion": "Ok"}
PAYMENT = {"applicant_name": "Li Ming", "amount": 120000, "purpose": "Heating repair"}
REQUEST = {
    "amount": 120000,
    "purpose": "Repair of the office heating system",
    "payee": "Qinghe Heating Engineering Co., Ltd.",
    "payee_account": "6222020200112233",
    "budget_line": "2025-30213 Maintenance",
    "invoice_numbers": "04412345,04412346",
}


def _complete(api: Api, headers: dict[str, str], task_id: str, data: dict[str, Any]) -> Any:
    return api.client.post(f"/v1/tasks/{task_id}/complete", headers=headers, json={"data": data})


def _only_task(instance: dict[str, Any], element_id: str) -> dict[str, Any]:
    assert [t["element_id"] for t in instance["tasks"]] == [element_id]
    return dict(instance["tasks"][0])


def test_the_deputy_cannot_skip_the_principal_with_an_undeclared_field(api: Api) -> None:
    """The reported exploit: on a 120,000 payment the deputy adds "tier": "deputy" to skip the
    principal's approval. It is refused, and the instance still needs the principal."""
    assert (
        api.deploy(ROOT / "processes" / "collective_decision.bpmn").status_code == 201
    )  # P3 calls it
    assert api.deploy(ROOT / "processes" / "fund_disbursement.bpmn").status_code == 201
    people = {
        role: api.user(f"clerk,{role}")
        for role in ("handler", "department-head", "finance-reviewer", "finance-deputy")
    }
    started = api.client.post(
        "/v1/instances",
        headers=people["handler"],
        json={"definition_key": "fund_disbursement", "variables": PAYMENT},
    )
    assert started.status_code == 201, started.text
    instance = started.json()
    steps = [
        ("submit_request", "handler", REQUEST),
        ("review_dept_head", "department-head", REVIEW),
        (
            "finance_review",
            "finance-reviewer",
            {"budget_available": True, "finance_decision": "approve", "finance_opinion": "Ok"},
        ),
    ]
    for element_id, role, data in steps:
        task = _only_task(instance, element_id)
        done = _complete(api, people[role], task["id"], data)
        assert done.status_code == 200, done.text
        instance = done.json()
    deputy_task = _only_task(instance, "deputy_approval")

    sneaky = {"deputy_approved": True, "deputy_opinion": "Agreed.", "tier": "deputy"}
    refused = _complete(api, people["finance-deputy"], deputy_task["id"], sneaky)
    assert refused.status_code == 422, refused.text
    body = refused.json()
    assert "'tier' is not a field of the task's form" in body["detail"]
    assert body["fields"] == ["'tier' is not a field of the task's form."]

    unchanged = api.client.get(f"/v1/instances/{instance['id']}", headers=api.admin).json()
    assert unchanged["data"].get("tier") == "principal"
    _only_task(unchanged, "deputy_approval")

    honest = _complete(
        api,
        people["finance-deputy"],
        deputy_task["id"],
        {"deputy_approved": True, "deputy_opinion": "Agreed."},
    )
    assert honest.status_code == 200, honest.text
    _only_task(honest.json(), "principal_approval")


def test_every_undeclared_field_is_named(api: Api) -> None:
    api.deploy(ROOT / "processes" / "collective_decision.bpmn")  # fund_disbursement calls it
    api.deploy(ROOT / "processes" / "fund_disbursement.bpmn")
    handler = api.user("clerk,handler")
    instance = api.client.post(
        "/v1/instances",
        headers=handler,
        json={"definition_key": "fund_disbursement", "variables": PAYMENT},
    ).json()
    task = _only_task(instance, "submit_request")
    refused = _complete(api, handler, task["id"], {**REQUEST, "tier": "department", "zz": 1})
    assert refused.status_code == 422
    assert refused.json()["fields"] == [
        "'tier' is not a field of the task's form.",
        "'zz' is not a field of the task's form.",
    ]


GENERIC = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:camunda="http://camunda.org/schema/1.0/bpmn" xmlns:pf="urn:powerflow:bpmn:1.0"
    id="d" targetNamespace="urn:test">
  <bpmn:process id="generic" isExecutable="true">
    {process_ext}
    <bpmn:startEvent id="start">{start_ext}<bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="bare" name="Bare task">{bare_ext}
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:userTask>
    <bpmn:userTask id="listed" name="Listed task">
      <bpmn:extensionElements><pf:acceptsData fields="comment, score"/></bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:userTask>
    <bpmn:userTask id="formed" name="Task with a form">
      <bpmn:extensionElements>
        <camunda:formData><camunda:formField id="approved" label="Approve?" type="boolean"/>
        </camunda:formData>
      </bpmn:extensionElements>
      <bpmn:incoming>f3</bpmn:incoming><bpmn:outgoing>f4</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="end"><bpmn:incoming>f4</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="bare"/>
    <bpmn:sequenceFlow id="f2" sourceRef="bare" targetRef="listed"/>
    <bpmn:sequenceFlow id="f3" sourceRef="listed" targetRef="formed"/>
    <bpmn:sequenceFlow id="f4" sourceRef="formed" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def _generic(api: Api, tmp_path: Any, **parts: str) -> None:
    values = {"process_ext": "", "start_ext": "", "bare_ext": "", **parts}
    path = tmp_path / "generic.bpmn"
    path.write_text(GENERIC.format(**values))
    response = api.deploy(path)
    assert response.status_code == 201, response.text


def _start(api: Api, headers: dict[str, str], variables: dict[str, Any]) -> Any:
    return api.client.post(
        "/v1/instances", headers=headers, json={"definition_key": "generic", "variables": variables}
    )


def test_a_task_without_declared_fields_accepts_no_data(api: Api, tmp_path: Any) -> None:
    _generic(api, tmp_path)
    clerk = api.user("clerk")
    assert _start(api, clerk, {"tier": "x"}).status_code == 422
    instance = _start(api, clerk, {}).json()
    bare = _only_task(instance, "bare")
    refused = _complete(api, clerk, bare["id"], {"approved": True})
    assert refused.status_code == 422
    assert "declares no form fields, so it accepts no data" in refused.json()["detail"]
    assert refused.json()["fields"] == ["'approved' is not a field of the task's form."]
    instance = _complete(api, clerk, bare["id"], {}).json()

    listed = _only_task(instance, "listed")
    assert _complete(api, clerk, listed["id"], {"comment": "x", "other": 1}).status_code == 422
    instance = _complete(api, clerk, listed["id"], {"comment": "ok", "score": [1, 2]}).json()

    formed = _only_task(instance, "formed")
    refused = _complete(api, clerk, formed["id"], {"approved": "yes"})
    assert refused.json()["fields"] == ["'Approve?' (approved) must be true or false."]
    assert _complete(api, clerk, formed["id"], {"approved": True}).json()["status"] == "completed"


@pytest.mark.parametrize(
    "process_ext",
    [
        '<bpmn:extensionElements><pf:acceptsData fields="*"/></bpmn:extensionElements>',
        "<bpmn:extensionElements><camunda:properties>"
        '<camunda:property name="pf:acceptsData" value="*"/>'
        "</camunda:properties></bpmn:extensionElements>",
    ],
    ids=["element", "camunda-property"],
)
def test_a_generic_model_opts_in_for_the_whole_process(
    api: Api, tmp_path: Any, process_ext: str
) -> None:
    """fields="*" on the process: the start event and the tasks that declare nothing take any
    field; a task that declares its own fields still takes only those."""
    _generic(api, tmp_path, process_ext=process_ext)
    clerk = api.user("clerk")
    started = _start(api, clerk, {"anything": {"nested": True}})
    assert started.status_code == 201, started.text
    bare = _only_task(started.json(), "bare")
    instance = _complete(api, clerk, bare["id"], {"whatever": 1}).json()
    listed = _only_task(instance, "listed")
    assert _complete(api, clerk, listed["id"], {"whatever": 1}).status_code == 422
    instance = _complete(api, clerk, listed["id"], {"comment": "c"}).json()
    formed = _only_task(instance, "formed")
    assert _complete(api, clerk, formed["id"], {"approved": True, "x": 1}).status_code == 422


def test_a_task_opts_in_on_its_own(api: Api, tmp_path: Any) -> None:
    _generic(
        api,
        tmp_path,
        bare_ext='<bpmn:extensionElements><pf:acceptsData fields="*"/></bpmn:extensionElements>',
    )
    clerk = api.user("clerk")
    bare = _only_task(_start(api, clerk, {}).json(), "bare")
    assert _complete(api, clerk, bare["id"], {"free": "form"}).status_code == 200


START_FORM = (
    "<bpmn:extensionElements><camunda:formData>"
    '<camunda:formField id="amount" label="Amount" type="long">'
    '<camunda:validation><camunda:constraint name="required"/></camunda:validation>'
    "</camunda:formField>"
    '<camunda:formField id="channel" label="Channel" type="enum">'
    '<camunda:value id="letter" name="Letter"/><camunda:value id="visit" name="Visit"/>'
    "</camunda:formField>"
    '</camunda:formData><pf:acceptsData fields="note"/></bpmn:extensionElements>'
)


def test_start_variables_are_those_of_the_start_form(api: Api, tmp_path: Any) -> None:
    _generic(api, tmp_path, start_ext=START_FORM)
    clerk = api.user("clerk")
    undeclared = _start(api, clerk, {"amount": 5, "tier": "department"})
    assert undeclared.status_code == 422
    assert undeclared.json()["fields"] == ["'tier' is not a field of the process's start form."]
    assert "its fields: amount, channel, note" in undeclared.json()["detail"]
    wrong = _start(api, clerk, {"amount": "many", "channel": "fax"})
    assert wrong.json()["fields"] == [
        "'Amount' (amount) must be a whole number.",
        "'Channel' (channel) must be one of: letter, visit.",
    ]
    missing = _start(api, clerk, {"channel": "visit"})
    assert missing.json()["fields"] == ["'Amount' (amount) is required."]
    listed = api.client.get("/v1/instances?definition_key=generic", headers=api.admin).json()
    assert listed["items"] == []
    started = _start(api, clerk, {"amount": 5, "channel": "letter", "note": ["any", "json"]})
    assert started.status_code == 201, started.text
    assert started.json()["data"] == {"amount": 5, "channel": "letter", "note": ["any", "json"]}


@pytest.mark.parametrize(
    ("fragment", "message"),
    [
        (
            '<bpmn:scriptTask id="s"><bpmn:extensionElements><pf:acceptsData fields="*"/>'
            "</bpmn:extensionElements><bpmn:script>x = 1</bpmn:script></bpmn:scriptTask>",
            "pf:acceptsData belongs on a bpmn:process, a start event or a human task",
        ),
        (
            '<bpmn:userTask id="u"><bpmn:extensionElements><pf:acceptsData fields="a b"/>'
            "</bpmn:extensionElements></bpmn:userTask>",
            "pf:acceptsData names 'a b', which is not a data field name",
        ),
        (
            '<bpmn:userTask id="u"><bpmn:extensionElements><pf:acceptsData/>'
            "</bpmn:extensionElements></bpmn:userTask>",
            "pf:acceptsData needs a fields attribute",
        ),
        (
            '<bpmn:userTask id="u"><bpmn:extensionElements><pf:acceptsData fields="a"/>'
            '<pf:acceptsData fields="b"/></bpmn:extensionElements></bpmn:userTask>',
            "pf:acceptsData may appear at most once on an element",
        ),
    ],
    ids=["script-task", "bad-name", "no-fields", "twice"],
)
def test_misplaced_or_malformed_opt_in_is_an_upload_problem(
    api: Api, tmp_path: Any, fragment: str, message: str
) -> None:
    path = tmp_path / "bad.bpmn"
    path.write_text(
        '<?xml version="1.0" encoding="UTF-8"?>\n'
        '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
        'xmlns:pf="urn:powerflow:bpmn:1.0" id="d" targetNamespace="urn:test">\n'
        '<bpmn:process id="bad" isExecutable="true">\n'
        f'<bpmn:startEvent id="start"/>{fragment}\n'
        "</bpmn:process></bpmn:definitions>\n"
    )
    response = api.deploy(path)
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    assert any(message in p["message"] and p["line"] for p in problems), problems


def test_the_opt_in_validates_against_the_published_schema() -> None:
    from lxml import etree

    schema = etree.XMLSchema(etree.parse(str(ROOT / "api" / "powerflow-bpmn-extensions.xsd")))
    pf = "urn:powerflow:bpmn:1.0"
    for fields in ("*", "approved,comment", "approved, comment"):
        element = etree.fromstring(f'<pf:acceptsData xmlns:pf="{pf}" fields="{fields}"/>')
        assert schema.validate(element), (fields, schema.error_log)
    for fields in ("", "a,,b"):
        element = etree.fromstring(f'<pf:acceptsData xmlns:pf="{pf}" fields="{fields}"/>')
        assert not schema.validate(element), fields


def test_upgrading_records_what_older_definitions_accept(db_url: str) -> None:
    """Definitions deployed before this rule get their start form and opt-ins from their file
    (migration 0004), so a start form already in the file is honoured after the upgrade."""
    from sqlalchemy import select

    from powerflow.bootstrap import SYSTEM
    from powerflow.db.engine import Store
    from powerflow.db.migrate import upgrade
    from powerflow.db.models import Definition
    from powerflow.services import definitions
    from powerflow.services.instances import start_instance

    store = Store(db_url)
    try:
        upgrade(store.engine)
        called = (ROOT / "processes" / "collective_decision.bpmn").read_bytes()
        definitions.deploy(store, called, "collective_decision.bpmn", SYSTEM, max_bytes=len(called))
        xml = (ROOT / "processes" / "fund_disbursement.bpmn").read_bytes()
        definitions.deploy(store, xml, "fund_disbursement.bpmn", SYSTEM, max_bytes=len(xml))
        with store.write() as session:  # as an older version stored it
            row = session.scalar(select(Definition).where(Definition.key == "fund_disbursement"))
            assert row is not None
            old = dict(row.catalog)
            old.pop("start")
            old.pop("accepts_data")
            old["elements"] = {
                k: {f: v for f, v in e.items() if f != "accepts_data"}
                for k, e in old["elements"].items()
            }
            row.catalog = old
        from alembic import command

        from powerflow.db.migrate import alembic_config

        command.downgrade(alembic_config(store.engine), "0003")  # as before this rule
        upgrade(store.engine)
        with store.read() as session:
            catalog = session.scalar(
                select(Definition.catalog).where(Definition.key == "fund_disbursement")
            )
        assert catalog is not None
        assert [f["id"] for f in catalog["start"]["form"]] == [
            "amount",
            "purpose",
            "applicant_name",
        ]
        assert catalog["elements"]["submit_request"]["accepts_data"] is None
        store.immutable_cache.clear()
        view = start_instance(store, SYSTEM, "fund_disbursement", variables=PAYMENT)
        assert view.tasks[0].element_id == "submit_request"
    finally:
        store.dispose()


MANUAL = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:pf="urn:powerflow:bpmn:1.0" id="d" targetNamespace="urn:test">
  <bpmn:process id="manual" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:manualTask id="sign" name="Sign the letter">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:manualTask>
    <bpmn:task id="file" name="File the letter">
      <bpmn:extensionElements><pf:acceptsData fields="shelf"/></bpmn:extensionElements>
      <bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing></bpmn:task>
    <bpmn:endEvent id="end"><bpmn:incoming>f3</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="sign"/>
    <bpmn:sequenceFlow id="f2" sourceRef="sign" targetRef="file"/>
    <bpmn:sequenceFlow id="f3" sourceRef="file" targetRef="end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_manual_and_plain_tasks_accept_only_what_they_opt_in(api: Api, tmp_path: Any) -> None:
    path = tmp_path / "manual.bpmn"
    path.write_text(MANUAL)
    assert api.deploy(path).status_code == 201
    clerk = api.user("clerk")
    started = api.client.post("/v1/instances", headers=clerk, json={"definition_key": "manual"})
    sign = _only_task(started.json(), "sign")
    assert _complete(api, clerk, sign["id"], {"signed": True}).status_code == 422
    filing = _only_task(_complete(api, clerk, sign["id"], {}).json(), "file")
    assert _complete(api, clerk, filing["id"], {"signed": True}).status_code == 422
    done = _complete(api, clerk, filing["id"], {"shelf": "B-3"})
    assert done.status_code == 200, done.text
    assert done.json()["data"] == {"shelf": "B-3"}


CONSTRAINED = """
<bpmn:extensionElements><camunda:formData>
  <camunda:formField id="amount" label="Amount" type="long">
    <camunda:validation><camunda:constraint name="required"/>
      <camunda:constraint name="min" config="1"/><camunda:constraint name="max" config="500000"/>
    </camunda:validation></camunda:formField>
  <camunda:formField id="channel" label="Channel" type="string">
    <camunda:validation><camunda:constraint name="minlength" config="3"/>
      <camunda:constraint name="maxlength" config="10"/></camunda:validation></camunda:formField>
  <camunda:formField id="ref" label="Reference" type="string">
    <camunda:validation><camunda:constraint name="readonly"/></camunda:validation>
  </camunda:formField>
</camunda:formData></bpmn:extensionElements>"""


def test_camunda_constraints_are_checked_on_submission(api: Api, tmp_path: Any) -> None:
    """min, max, minlength, maxlength and readonly, as Camunda Modeler writes them, are enforced
    (a form that says "at least 1" must not accept 0 or a negative amount)."""
    _generic(api, tmp_path, start_ext=CONSTRAINED)
    clerk = api.user("clerk")
    for variables, problem in [
        ({"amount": 0}, "'Amount' (amount) must be at least 1."),
        ({"amount": -5}, "'Amount' (amount) must be at least 1."),
        ({"amount": 500001}, "'Amount' (amount) must be at most 500000."),
        ({"amount": 5, "channel": "ab"}, "'Channel' (channel) must be at least 3 characters long."),
        (
            {"amount": 5, "channel": "x" * 11},
            "'Channel' (channel) must be at most 10 characters long.",
        ),
        ({"amount": 5, "ref": "R-1"}, "'Reference' (ref) is read-only in this form; leave it out."),
    ]:
        refused = _start(api, clerk, variables)
        assert refused.status_code == 422, (variables, refused.text)
        assert refused.json()["fields"] == [problem], variables
    started = _start(api, clerk, {"amount": 500000, "channel": "letter"})
    assert started.status_code == 201, started.text
    shown = api.client.get("/v1/definitions/generic", headers=clerk).json()
    form = {f["id"]: f for f in shown[0]["start_form"]}
    assert form["amount"]["limits"] == {"min": 1, "max": 500000}
    assert form["ref"]["readonly"] is True


@pytest.mark.parametrize(
    ("constraint", "message"),
    [
        (
            '<camunda:constraint name="validator" config="com.example.Check"/>',
            "has the constraint 'validator', which powerflow cannot check",
        ),
        ('<camunda:constraint name="min" config="one"/>', "needs config set to a number"),
        (
            '<camunda:constraint name="maxlength" config="-2"/>',
            "needs config set to a whole number, 0 or more",
        ),
        (
            f'<camunda:constraint name="minlength" config="{"9" * 400}"/>',
            "needs config set to a whole number, 0 or more",
        ),
    ],
    ids=["custom-validator", "bad-min", "negative-length", "huge-length"],
)
def test_a_constraint_powerflow_cannot_check_is_an_upload_problem(
    api: Api, tmp_path: Any, constraint: str, message: str
) -> None:
    ext = (
        '<bpmn:extensionElements><camunda:formData><camunda:formField id="a" type="long">'
        f"<camunda:validation>{constraint}</camunda:validation></camunda:formField>"
        "</camunda:formData></bpmn:extensionElements>"
    )
    path = tmp_path / "generic.bpmn"
    path.write_text(GENERIC.format(process_ext="", start_ext=ext, bare_ext=""))
    response = api.deploy(path)
    assert response.status_code == 422, response.text
    problems = response.json()["problems"]
    assert any(message in p["message"] and p["line"] for p in problems), problems


CALLING = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:pf="urn:powerflow:bpmn:1.0" id="d" targetNamespace="urn:test">
  <bpmn:process id="caller" isExecutable="true">
    <bpmn:extensionElements><pf:acceptsData fields="*"/></bpmn:extensionElements>
    <bpmn:startEvent id="start"><bpmn:outgoing>f1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:callActivity id="call" calledElement="callee">
      <bpmn:incoming>f1</bpmn:incoming><bpmn:outgoing>f2</bpmn:outgoing></bpmn:callActivity>
    <bpmn:endEvent id="end"><bpmn:incoming>f2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="call"/>
    <bpmn:sequenceFlow id="f2" sourceRef="call" targetRef="end"/>
  </bpmn:process>
  <bpmn:process id="callee" isExecutable="true">
    <bpmn:startEvent id="c_start"><bpmn:outgoing>g1</bpmn:outgoing></bpmn:startEvent>
    <bpmn:userTask id="approve" name="Approve">
      <bpmn:incoming>g1</bpmn:incoming><bpmn:outgoing>g2</bpmn:outgoing></bpmn:userTask>
    <bpmn:endEvent id="c_end"><bpmn:incoming>g2</bpmn:incoming></bpmn:endEvent>
    <bpmn:sequenceFlow id="g1" sourceRef="c_start" targetRef="approve"/>
    <bpmn:sequenceFlow id="g2" sourceRef="approve" targetRef="c_end"/>
  </bpmn:process>
</bpmn:definitions>
"""


def test_a_called_process_keeps_its_own_data_rule(api: Api, tmp_path: Any) -> None:
    """A caller that opts in to any field (fields="*") does not open the tasks of the process it
    calls: those follow the called process's own rule (here: none, so no data)."""
    path = tmp_path / "calling.bpmn"
    path.write_text(CALLING)
    assert api.deploy(path).status_code == 201
    clerk = api.user("clerk")
    started = api.client.post("/v1/instances", headers=clerk, json={"definition_key": "caller"})
    assert started.status_code == 201, started.text
    task = _only_task(started.json(), "approve")
    refused = _complete(api, clerk, task["id"], {"approved": True})
    assert refused.status_code == 422, refused.text
    assert "declares no form fields" in refused.json()["detail"]
    assert _complete(api, clerk, task["id"], {}).status_code == 200
