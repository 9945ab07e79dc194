"""The public side (/public/): only what the models disclose, notices (R17) and objections.

Both databases; time moves with the injectable clock (``api.store.clock``)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from fastapi.routing import iter_route_contexts
from fastapi.testclient import TestClient

from conftest import ADMIN_TOKEN, Api, make_settings
from flows import complete, events, read, task
from powerflow.app import create_app
from powerflow.clock import ManualClock

SENTINELS = {
    "internal_score": "SENTINEL-SCORE-7731",
    "decision_note": "SENTINEL-NOTE-4410",
    "secret_start": "SENTINEL-START-9902",
}
PEOPLE = ("nominator_zhao", "poster_qian", "appointer_sun", "starter_li")
MONDAY = datetime(2026, 3, 2, 2, tzinfo=UTC)  # 10:00 in Shanghai, a working Monday


def _deploy(api: Api) -> None:
    for name in ("public_appointment.bpmn", "secret_appointment.bpmn"):
        response = api.deploy(name)
        assert response.status_code == 201, response.text


def _start(api: Api, key: str, business_key: str, headers: dict[str, str]) -> dict[str, Any]:
    response = api.client.post(
        "/v1/instances",
        headers=headers,
        json={
            "definition_key": key,
            "business_key": business_key,
            "variables": {"secret_start": SENTINELS["secret_start"]},
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def _up_to_notice(api: Api, key: str, business_key: str) -> tuple[dict[str, Any], dict]:
    people: dict[str, dict[str, str]] = api.__dict__.setdefault("people", {})
    for name in PEOPLE:
        if name not in people:
            people[name] = api.user("clerk", name)
    instance = _start(api, key, business_key, people["starter_li"])
    instance = complete(
        api,
        people["nominator_zhao"],
        instance,
        "nominate",
        candidate="Wang Fang",
        post="Head of the finance office",
        internal_score=SENTINELS["internal_score"],
    )
    instance = complete(api, people["poster_qian"], instance, "post_notice")
    return instance, people


def _public_get(api: Api, path: str) -> Any:
    return api.client.get(path)


def _notice_id(api: Api, instance: dict[str, Any]) -> int:
    response = api.client.get(f"/v1/instances/{instance['id']}/events", headers=api.admin)
    published = [e for e in response.json()["items"] if e["type"] == "notice.published"]
    assert len(published) == 1
    return int(published[0]["payload"]["notice_id"])


def test_a_notice_publishes_its_fields_and_holds_back_the_next_step(api: Api) -> None:
    clock = api.store.clock = ManualClock(MONDAY)
    _deploy(api)
    instance, people = _up_to_notice(api, "public_appointment", "APP-1")
    notice_id = _notice_id(api, instance)

    notice = api.client.get(f"/public/notices/{notice_id}")
    assert notice.status_code == 200, notice.text
    body = notice.json()
    assert body["fields"] == {"candidate": "Wang Fang", "post": "Head of the finance office"}
    assert body["open"] and body["accepts_objections"]
    # five working days from Monday 10:00: the end of the next Monday, Shanghai time
    ends_at = datetime.fromisoformat(body["ends_at"])
    assert ends_at > MONDAY + timedelta(days=6)
    assert [n["id"] for n in api.client.get("/public/notices").json()] == [notice_id]

    # R17: the appointment is refused during the period, with a sentence and a violation
    appoint = task(instance, "appoint")["id"]
    early = api.client.post(
        f"/v1/tasks/{appoint}/complete",
        headers=people["appointer_sun"],
        json={"data": {"appointment_no": "A-1"}},
    )
    assert early.status_code == 403, early.text
    assert early.json()["rule_id"] == "R17"
    assert "notice" in early.json()["detail"] and "has not ended" in early.json()["detail"]
    violations = api.client.get("/v1/violations?rule_id=R17", headers=api.admin)
    assert violations.status_code == 200, violations.text
    assert [v["instance_id"] for v in violations.json()["items"]] == [instance["id"]]

    clock.set(ends_at - timedelta(seconds=1))
    still = api.client.post(
        f"/v1/tasks/{appoint}/complete", headers=people["appointer_sun"], json={"data": {}}
    )
    assert still.status_code == 403

    clock.set(ends_at + timedelta(seconds=1))
    done = complete(
        api, people["appointer_sun"], read(api, instance), "appoint", appointment_no="A-1"
    )
    assert done["status"] == "completed"
    kinds = [kind for kind, _ in events(api, instance)]
    assert "notice.published" in kinds and "notice.closed" in kinds
    assert kinds.index("violation.blocked") < kinds.index("notice.closed")
    closed = api.client.get(f"/public/notices/{notice_id}").json()
    assert not closed["open"] and not closed["accepts_objections"]
    assert api.client.get("/public/notices").json() == []
    assert [n["id"] for n in api.client.get("/public/notices?closed=true").json()] == [notice_id]


def test_an_objection_reaches_the_case_as_its_message_and_is_recorded(api: Api) -> None:
    clock = api.store.clock = ManualClock(MONDAY)
    _deploy(api)
    instance, people = _up_to_notice(api, "public_appointment", "APP-2")
    notice_id = _notice_id(api, instance)

    too_long = api.client.post(f"/public/notices/{notice_id}/objections", json={"text": "x" * 5000})
    assert too_long.status_code == 422
    empty = api.client.post(f"/public/notices/{notice_id}/objections", json={"text": ""})
    assert empty.status_code == 422
    unknown = api.client.post("/public/notices/999999/objections", json={"text": "why"})
    assert unknown.status_code == 404

    objected = api.client.post(
        f"/public/notices/{notice_id}/objections",
        json={
            "text": "The candidate never served in the office.",
            "name": "Objector Zhou",
            "contact": "zhou-contact@example.org",
        },
    )
    assert objected.status_code == 201, objected.text
    receipt = objected.json()
    assert receipt["delivered"] is True
    assert "zhou-contact" not in objected.text and "Objector Zhou" not in objected.text

    after = read(api, instance)
    assert "review_objection" in [t["element_id"] for t in after["tasks"]]
    chain = api.client.get(f"/v1/instances/{instance['id']}/events", headers=api.admin).json()
    received = [e for e in chain["items"] if e["type"] == "notice.objection_received"]
    assert len(received) == 1
    assert received[0]["payload"]["objection_id"] == receipt["id"]
    assert "zhou-contact" not in str(chain) and "Objector Zhou" not in str(chain)
    assert any(e["type"] == "message.received" for e in chain["items"])

    # supervisors read the contact; a clerk may not
    monitor = api.user("monitor")
    listed = api.client.get(f"/v1/notices/{notice_id}/objections", headers=monitor)
    assert listed.status_code == 200, listed.text
    assert listed.json()[0]["contact"] == "zhou-contact@example.org"
    clerk = api.client.get(f"/v1/notices/{notice_id}/objections", headers=people["starter_li"])
    assert clerk.status_code == 403
    assert api.client.get("/v1/notices/999999/objections", headers=monitor).status_code == 404

    # after the period: refused, nothing stored
    ends_at = datetime.fromisoformat(
        api.client.get(f"/public/notices/{notice_id}").json()["ends_at"]
    )
    clock.set(ends_at)
    late = api.client.post(f"/public/notices/{notice_id}/objections", json={"text": "late"})
    assert late.status_code == 409
    assert "no longer accepted" in late.json()["detail"]
    assert len(api.client.get(f"/v1/notices/{notice_id}/objections", headers=monitor).json()) == 1


def _public_paths(api: Api, values: dict[str, str]) -> list[tuple[str, str]]:
    """Every /public/ route of the application, its parameters filled from ``values``."""
    paths = []
    for route in iter_route_contexts(api.client.app.routes):  # type: ignore[attr-defined]
        path = route.path
        if not path.startswith("/public/"):
            continue
        for method in sorted(set(route.methods or ()) - {"HEAD"}):
            filled = path
            for name, value in values.items():
                filled = filled.replace("{" + name + "}", value)
            assert "{" not in filled, f"no value for a parameter of {path}"
            paths.append((method, filled))
    assert len(paths) >= 7
    return paths


def _call(api: Api, method: str, path: str) -> Any:
    if method == "POST":
        return api.client.post(path, json={"text": "A public objection"})
    return api.client.get(path)


def test_no_undisclosed_field_or_person_appears_in_any_public_response(api: Api) -> None:
    api.store.clock = ManualClock(MONDAY)
    _deploy(api)
    done_case, people = _up_to_notice(api, "public_appointment", "APP-4")
    api.store.clock.advance(timedelta(days=14))  # type: ignore[attr-defined]
    complete(
        api,
        people["appointer_sun"],
        read(api, done_case),
        "appoint",
        decision_note=SENTINELS["decision_note"],
        appointment_no="A-4",
    )
    open_case, _ = _up_to_notice(api, "public_appointment", "APP-3")
    notice_id = _notice_id(api, open_case)
    secret_case, _ = _up_to_notice(api, "secret_appointment", "SEC-1")

    # the public audit checkpoint exists once one is signed (the worker signs within a minute)
    signed = api.client.post("/v1/audit/checkpoints", headers=api.admin)
    assert signed.status_code == 200, signed.text

    values = {"key": "public_appointment", "business_key": "APP-4", "notice_id": str(notice_id)}
    bodies = []
    for business_key in ("APP-3", "APP-4"):
        values["business_key"] = business_key
        for method, path in _public_paths(api, values):
            response = _call(api, method, path)
            assert response.status_code in (200, 201), (path, response.text)
            bodies.append(response.text)
    text = "\n".join(bodies)
    for value in SENTINELS.values():
        assert value not in text
    for person in (*PEOPLE, "admin"):
        assert person not in text
    for instance in (open_case, done_case):
        assert instance["id"] not in text
        assert all(t["id"] not in text for t in read(api, instance)["tasks"])
    # no role of anyone in a case's progress or a notice (the power list names the roles
    # answerable for a power: that is public by design)
    case_bodies = [b for b in bodies if '"business_key"' in b or '"accepts_objections"' in b]
    assert case_bodies and "clerk" not in "\n".join(case_bodies)

    progress = api.client.get("/public/progress/public_appointment/APP-4").json()
    assert progress["status"] == "completed"
    assert [s["element_id"] for s in progress["steps_done"]] == [
        "nominate",
        "post_notice",
        "appoint",
    ]
    assert progress["results"] == {"post": "Head of the finance office", "appointment_no": "A-4"}
    running = api.client.get("/public/progress/public_appointment/APP-3").json()
    # the route walk objected to its notice twice (once per business key walked): each
    # objection's review runs beside the appointment (the boundary event stays armed)
    assert sorted(s["element_id"] for s in running["current_steps"]) == [
        "appoint",
        "review_objection",
        "review_objection",
    ]
    assert running["results"] == {"post": "Head of the finance office"}
    assert running["promised_due_at"] is not None and running["overdue"] is False
    powers = api.client.get("/public/powers").json()
    assert [p["code"] for p in powers] == ["PUB-APPOINT"]

    # the undisclosed process: 404 on every public route that names it or its notice
    secret_notice = _notice_id(api, secret_case)
    hidden = {"key": "secret_appointment", "business_key": "SEC-1", "notice_id": str(secret_notice)}
    naming = [
        (method, path)
        for method, path in _public_paths(api, hidden)
        # a route that names no process, case or notice (the lists, the audit log) is left out
        if any(value in path for value in hidden.values())
    ]
    assert len(naming) >= 5
    for method, path in naming:
        response = _call(api, method, path)
        assert response.status_code == 404, (path, response.text)
    assert secret_notice not in [n["id"] for n in api.client.get("/public/notices").json()]
    assert "SEC-APPOINT" not in api.client.get("/public/powers").text


def test_the_public_routes_are_rate_limited_per_address(db_url: str) -> None:
    settings = make_settings(db_url, public_rate_per_minute=60, public_burst=3)
    with TestClient(create_app(settings, run_workers=False)) as client:
        answers = [client.get("/public/powers").status_code for _ in range(4)]
        assert answers == [200, 200, 200, 429]
        refused = client.get("/public/notices")
        assert refused.status_code == 429
        assert int(refused.headers["Retry-After"]) >= 1
        assert "Too many requests" in refused.json()["detail"]
        # authenticated routes are not counted
        me = client.get("/v1/me", headers={"Authorization": f"Bearer {ADMIN_TOKEN}"})
        assert me.status_code == 200


def test_a_public_process_shows_its_chart_limits_legal_basis_and_steps(api: Api) -> None:
    _deploy(api)
    process = api.client.get("/public/processes/public_appointment")
    assert process.status_code == 200, process.text
    body = process.json()
    assert body["legal_basis"] == ["Regulation on the selection and appointment of cadres, art. 47"]
    assert body["time_limits"] == {"promised": {"duration": "P30D", "calendar": "working"}}
    assert body["power_item"] == {
        "code": "PUB-APPOINT",
        "name": "Appointment of a cadre",
        "category": "confirmation",
    }
    steps = {s["element_id"]: s for s in body["steps"]}
    assert list(steps) == ["nominate", "post_notice", "appoint", "review_objection"]
    assert steps["nominate"]["published_fields"] == ["post"]
    assert steps["post_notice"]["notice"] == {
        "period": "P5D",
        "calendar": "working",
        "fields": ["candidate", "post"],
        "objections": True,
    }
    assert steps["appoint"]["time_limit"] == {"duration": "P3D", "calendar": "working"}
    assert steps["appoint"]["risk"]["level"] == "high"
    assert body["progress_public"] is True
    chart = api.client.get(body["diagram"])
    assert chart.status_code == 200
    assert chart.headers["content-type"].startswith("application/xml")
    assert b'id="public_appointment"' in chart.content
    (item,) = api.client.get("/public/powers").json()
    assert item["processes"] == [
        {"key": "public_appointment", "version": 1, "name": "Appointment with a public notice"}
    ]
    assert item["legal_basis"] == body["legal_basis"]
    for path in ("/public/processes/secret_appointment", "/public/processes/nothing_here"):
        missing = api.client.get(path)
        assert missing.status_code == 404
        assert missing.json()["detail"] == (
            "No public process has this key; GET /public/powers lists them."
        )
    unpublished = api.client.get("/public/progress/secret_appointment/SEC-9")
    assert unpublished.status_code == 404


def test_notice_and_disclosure_in_the_schema_and_at_upload(api: Api) -> None:
    from lxml import etree

    from conftest import ROOT

    schema = etree.XMLSchema(etree.parse(str(ROOT / "api" / "powerflow-bpmn-extensions.xsd")))
    ns = 'xmlns:pf="urn:powerflow:bpmn:1.0"'
    for good in (
        f'<pf:notice {ns} period="P5D" calendar="working" fields="a,b" objectionMessage="m"/>',
        f'<pf:disclosure {ns} public="true" progress="true"/>',
    ):
        assert schema.validate(etree.fromstring(good)), good
    for bad in (f'<pf:notice {ns} fields="a"/>', f'<pf:notice {ns} period="soon"/>'):
        assert not schema.validate(etree.fromstring(bad)), bad
    xml = (ROOT / "tests" / "data" / "public_appointment.bpmn").read_text()
    for before, after, problem in (
        ('period="P5D"', 'period="P1M"', "working"),
        ('calendar="working" fields', 'calendar="lunar" fields', "Calendar 'lunar'"),
        ('fields="candidate,post"', 'fields="candidate,1post"', "'1post'"),
        ('progress="true"', 'progress="yes"', 'progress must be "true" or "false"'),
        (
            '<bpmn:startEvent id="start">',
            '<bpmn:startEvent id="start"><bpmn:extensionElements>'
            '<pf:notice period="P1D"/></bpmn:extensionElements>',
            "pf:notice belongs on a task",
        ),
    ):
        assert before in xml
        broken = xml.replace(before, after, 1)
        response = api.client.post(
            "/v1/definitions",
            headers=api.user("designer"),
            files={"file": ("broken.bpmn", broken.encode())},
        )
        assert response.status_code == 422, (after, response.text)
        assert problem in response.json()["detail"], (problem, response.text)


def test_a_notice_without_an_objection_message_only_records_objections(api: Api) -> None:
    from conftest import DATA

    api.store.clock = ManualClock(MONDAY)
    xml = (DATA / "public_appointment.bpmn").read_text()
    quiet = xml.replace(' objectionMessage="objection"', "").replace(
        "public_appointment", "public_quiet"
    )
    deployed = api.client.post(
        "/v1/definitions",
        headers=api.user("designer"),
        files={"file": ("quiet.bpmn", quiet.encode())},
    )
    assert deployed.status_code == 201, deployed.text
    instance, _ = _up_to_notice(api, "public_quiet", "Q-1")
    notice_id = _notice_id(api, instance)
    assert (
        api.client.get("/public/processes/public_quiet").json()["steps"][1]["notice"]["objections"]
        is False
    )
    objected = api.client.post(f"/public/notices/{notice_id}/objections", json={"text": "no"})
    assert objected.status_code == 201, objected.text
    assert objected.json()["delivered"] is False
    assert [t["element_id"] for t in read(api, instance)["tasks"]] == ["appoint"]
    kinds = [kind for kind, _ in events(api, instance)]
    assert kinds.count("notice.objection_received") == 1 and "message.received" not in kinds

    # suspension is internal: the public sees the case in progress; a cancelled one has ended
    progress = "/public/progress/public_quiet/Q-1"
    monitor = api.user("monitor")
    url = f"/v1/instances/{instance['id']}"
    assert api.client.post(f"{url}/suspend", headers=monitor, json={}).status_code == 200
    assert api.client.get(progress).json()["status"] == "in_progress"
    assert api.client.post(f"{url}/resume", headers=monitor, json={}).status_code == 200
    assert api.client.post(f"{url}/cancel", headers=api.admin, json={}).status_code == 200
    assert api.client.get(progress).json()["status"] == "ended"


def test_a_notice_on_an_automatic_task_is_published_when_it_runs(api: Api) -> None:
    from conftest import DATA

    clock = api.store.clock = ManualClock(MONDAY)
    xml = (DATA / "public_appointment.bpmn").read_text()
    start = xml.index('<bpmn:userTask id="post_notice"')
    end = xml.index("</bpmn:userTask>", start) + len("</bpmn:userTask>")
    script = (
        '<bpmn:scriptTask id="post_notice" name="Publish the notice">'
        "<bpmn:extensionElements>"
        '<pf:notice period="P2D" fields="post" title="Notice of appointment"/>'
        "</bpmn:extensionElements>"
        "<bpmn:incoming>f2</bpmn:incoming><bpmn:outgoing>f3</bpmn:outgoing>"
        "<bpmn:script>published = True</bpmn:script></bpmn:scriptTask>"
    )
    auto = (xml[:start] + script + xml[end:]).replace("public_appointment", "public_auto")
    deployed = api.client.post(
        "/v1/definitions", headers=api.user("designer"), files={"file": ("a.bpmn", auto.encode())}
    )
    assert deployed.status_code == 201, deployed.text
    clerk = api.user("clerk")
    instance = _start(api, "public_auto", "AUTO-1", clerk)
    instance = complete(api, clerk, instance, "nominate", candidate="Li", post="Registrar")
    assert [t["element_id"] for t in instance["tasks"]] == ["appoint"]  # the script ran
    (notice,) = api.client.get("/public/notices").json()
    assert notice["title"] == "Notice of appointment" and notice["fields"] == {"post": "Registrar"}
    # two calendar days, whatever the weekday
    assert datetime.fromisoformat(notice["ends_at"]) == MONDAY + timedelta(days=2)
    refused = api.client.post(
        f"/v1/tasks/{task(instance, 'appoint')['id']}/complete", headers=clerk, json={"data": {}}
    )
    assert refused.status_code == 403 and refused.json()["rule_id"] == "R17"
    clock.advance(timedelta(days=2))
    assert complete(api, clerk, read(api, instance), "appoint")["status"] == "completed"


# ----------------------------------------------------------- the five shipped processes


def _disclosure_of(path: Any) -> tuple[set[str], set[str], set[str]]:
    """From a shipped file: the fields it publishes (disclosures and notices), its string form
    fields, and the names its rules, gateways and scripts read (left as they are, so the path
    still runs; their real values are checked instead)."""
    from lxml import etree

    pf, camunda = "{urn:powerflow:bpmn:1.0}", "{http://camunda.org/schema/1.0/bpmn}"
    doc = etree.parse(str(path))
    public: set[str] = set()
    for element in doc.iter(f"{pf}disclosure", f"{pf}notice"):
        if element.tag == f"{pf}notice" or element.get("public") == "true":
            public |= {f.strip() for f in (element.get("fields") or "").split(",") if f.strip()}
    strings = {f.get("id") for f in doc.iter(f"{camunda}formField") if f.get("type") == "string"}
    read = " ".join(
        [" ".join(r.attrib.values()) for r in doc.iter(f"{pf}rule")]
        + [c.text or "" for c in doc.iter("{http://www.omg.org/spec/BPMN/20100524/MODEL}*")]
    )
    used = {name for name in strings if name in read}
    return public, strings, used


def _hide(
    values: dict[str, Any],
    key: str,
    public: set[str],
    strings: set[str],
    used: set[str],
    secrets: set[str],
) -> dict[str, Any]:
    """``values`` with a sentinel in each undisclosed text field that nothing reads; the
    sentinels and the real values of the undisclosed fields that are read go to ``secrets``."""
    out = dict(values)
    for name, value in values.items():
        if name in public or name not in strings or not isinstance(value, str):
            continue
        if name in used:
            secrets.add(value)
        else:
            out[name] = f"SENTINEL-{key}-{name}"
            secrets.add(out[name])
    return out


def test_the_five_processes_publish_only_what_their_models_disclose(api: Api) -> None:
    """Each public shipped process runs with a sentinel in every undisclosed text field (its
    real value where a rule or gateway reads the field); no sentinel, undisclosed value,
    person, instance or task id appears under /public/, and what is disclosed does."""
    from dataclasses import replace

    from test_example_processes import do_step
    from test_five_processes import FILES, FULL, World

    w = World(api)
    public_keys = {"collective_decision", "cadre_appointment", "complaint_handling"}
    public_keys.add("open_tender_procurement")
    secrets: set[str] = set()
    shown: dict[str, set[str]] = {}
    cases: dict[str, dict[str, Any]] = {}
    for path in FILES:
        key = path.stem
        model = _disclosure_of(path)
        public = model[0]
        full = FULL[key]

        def hide(values: dict[str, Any], key: str = key, model: Any = model) -> dict[str, Any]:
            return _hide(values, key, *model, secrets)

        started = w.c.post(
            "/v1/instances",
            headers=w.starter,
            json={
                "definition_key": key,
                "business_key": f"PUB-{key}",
                "variables": hide(full.variables),
            },
        )
        assert started.status_code == 201, started.text
        instance = started.json()
        shown[key] = {
            v for s in full.steps for n, v in s.data.items() if n in public and isinstance(v, str)
        }
        for step in full.steps:
            if key == "cadre_appointment" and step.element_id == "review_notice":
                break  # the notice stays open
            w.clock.advance(timedelta(days=step.wait_days))
            instance = do_step(api, instance, replace(step, data=hide(step.data)), w.person)
        cases[key] = instance
    secrets -= set().union(*shown.values())  # a value also given in a disclosed field

    [notice] = api.client.get("/public/notices").json()
    bodies: dict[str, str] = {}
    for key in FULL:
        values = {"key": key, "business_key": f"PUB-{key}", "notice_id": str(notice["id"])}
        for method, path in _public_paths(api, values):
            response = _call(api, method, path)
            if key in public_keys:
                assert response.status_code in (200, 201, 404), (path, response.text)
            elif f"/{key}" in path:  # not public: nothing that names it answers
                assert response.status_code == 404, (path, response.text)
            bodies[f"{method} {path}"] = response.text
    text = "\n".join(bodies.values())
    # the sentinels are in the cases' data (so the check below can fail)
    for key, instance in cases.items():
        assert f"SENTINEL-{key}-" in str(w.state(instance)["data"]), key
    assert len(secrets) >= 40
    leaked = sorted(s for s in secrets if s in text)
    assert leaked == []
    assert w.tag not in text  # no person (every user's name carries the tag)
    for instance in cases.values():
        assert instance["id"] not in text
    # what the models disclose is there
    assert notice["process_key"] == "cadre_appointment"
    for key in ("collective_decision", "open_tender_procurement"):
        progress = api.client.get(f"/public/progress/{key}/PUB-{key}").json()
        assert progress["status"] == "completed"
        assert progress["results"] and set(progress["results"].values()) <= shown[key] | {
            v for v in progress["results"].values() if not isinstance(v, str)
        }
    petition = api.client.get("/public/progress/complaint_handling/PUB-complaint_handling")
    assert petition.status_code == 200 and petition.json()["results"] == {}
    assert (
        api.client.get("/public/progress/cadre_appointment/PUB-cadre_appointment").status_code
        == 404
    )
    powers = api.client.get("/public/powers").json()
    assert {p["key"] for power in powers for p in power["processes"]} == public_keys
