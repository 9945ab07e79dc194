"""Faithful to the model (issue 9 §6), over HTTP: ready tasks in the diagram's reading order,
Spiff extensions honoured (variableName, taskMetadataValues, pre- and post-scripts), Camunda
attributes and JUEL expressions named at upload, and the upload purposes (run, view) and
``accept_any_data``."""

from __future__ import annotations

from typing import Any

import pytest

from conftest import Api

pytestmark = pytest.mark.usefixtures("reload_every_step")

HEAD = (
    '<?xml version="1.0" encoding="UTF-8"?>\n'
    '<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL" '
    'xmlns:bpmndi="http://www.omg.org/spec/BPMN/20100524/DI" '
    'xmlns:dc="http://www.omg.org/spec/DD/20100524/DC" '
    'xmlns:camunda="http://camunda.org/schema/1.0/bpmn" '
    'xmlns:spiffworkflow="http://spiffworkflow.org/bpmn/schema/1.0/core" '
    'id="d" targetNamespace="urn:test">\n'
)

# A split into 'first' (drawn at y=100) and 'lower' (y=300); after 'first' comes 'upper',
# drawn at the top (y=10): created last, listed first.
ORDERED = (
    HEAD
    + """<bpmn:process id="ordered" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:parallelGateway id="split"/>
  <bpmn:userTask id="lower" name="Lower"/>
  <bpmn:userTask id="first" name="First"/>
  <bpmn:userTask id="upper" name="Upper"/>
  <bpmn:parallelGateway id="join"/>
  <bpmn:endEvent id="end"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="split"/>
  <bpmn:sequenceFlow id="f2" sourceRef="split" targetRef="first"/>
  <bpmn:sequenceFlow id="f3" sourceRef="split" targetRef="lower"/>
  <bpmn:sequenceFlow id="f4" sourceRef="first" targetRef="upper"/>
  <bpmn:sequenceFlow id="f5" sourceRef="upper" targetRef="join"/>
  <bpmn:sequenceFlow id="f6" sourceRef="lower" targetRef="join"/>
  <bpmn:sequenceFlow id="f7" sourceRef="join" targetRef="end"/>
</bpmn:process>
<bpmndi:BPMNDiagram id="dia"><bpmndi:BPMNPlane id="plane" bpmnElement="ordered">
  <bpmndi:BPMNShape id="s1" bpmnElement="first">
    <dc:Bounds x="200" y="100" width="100" height="80"/></bpmndi:BPMNShape>
  <bpmndi:BPMNShape id="s2" bpmnElement="lower">
    <dc:Bounds x="200" y="300" width="100" height="80"/></bpmndi:BPMNShape>
  <bpmndi:BPMNShape id="s3" bpmnElement="upper">
    <dc:Bounds x="400" y="10" width="100" height="80"/></bpmndi:BPMNShape>
</bpmndi:BPMNPlane></bpmndi:BPMNDiagram>
</bpmn:definitions>
"""
)


def _deploy(api: Api, xml: str, name: str, **params: Any) -> Any:
    return api.client.post(
        "/v1/definitions",
        params=params,
        headers=api.user("designer"),
        files={"file": (name, xml.encode())},
    )


def _start(api: Api, key: str, **variables: Any) -> dict[str, Any]:
    response = api.client.post(
        "/v1/instances", headers=api.admin, json={"definition_key": key, "variables": variables}
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _complete(api: Api, instance: dict[str, Any], element_id: str, **data: Any) -> dict[str, Any]:
    (task,) = [t for t in instance["tasks"] if t["element_id"] == element_id]
    response = api.client.post(
        f"/v1/tasks/{task['id']}/complete", headers=api.user("clerk"), json={"data": data}
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def test_ready_tasks_follow_the_diagram_then_creation(api: Api) -> None:
    assert _deploy(api, ORDERED, "ordered.bpmn", accept_any_data=True).status_code == 201
    instance = _start(api, "ordered")
    assert [t["element_id"] for t in instance["tasks"]] == ["first", "lower"]
    instance = _complete(api, instance, "first")
    expected = ["upper", "lower"]  # 'upper' is drawn above 'lower', though created after it
    assert [t["element_id"] for t in instance["tasks"]] == expected
    shown = api.client.get(f"/v1/instances/{instance['id']}", headers=api.admin).json()
    assert [t["element_id"] for t in shown["tasks"]] == expected
    listed = api.client.get(
        "/v1/tasks", headers=api.admin, params={"instance_id": instance["id"], "state": "ready"}
    ).json()["items"]
    assert [t["element_id"] for t in listed] == expected
    page = api.client.get(
        "/v1/tasks",
        headers=api.admin,
        params={"instance_id": instance["id"], "state": "ready", "limit": 1, "offset": 1},
    ).json()["items"]
    assert [t["element_id"] for t in page] == ["lower"]


SPIFF = (
    HEAD
    + """<bpmn:process id="spiffy" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:userTask id="order_form" name="Order">
    <bpmn:extensionElements>
      <spiffworkflow:variableName>order</spiffworkflow:variableName>
      <spiffworkflow:taskMetadataValues>
        <spiffworkflow:taskMetadataValue name="label" value="'Order for ' + customer"/>
        <spiffworkflow:taskMetadataValue name="broken" value="no_such_name + 1"/>
      </spiffworkflow:taskMetadataValues>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:userTask id="check" name="Check">
    <bpmn:extensionElements>
      <spiffworkflow:postScript>total = order['count'] * price</spiffworkflow:postScript>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:endEvent id="end"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="order_form"/>
  <bpmn:sequenceFlow id="f2" sourceRef="order_form" targetRef="check"/>
  <bpmn:sequenceFlow id="f3" sourceRef="check" targetRef="end"/>
</bpmn:process>
</bpmn:definitions>
"""
)


def test_spiff_variable_name_metadata_and_post_script(api: Api) -> None:
    assert _deploy(api, SPIFF, "spiffy.bpmn", accept_any_data=True).status_code == 201
    instance = _start(api, "spiffy", customer="Ada")
    (task,) = instance["tasks"]
    detail = api.client.get(f"/v1/tasks/{task['id']}", headers=api.admin).json()
    assert detail["metadata_values"] == {"label": "Order for Ada", "broken": None}

    instance = _complete(api, instance, "order_form", count=3)
    (check,) = instance["tasks"]
    data = api.client.get(f"/v1/tasks/{check['id']}", headers=api.admin).json()["data"]
    assert data["order"] == {"count": 3}  # under the variableName, not merged at the top
    assert "count" not in data
    assert (
        api.client.get(f"/v1/tasks/{check['id']}", headers=api.admin).json()["metadata_values"]
        is None
    )

    instance = _complete(api, instance, "check")  # no 'price': the post-script fails
    assert instance["status"] == "failed"
    assert instance["incident"]["element_id"] == "check"
    assert instance["incident"]["message"].startswith("The post-script of 'Check' failed")
    assert "price" in instance["incident"]["message"]


JUEL = (
    HEAD
    + """<bpmn:process id="juel" isExecutable="true">
  <bpmn:startEvent id="start" camunda:initiator="starter"/>
  <bpmn:userTask id="approve" name="Approve" camunda:assignee="${manager}"
      camunda:candidateUsers="ann,bob" camunda:dueDate="${due}" camunda:followUpDate="${soon}"
      camunda:priority="5" camunda:formKey="approve-form" camunda:asyncBefore="true"/>
  <bpmn:exclusiveGateway id="ok" name="Approved?" default="no"/>
  <bpmn:endEvent id="yes_end"/>
  <bpmn:endEvent id="no_end"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="approve"/>
  <bpmn:sequenceFlow id="f2" sourceRef="approve" targetRef="ok"/>
  <bpmn:sequenceFlow id="yes" name="yes" sourceRef="ok" targetRef="yes_end">
    <bpmn:conditionExpression>${approved &amp;&amp; amount &gt; 100}</bpmn:conditionExpression>
  </bpmn:sequenceFlow>
  <bpmn:sequenceFlow id="no" sourceRef="ok" targetRef="no_end"/>
</bpmn:process>
</bpmn:definitions>
"""
)


def test_juel_in_a_runnable_process_is_a_problem_with_the_python_to_write(api: Api) -> None:
    refused = _deploy(api, JUEL, "juel.bpmn")
    assert refused.status_code == 422
    (problem,) = refused.json()["problems"]
    assert problem["element_id"] == "yes"
    assert problem["line"] == 14
    assert "JUEL" in problem["message"] and "invalid syntax" not in problem["message"]
    assert "'approved and amount > 100'" in problem["message"]


def test_ignored_camunda_attributes_are_warnings(api: Api) -> None:
    fixed = JUEL.replace("${approved &amp;&amp; amount &gt; 100}", "approved and amount &gt; 100")
    deployed = _deploy(api, fixed, "juel.bpmn")
    assert deployed.status_code == 201, deployed.text
    (definition,) = deployed.json()["definitions"]
    warned = {(w["element_id"], w["message"].split("=")[0]) for w in definition["warnings"]}
    assert ("approve", "camunda:assignee") in warned
    assert ("approve", "camunda:candidateUsers") in warned
    assert ("start", "camunda:initiator") in warned
    for attribute in ("dueDate", "followUpDate", "priority", "formKey", "asyncBefore"):
        assert ("approve", f"camunda:{attribute}") in warned
    initiator = next(w for w in definition["warnings"] if "initiator" in w["message"])
    assert "started_by" in initiator["message"]


MULTI = (
    HEAD
    + """<bpmn:process id="multi" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:userTask id="review" name="Review">
    <bpmn:multiInstanceLoopCharacteristics camunda:collection="${reviewers}"
        camunda:elementVariable="reviewer">
      <bpmn:loopCardinality>${count}</bpmn:loopCardinality>
    </bpmn:multiInstanceLoopCharacteristics>
  </bpmn:userTask>
  <bpmn:endEvent id="end"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
  <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>
</bpmn:process>
</bpmn:definitions>
"""
)


def test_camunda_multi_instance_with_a_juel_cardinality_is_named(api: Api) -> None:
    refused = _deploy(api, MULTI, "multi.bpmn")
    assert refused.status_code == 422
    (problem,) = refused.json()["problems"]
    assert problem["element_id"] == "review"
    assert "loop cardinality" in problem["message"] and "'count'" in problem["message"]
    stored = _deploy(api, MULTI, "multi.bpmn", purpose="view")
    (definition,) = stored.json()["definitions"]
    messages = [w["message"] for w in definition["warnings"]]
    assert not any("camunda:collection" in m for m in messages)  # honoured, not ignored


COLLECTION = (
    HEAD
    + """<bpmn:process id="collect" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:userTask id="review" name="Review">
    <bpmn:multiInstanceLoopCharacteristics camunda:collection="%s"
        camunda:elementVariable="reviewer"/>
  </bpmn:userTask>
  <bpmn:endEvent id="end"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="review"/>
  <bpmn:sequenceFlow id="f2" sourceRef="review" targetRef="end"/>
</bpmn:process>
</bpmn:definitions>
"""
)


@pytest.mark.parametrize("collection", ["reviewers", "${reviewers}"])
def test_camunda_collection_and_element_variable_run(api: Api, collection: str) -> None:
    """As SpiffWorkflow's Camunda parser reads them: one instance per item, the item in the
    element variable, the collection updated in place with each instance's value."""
    xml = COLLECTION % collection
    deployed = _deploy(api, xml, "collect.bpmn", accept_any_data=True)
    assert deployed.status_code == 201, deployed.text
    (definition,) = deployed.json()["definitions"]
    camunda = ("camunda:collection", "camunda:elementVariable")
    assert [w for w in definition["warnings"] if w["message"].startswith(camunda)] == []
    assert api.client.get("/v1/definitions/collect/xml", headers=api.admin).content == xml.encode()
    instance = _start(api, "collect", reviewers=["ann", "bob", "cy"])
    tasks = [t for t in instance["tasks"] if t["element_id"] == "review"]
    assert len(tasks) == 3
    seen = []
    for task in tasks:
        shown = api.client.get(f"/v1/tasks/{task['id']}", headers=api.admin).json()
        seen.append(shown["data"]["reviewer"])
        response = api.client.post(
            f"/v1/tasks/{task['id']}/complete",
            headers=api.user("clerk"),
            json={"data": {"reviewer": shown["data"]["reviewer"].upper()}},
        )
        assert response.status_code == 200, response.text
        instance = response.json()
    assert sorted(seen) == ["ann", "bob", "cy"]
    assert instance["status"] == "completed"
    data = api.client.get(f"/v1/instances/{instance['id']}", headers=api.admin).json()["data"]
    assert data["reviewers"] == ["ANN", "BOB", "CY"]


def test_camunda_element_variable_with_a_cardinality_is_the_index(api: Api) -> None:
    xml = MULTI.replace("${count}", "count").replace('camunda:collection="${reviewers}"', "")
    deployed = _deploy(api, xml, "multi.bpmn", accept_any_data=True)
    assert deployed.status_code == 201, deployed.text
    instance = _start(api, "multi", count=2)
    tasks = [t for t in instance["tasks"] if t["element_id"] == "review"]
    indexes = [
        api.client.get(f"/v1/tasks/{t['id']}", headers=api.admin).json()["data"]["reviewer"]
        for t in tasks
    ]
    assert sorted(indexes) == [0, 1]


def test_a_camunda_collection_expression_is_named(api: Api) -> None:
    xml = COLLECTION % "${team.members()}"
    refused = _deploy(api, xml, "collect.bpmn", accept_any_data=True)
    assert refused.status_code == 422
    (problem,) = refused.json()["problems"]
    assert problem["element_id"] == "review"
    assert problem["message"].startswith(
        "camunda:collection=\"${team.members()}\" on the userTask 'Review' (its multi-instance) "
        "cannot run: powerflow iterates a variable named by camunda:collection"
    )
    stored = _deploy(api, xml, "collect.bpmn", purpose="view")
    (definition,) = stored.json()["definitions"]
    warnings = definition["warnings"]
    (warning,) = [w for w in warnings if w["message"].startswith("camunda:collection")]
    assert warning["element_id"] == "review" and "not an expression" in warning["message"]


def test_a_juel_timer_is_named(api: Api) -> None:
    timer = (
        HEAD
        + """<bpmn:process id="wait" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:intermediateCatchEvent id="pause" name="Pause">
    <bpmn:timerEventDefinition><bpmn:timeDuration>${delay}</bpmn:timeDuration>
    </bpmn:timerEventDefinition>
  </bpmn:intermediateCatchEvent>
  <bpmn:endEvent id="end"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="pause"/>
  <bpmn:sequenceFlow id="f2" sourceRef="pause" targetRef="end"/>
</bpmn:process>
</bpmn:definitions>
"""
    )
    refused = _deploy(api, timer, "wait.bpmn")
    assert refused.status_code == 422
    (problem,) = refused.json()["problems"]
    assert problem["element_id"] == "pause"
    assert problem["message"].startswith("The timer of the intermediateCatchEvent 'Pause'")
    assert "'delay'" in problem["message"]


def test_juel_in_a_process_stored_for_viewing_is_a_warning(api: Api) -> None:
    viewing = JUEL.replace('isExecutable="true"', 'isExecutable="false"')
    deployed = _deploy(api, viewing, "juel.bpmn")
    assert deployed.status_code == 201, deployed.text
    (definition,) = deployed.json()["definitions"]
    assert definition["executable"] is False
    (juel,) = [w for w in definition["warnings"] if "JUEL" in w["message"]]
    assert juel["element_id"] == "yes" and juel["severity"] == "warning"


def test_purpose_view_stores_what_a_deployment_would_refuse(api: Api) -> None:
    stored = _deploy(api, JUEL, "juel.bpmn", purpose="view")
    assert stored.status_code == 201, stored.text
    (definition,) = stored.json()["definitions"]
    assert definition["executable"] is False
    assert "JUEL" in definition["not_executable_reason"]
    xml = api.client.get("/v1/definitions/juel/xml", headers=api.admin)
    assert xml.content == JUEL.encode()
    refused = api.client.post("/v1/instances", headers=api.admin, json={"definition_key": "juel"})
    assert refused.status_code == 409
    assert "JUEL" in refused.json()["detail"]


def test_purpose_view_of_a_runnable_file_starts_nothing(api: Api) -> None:
    stored = _deploy(api, ORDERED, "ordered.bpmn", purpose="view")
    (definition,) = stored.json()["definitions"]
    assert definition["executable"] is False
    assert "purpose=view" in definition["not_executable_reason"]


def test_purpose_run_refuses_a_file_with_a_process_that_cannot_start(api: Api) -> None:
    viewing = ORDERED.replace('isExecutable="true"', 'isExecutable="false"')
    refused = _deploy(api, viewing, "ordered.bpmn", purpose="run")
    assert refused.status_code == 422
    (problem,) = refused.json()["problems"]
    assert problem["element_id"] == "ordered" and problem["line"] == 3
    assert "not executable" in problem["message"] and "purpose=view" in problem["message"]
    assert api.client.get("/v1/definitions", headers=api.admin).json()["items"] == []
    # the same file without a purpose is stored for viewing, as before
    assert _deploy(api, viewing, "ordered.bpmn").status_code == 201


def test_start_data_needs_a_declaration_or_accept_any_data(api: Api) -> None:
    assert _deploy(api, SPIFF, "spiffy.bpmn").status_code == 201
    refused = api.client.post(
        "/v1/instances",
        headers=api.admin,
        json={"definition_key": "spiffy", "variables": {"customer": "Ada"}},
    )
    assert refused.status_code == 422
    # identical bytes with the opt-in: a new version that records it (not "nothing new", which
    # would drop the designer's opt-in without a word)
    deployed = _deploy(api, SPIFF, "spiffy.bpmn", accept_any_data=True)
    assert deployed.status_code == 201
    (definition,) = deployed.json()["definitions"]
    assert definition["version"] == 2
    assert any("accept_any_data" in w["message"] for w in definition["warnings"])
    assert _start(api, "spiffy", customer="Ada")["status"] == "running"


BRANCHES = (
    HEAD
    + """<bpmn:process id="branches" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:scriptTask id="init" name="Init">
    <bpmn:script>shared = {"tags": ["x"]}
replaced = {"tags": ["x"]}</bpmn:script>
  </bpmn:scriptTask>
  <bpmn:parallelGateway id="split"/>
  <bpmn:userTask id="a" name="A"/>
  <bpmn:userTask id="b" name="B">
    <bpmn:extensionElements>
      <spiffworkflow:postScript>shared["tags"].append("b")
replaced = {"tags": replaced["tags"] + ["b"]}</spiffworkflow:postScript>
    </bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:parallelGateway id="join"/>
  <bpmn:endEvent id="end"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="init"/>
  <bpmn:sequenceFlow id="f2" sourceRef="init" targetRef="split"/>
  <bpmn:sequenceFlow id="f3" sourceRef="split" targetRef="a"/>
  <bpmn:sequenceFlow id="f4" sourceRef="split" targetRef="b"/>
  <bpmn:sequenceFlow id="f5" sourceRef="a" targetRef="join"/>
  <bpmn:sequenceFlow id="f6" sourceRef="b" targetRef="join"/>
  <bpmn:sequenceFlow id="f7" sourceRef="join" targetRef="end"/>
</bpmn:process>
</bpmn:definitions>
"""
)


def test_a_value_changed_in_place_in_one_branch_reaches_the_parallel_branch(api: Api) -> None:
    """What docs/bpmn-support.md ("Data in parallel branches") tells designers: SpiffWorkflow
    gives each branch its own copy of the top-level variables only, so a script that changes a
    nested value in place (``shared["tags"].append``) changes it for the other branch too, while
    one that assigns a new value (``replaced = {...}``) changes only its own branch."""
    assert _deploy(api, BRANCHES, "branches.bpmn", accept_any_data=True).status_code == 201
    instance = _complete(api, _start(api, "branches"), "b")
    (a,) = instance["tasks"]
    data = api.client.get(f"/v1/tasks/{a['id']}", headers=api.admin).json()["data"]
    assert data["shared"] == {"tags": ["x", "b"]}
    assert data["replaced"] == {"tags": ["x"]}
    done = _complete(api, instance, "a")
    assert done["status"] == "completed"
    assert done["data"]["replaced"] == {"tags": ["x", "b"]}


TEXTAREA = (
    HEAD
    + """<bpmn:process id="notes" isExecutable="true">
  <bpmn:startEvent id="start"/>
  <bpmn:userTask id="write" name="Write">
    <bpmn:extensionElements><camunda:formData>
      <camunda:formField id="remarks" label="Remarks" type="textarea"/>
    </camunda:formData></bpmn:extensionElements>
  </bpmn:userTask>
  <bpmn:endEvent id="end"/>
  <bpmn:sequenceFlow id="f1" sourceRef="start" targetRef="write"/>
  <bpmn:sequenceFlow id="f2" sourceRef="write" targetRef="end"/>
</bpmn:process>
</bpmn:definitions>
"""
)


def test_a_textarea_field_is_text(api: Api) -> None:
    """SpiffWorkflow's Camunda forms use type="textarea": a text field (a multi-line box in the
    console); an unknown type is still refused."""
    deployed = _deploy(api, TEXTAREA, "notes.bpmn")
    assert deployed.status_code == 201, deployed.text
    instance = _start(api, "notes")
    (task,) = instance["tasks"]
    form = api.client.get(f"/v1/tasks/{task['id']}", headers=api.admin).json()["form"]
    assert [(f["id"], f["type"]) for f in form] == [("remarks", "textarea")]
    clerk = api.user("clerk")
    refused = api.client.post(
        f"/v1/tasks/{task['id']}/complete", headers=clerk, json={"data": {"remarks": 5}}
    )
    assert refused.status_code == 422
    assert "'Remarks' (remarks) must be text." in refused.json()["detail"]
    done = api.client.post(
        f"/v1/tasks/{task['id']}/complete",
        headers=clerk,
        json={"data": {"remarks": "line one\nline two"}},
    )
    assert done.status_code == 200, done.text
    assert done.json()["status"] == "completed"
    unknown = _deploy(api, TEXTAREA.replace('"textarea"', '"richtext"'), "notes.bpmn")
    assert unknown.status_code == 422
    assert "type 'richtext'" in unknown.text and "textarea" in unknown.text


def test_a_cardinality_that_is_no_number_names_the_task(api: Api) -> None:
    """A loop cardinality that gives a list failed with Python's bare TypeError and an incident
    naming no element; now the incident is on the multi-instance and says what to write."""
    xml = MULTI.replace("${count}", "reviewers").replace('camunda:collection="${reviewers}"', "")
    assert _deploy(api, xml, "multi.bpmn", accept_any_data=True).status_code == 201
    instance = _start(api, "multi", reviewers=["ann", "bob"])
    assert instance["status"] == "failed"
    incident = instance["incident"]
    assert incident["element_id"] == "review"
    assert incident["message"].startswith(
        "The loop cardinality 'reviewers' must give a whole number ('list' object cannot be "
        "interpreted as an integer); to run one instance per item of a collection, name the "
        "collection in bpmn:loopDataInputRef"
    )


def test_a_pf_prefix_bound_to_another_namespace_is_refused(api: Api) -> None:
    """Every pf: element of such a file would be ignored without a word (limits, risks,
    rules, accepted data): the upload says which namespace to declare."""
    xml = TEXTAREA.replace(
        'id="d" targetNamespace',
        'xmlns:pf="https://powerflow.example/schema" id="d" targetNamespace',
    ).replace(
        '<bpmn:process id="notes" isExecutable="true">',
        '<bpmn:process id="notes" isExecutable="true"><bpmn:extensionElements>'
        '<pf:acceptsData fields="*"/></bpmn:extensionElements>',
    )
    refused = _deploy(api, xml, "notes.bpmn")
    assert refused.status_code == 422, refused.text
    (problem,) = refused.json()["problems"]
    assert problem["message"].startswith(
        "The element pf:acceptsData is in the namespace 'https://powerflow.example/schema', "
        "which is not powerflow's"
    )
    assert 'xmlns:pf="urn:powerflow:bpmn:1.0"' in problem["message"]
    assert problem["element_id"] == "notes"
