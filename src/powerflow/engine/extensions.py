"""Read powerflow's BPMN extension namespace and the Camunda attributes powerflow honours.

The namespace ``urn:powerflow:bpmn:1.0`` (prefix ``pf``) carries, per process, lane and activity:
responsible roles, legal basis, power item, time limit, risk level and measures, and disclosure.
The same keys are accepted as ``camunda:properties`` entries named ``pf:...``. User tasks also
take ``camunda:candidateGroups`` and ``camunda:formData``. What data a human task or the start
event accepts beyond its form is declared with ``pf:acceptsData`` (on the process: a default).
Everything is read from the hardened lxml tree and returned as plain JSON-ready dictionaries;
bad values become Problems with lines.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass, field
from typing import Any, Literal

from lxml import etree

from powerflow.engine.document_order import document_order
from powerflow.engine.durations import duration_problem
from powerflow.engine.rules import RuleInvalid, element_references, from_element, normalize
from powerflow.engine.types import FormField, Problem
from powerflow.engine.xml import BPMN_NS

PF_NS = "urn:powerflow:bpmn:1.0"
CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
NS = {"bpmn": BPMN_NS, "pf": PF_NS, "camunda": CAMUNDA_NS}

ROLE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
RISK_LEVELS = ("low", "medium", "high")
CALENDARS = ("calendar", "working")
TIME_LIMIT_KINDS = ("step", "statutory", "promised")
POWER_CATEGORIES = (
    "licensing",
    "penalty",
    "enforcement",
    "levy",
    "benefit-payment",
    "inspection",
    "confirmation",
    "award",
    "adjudication",
    "other",
)
PF_ELEMENTS = (
    "responsibleRole",
    "legalBasis",
    "powerItem",
    "timeLimit",
    "risk",
    "disclosure",
    "acceptsData",
    "rule",
    "clockPause",
    "alertProfile",
    "externalTask",
    "notice",
)
SINGLE_ELEMENTS = ("powerItem", "timeLimit", "risk", "disclosure", "acceptsData", "externalTask")
PAUSE_AND_PROFILE = (
    "clockPause",
    "alertProfile",
    "notice",
)  # once per element; keys only when declared
PROFILE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$")
ANY_DATA = "*"
FIELD_PATTERN = re.compile(r"^[A-Za-z][A-Za-z0-9_]{0,99}$")
# "textarea" (SpiffWorkflow's Camunda forms) is text like "string", shown as a multi-line box.
FORM_TYPES = ("string", "textarea", "long", "boolean", "date", "enum")
FORM_LIMITS = ("min", "max", "minlength", "maxlength")
ACTIVITY_TAGS = (
    "userTask",
    "manualTask",
    "task",
    "scriptTask",
    "serviceTask",
    "sendTask",
    "receiveTask",
    "businessRuleTask",
    "subProcess",
    "callActivity",
    "transaction",
)
HUMAN_TASK_TAGS = ("userTask", "manualTask", "task")
NOTICE_TAGS = ("userTask", "manualTask", "task", "scriptTask", "serviceTask", "sendTask")


def empty_metadata() -> dict[str, Any]:
    """The metadata of an element that declares nothing."""
    return {
        "responsible_roles": [],
        "legal_basis": [],
        "power_item": None,
        "time_limit": None,
        "time_limits": {},
        "risk": None,
        "disclosure": None,
    }


AcceptsData = str | list[str] | None
"""What pf:acceptsData declares: None (nothing), ``"*"`` (any field) or the field names."""


@dataclass
class StartInfo:
    """What the process's start event(s) accept as instance variables."""

    form: list[FormField] = field(default_factory=list)
    accepts_data: AcceptsData = None

    def as_dict(self) -> dict[str, Any]:
        """JSON shape stored with the definition."""
        return {"form": [f.as_dict() for f in self.form], "accepts_data": self.accepts_data}


@dataclass
class ElementInfo:
    """What powerflow knows about one flow element beyond what the engine runs."""

    element_id: str
    tag: str
    name: str
    lane: str | None
    roles: list[str]
    metadata: dict[str, Any]
    form: list[FormField] = field(default_factory=list)
    accepts_data: AcceptsData = None
    position: int | None = None  # reading order in the diagram (engine/document_order.py)

    def as_dict(self) -> dict[str, Any]:
        """JSON shape stored with the definition."""
        return {
            "element_id": self.element_id,
            "position": self.position,
            "tag": self.tag,
            "name": self.name,
            "lane": self.lane,
            "roles": self.roles,
            "metadata": self.metadata,
            "form": [f.as_dict() for f in self.form],
            "accepts_data": self.accepts_data,
        }


@dataclass
class ProcessInfo:
    """Metadata of one bpmn:process and of its elements."""

    process_id: str
    name: str
    executable: bool
    metadata: dict[str, Any]
    elements: dict[str, ElementInfo]
    accepts_data: AcceptsData = None
    start: StartInfo = field(default_factory=StartInfo)
    rules: list[dict[str, Any]] = field(default_factory=list)


class _Reader:
    def __init__(self, process_id: str) -> None:
        self.process_id = process_id
        self.problems: list[Problem] = []

    def problem(self, node: etree._Element, message: str) -> None:
        self.problems.append(
            Problem(
                message,
                line=node.sourceline,
                element_id=_owner_id(node),
                process_id=self.process_id,
            )
        )

    def metadata(self, node: etree._Element, *, where: str) -> dict[str, Any]:
        """Merged metadata of an element: a pf element wins over the same camunda property."""
        from_camunda = empty_metadata()
        self._camunda_properties(node, from_camunda, where)
        from_pf: dict[str, Any] = {}
        seen: set[str] = set()
        for el in node.xpath("./bpmn:extensionElements/pf:*", namespaces=NS):
            local = etree.QName(el).localname
            if local not in PF_ELEMENTS:
                self.problem(
                    el,
                    f"Unknown powerflow extension element pf:{local}; expected one of "
                    f"{', '.join('pf:' + e for e in PF_ELEMENTS)}.",
                )
                continue
            once = local
            if local == "timeLimit" and where == "process":
                once = f"timeLimit:{el.get('kind', 'step')}"  # one per kind on a process
            if (local in SINGLE_ELEMENTS or local in PAUSE_AND_PROFILE) and once in seen:
                self.problem(
                    el,
                    f"pf:timeLimit of kind '{el.get('kind', 'step')}' may appear at most once "
                    "on a process."
                    if once != local
                    else f"pf:{local} may appear at most once on an element.",
                )
                continue
            seen.add(once)
            if local == "acceptsData":
                continue  # read by accepts_data(), where the element kind is known
            if local == "externalTask":
                if etree.QName(node).localname != "serviceTask":
                    self.problem(el, "pf:externalTask belongs on a bpmn:serviceTask.")
                continue  # read by engine/service_tasks.py
            if local == "rule":
                if where == "lane":
                    self.problem(el, RULE_PLACE)
                continue  # read by read_rules(), where every element of the process is known
            getattr(self, f"_pf_{local}")(el, from_pf, where)
        merged = {key: from_pf.get(key, value) for key, value in from_camunda.items()}
        for key in ("clock_pause", "alert_profile", "notice"):  # absent unless declared
            if key in from_pf:
                merged[key] = from_pf[key]
        return merged

    def _role(self, node: etree._Element, value: str) -> str | None:
        value = value.strip()
        if not ROLE_PATTERN.match(value):
            self.problem(
                node,
                f"'{value}' is not a valid role id: use letters, digits, '.', '_' or '-' "
                "(at most 64 characters, starting with a letter or digit).",
            )
            return None
        return value

    def _duration(
        self, node: etree._Element, value: str, *, calendar: str = "calendar"
    ) -> str | None:
        value = value.strip()
        problem = duration_problem(value, working=calendar == "working")
        if problem is not None:
            self.problem(node, problem)
            return None
        return value

    def _choice(
        self, node: etree._Element, what: str, value: str, allowed: tuple[str, ...]
    ) -> str | None:
        if value not in allowed:
            self.problem(node, f"{what} '{value}' is not one of: {', '.join(allowed)}.")
            return None
        return value

    def _pf_responsibleRole(self, el: etree._Element, meta: dict[str, Any], where: str) -> None:
        role = self._role(el, el.text or "")
        roles = meta.setdefault("responsible_roles", [])
        if role and role not in roles:
            roles.append(role)

    def _pf_legalBasis(self, el: etree._Element, meta: dict[str, Any], where: str) -> None:
        text = (el.text or "").strip()
        bases = meta.setdefault("legal_basis", [])
        if not text:
            self.problem(el, "pf:legalBasis must not be empty.")
        elif text not in bases:
            bases.append(text)

    def _pf_powerItem(self, el: etree._Element, meta: dict[str, Any], where: str) -> None:
        if where != "process":
            self.problem(el, "pf:powerItem belongs on the bpmn:process, not on a lane or task.")
            return
        code = (el.get("code") or "").strip()
        if not code:
            self.problem(el, "pf:powerItem needs a code attribute (the power list item code).")
            return
        category = el.get("category")
        if (
            category is not None
            and self._choice(el, "Category", category, POWER_CATEGORIES) is None
        ):
            return
        boundary = self._boundary(el)
        if boundary is False:
            return
        meta["power_item"] = {
            "code": code,
            "category": category,
            "name": (el.text or "").strip(),
            "boundary": boundary,
        }

    def _boundary(self, el: etree._Element) -> dict[str, Any] | bool | None:
        """The power boundary of a pf:powerItem (amountVariable, amountCap); False if invalid."""
        variable, cap = el.get("amountVariable"), el.get("amountCap")
        if variable is None and cap is None:
            return None
        if variable is None or not FIELD_PATTERN.match(variable.strip()):
            self.problem(
                el,
                "pf:powerItem's amountVariable must name the data field holding the amount "
                "(a letter, then letters, digits or '_'), such as amountVariable=\"amount\".",
            )
            return False
        amount_cap: int | float | None = None
        if cap is not None:
            try:
                amount_cap = float(cap.strip())
            except ValueError:
                amount_cap = math.nan
            if not math.isfinite(amount_cap) or amount_cap < 0:
                self.problem(el, f"pf:powerItem's amountCap '{cap}' must be a number, 0 or more.")
                return False
            if amount_cap.is_integer():
                amount_cap = int(amount_cap)
        return {"amount_variable": variable.strip(), "amount_cap": amount_cap}

    def _pf_timeLimit(self, el: etree._Element, meta: dict[str, Any], where: str) -> None:
        duration = el.get("duration")
        if duration is None:
            self.problem(el, 'pf:timeLimit needs a duration attribute, such as duration="P5D".')
            return
        calendar = el.get("calendar", "calendar")
        kind = el.get("kind", "step")
        extendable, approver = el.get("extendable"), el.get("extensionApprover")
        if (
            self._duration(el, duration, calendar=calendar) is None
            or self._choice(el, "Calendar", calendar, CALENDARS) is None
            or self._choice(el, "Time limit kind", kind, TIME_LIMIT_KINDS) is None
            or (
                extendable is not None and self._duration(el, extendable, calendar=calendar) is None
            )
            or (approver is not None and self._role(el, approver) is None)
        ):
            return
        limit = {
            "duration": duration.strip(),
            "calendar": calendar,
            "kind": kind,
            "extendable": extendable.strip() if extendable is not None else None,
            "extension_approver": approver.strip() if approver is not None else None,
        }
        if meta.get("time_limit") is None:
            meta["time_limit"] = limit  # the first declared, as before kinds could be combined
        meta.setdefault("time_limits", {})[kind] = limit

    def _pf_clockPause(self, el: etree._Element, meta: dict[str, Any], where: str) -> None:
        """While a task of this activity is open, the case's promised/statutory clock stops."""
        if where in ("process", "lane"):
            self.problem(el, "pf:clockPause belongs on an activity, not on a process or lane.")
            return
        reason = (el.get("reason") or "").strip() or None
        meta["clock_pause"] = {"reason": reason}

    def _pf_alertProfile(self, el: etree._Element, meta: dict[str, Any], where: str) -> None:
        """The alert profile (thresholds) the process's deadlines are watched with."""
        if where != "process":
            self.problem(el, "pf:alertProfile belongs on the bpmn:process, not on a lane or task.")
            return
        name = (el.get("name") or "").strip()
        if not PROFILE_PATTERN.match(name):
            self.problem(
                el,
                "pf:alertProfile needs a name attribute naming an alert profile, such as "
                'name="two-tier" (letters, digits, ".", "_" or "-").',
            )
            return
        meta["alert_profile"] = name

    def _pf_risk(self, el: etree._Element, meta: dict[str, Any], where: str) -> None:
        level = el.get("level")
        if level is None:
            self.problem(el, "pf:risk needs a level attribute: low, medium or high.")
            return
        if self._choice(el, "Risk level", level, RISK_LEVELS) is None:
            return
        measures = [
            (m.text or "").strip()
            for m in el.xpath("./pf:measure", namespaces=NS)
            if (m.text or "").strip()
        ]
        described = el.xpath("./pf:description", namespaces=NS)
        description = el.get("description")
        if described and description is not None:
            self.problem(
                el, "pf:risk has a description attribute and a pf:description child; keep one."
            )
            return
        if len(described) > 1:
            self.problem(described[1], "pf:risk may have at most one pf:description.")
            return
        if described:
            description = described[0].text or ""
        for child in el:
            if not isinstance(child.tag, str):
                continue
            name = etree.QName(child)
            if name.namespace == PF_NS and name.localname not in ("measure", "description"):
                self.problem(
                    child,
                    f"pf:risk may contain pf:description and pf:measure, not pf:{name.localname}.",
                )
                return
        risk = self._risk(
            el,
            level,
            measures,
            description,
            el.get("requireComment"),
            el.get("countersign"),
            where=where,
            comment_what="pf:risk's requireComment",
            countersign_what="pf:risk's countersign",
        )
        if risk is not None:
            meta["risk"] = risk

    def _risk(
        self,
        node: etree._Element,
        level: str,
        measures: list[str],
        description: str | None,
        require_comment: str | None,
        countersign: str | None,
        *,
        where: str,
        comment_what: str,
        countersign_what: str,
    ) -> dict[str, Any] | None:
        """A risk point with its requirements, checked (None after a problem)."""
        if description is not None and not description.strip():
            self.problem(node, "A risk point's description must not be empty.")
            return None
        if require_comment is not None and require_comment not in ("true", "false"):
            self.problem(
                node, f'{comment_what} must be "true" or "false" (found \'{require_comment}\').'
            )
            return None
        role: str | None = None
        if countersign is not None:
            role = self._role(node, countersign)
            if role is None:
                return None
        needs = [
            what
            for what, wanted in (
                (comment_what, require_comment == "true"),
                (countersign_what, role),
            )
            if wanted
        ]
        if needs:
            named = f"{' and '.join(needs)} {'are' if len(needs) > 1 else 'is'}"
            if level != "high":
                self.problem(
                    node,
                    f"{named} only for a high-risk link, and this risk point's level is "
                    f"'{level}': set level=\"high\" or remove the requirement.",
                )
                return None
            if where != "activity":
                place = "bpmn:process" if where == "process" else "lane"
                self.problem(
                    node,
                    f"{named} only for a human task (user task, manual task or task), not "
                    f"for a {place}: move the risk point's requirement onto the task.",
                )
                return None
        return {
            "level": level,
            "measures": measures,
            "description": description.strip() if description is not None else None,
            "require_comment": require_comment == "true",
            "countersign": role,
        }

    def _pf_disclosure(self, el: etree._Element, meta: dict[str, Any], where: str) -> None:
        public = el.get("public")
        if public not in ("true", "false"):
            self.problem(el, 'pf:disclosure needs public="true" or public="false".')
            return
        fields = [f.strip() for f in (el.get("fields") or "").split(",") if f.strip()]
        meta["disclosure"] = {"public": public == "true", "fields": fields}
        progress = el.get("progress")
        if progress is not None:
            if where != "process":
                self.problem(el, "pf:disclosure/@progress belongs on the bpmn:process only.")
            elif progress not in ("true", "false"):
                self.problem(el, 'pf:disclosure progress must be "true" or "false".')
            else:
                meta["disclosure"]["progress"] = progress == "true"
        for name in fields:
            if not FIELD_PATTERN.match(name):
                self.problem(el, f"pf:disclosure fields: '{name}' is not a data field name.")

    def _pf_notice(self, el: etree._Element, meta: dict[str, Any], where: str) -> None:
        """A public notice (公示): the element publishes fields for a period when it starts."""
        tag = etree.QName(el.getparent().getparent()).localname if where != "process" else ""
        if tag not in NOTICE_TAGS:
            self.problem(
                el,
                "pf:notice belongs on a task (user, manual, plain, script, service or send "
                "task): the notice is published when that task starts.",
            )
            return
        calendar = (el.get("calendar") or "calendar").strip()
        period = (el.get("period") or "").strip()
        if not period:
            self.problem(el, 'pf:notice needs a period, such as period="P5D".')
            return
        if self._choice(el, "Calendar", calendar, CALENDARS) is None:
            return
        if self._duration(el, period, calendar=calendar) is None:
            return
        fields = [f.strip() for f in (el.get("fields") or "").split(",") if f.strip()]
        bad = [f for f in fields if not FIELD_PATTERN.match(f)]
        if bad:
            self.problem(el, f"pf:notice fields: '{bad[0]}' is not a data field name.")
            return
        message = (el.get("objectionMessage") or "").strip() or None
        if message is not None and len(message) > 255:
            self.problem(el, "pf:notice objectionMessage is longer than 255 characters.")
            return
        meta["notice"] = {
            "period": period,
            "calendar": calendar,
            "fields": fields,
            "objection_message": message,
            "title": (el.get("title") or "").strip()[:255] or None,
        }

    def _camunda_properties(self, node: etree._Element, meta: dict[str, Any], where: str) -> None:
        props = node.xpath(
            "./bpmn:extensionElements/camunda:properties/camunda:property", namespaces=NS
        )
        values: dict[str, tuple[etree._Element, str]] = {}
        for prop in props:
            name = prop.get("name") or ""
            if name.startswith("pf:"):
                values[name[3:]] = (prop, prop.get("value") or "")
        known = {
            "responsibleRole",
            "legalBasis",
            "powerItem",
            "timeLimit",
            "timeLimitCalendar",
            "timeLimitKind",
            "riskLevel",
            "riskMeasures",
            "riskDescription",
            "riskRequireComment",
            "riskCountersign",
            "disclosure",
            "disclosureFields",
            "acceptsData",
        }
        for key, (prop, _value) in values.items():
            if key not in known:
                self.problem(
                    prop,
                    f"Unknown powerflow property pf:{key}; expected one of "
                    f"{', '.join('pf:' + k for k in sorted(known))}.",
                )
        if "responsibleRole" in values:
            prop, value = values["responsibleRole"]
            roles = [r for r in (self._role(prop, v) for v in value.split(",") if v.strip()) if r]
            meta["responsible_roles"] = roles
        if "legalBasis" in values:
            meta["legal_basis"] = [values["legalBasis"][1].strip()]
        if "powerItem" in values:
            meta["power_item"] = {
                "code": values["powerItem"][1].strip(),
                "category": None,
                "name": "",
                "boundary": None,
            }
        if "timeLimit" in values:
            prop, value = values["timeLimit"]
            calendar = values.get("timeLimitCalendar", (prop, "calendar"))[1] or "calendar"
            kind = values.get("timeLimitKind", (prop, "step"))[1] or "step"
            if (
                self._duration(prop, value, calendar=calendar) is not None
                and self._choice(prop, "Calendar", calendar, CALENDARS) is not None
                and self._choice(prop, "Time limit kind", kind, TIME_LIMIT_KINDS) is not None
            ):
                limit = {
                    "duration": value.strip(),
                    "calendar": calendar,
                    "kind": kind,
                    "extendable": None,
                    "extension_approver": None,
                }
                meta["time_limit"] = limit
                meta["time_limits"] = {kind: limit}
        if "riskLevel" in values:
            prop, level = values["riskLevel"]
            if self._choice(prop, "Risk level", level, RISK_LEVELS) is not None:
                measures = values.get("riskMeasures", (prop, ""))[1]
                risk = self._risk(
                    prop,
                    level,
                    [m.strip() for m in measures.split(";") if m.strip()],
                    values["riskDescription"][1] if "riskDescription" in values else None,
                    values["riskRequireComment"][1] if "riskRequireComment" in values else None,
                    values["riskCountersign"][1] if "riskCountersign" in values else None,
                    where=where,
                    comment_what="pf:riskRequireComment",
                    countersign_what="pf:riskCountersign",
                )
                if risk is not None:
                    meta["risk"] = risk
        else:
            for key in ("riskDescription", "riskRequireComment", "riskCountersign"):
                if key in values:
                    self.problem(
                        values[key][0], f"pf:{key} is only read together with pf:riskLevel: add it."
                    )
        if "disclosure" in values:
            prop, value = values["disclosure"]
            if self._choice(prop, "Disclosure", value, ("public", "internal")) is not None:
                fields = values.get("disclosureFields", (prop, ""))[1]
                meta["disclosure"] = {
                    "public": value == "public",
                    "fields": [f.strip() for f in fields.split(",") if f.strip()],
                }

    def accepts_data(self, node: etree._Element, *, allowed: bool) -> AcceptsData:
        """The pf:acceptsData of an element (the element wins over the camunda property).

        ``allowed`` says whether the element may carry it (a process, a start event, a human
        task); elsewhere it is an upload problem, because it would mean nothing.
        """
        elements = node.xpath("./bpmn:extensionElements/pf:acceptsData", namespaces=NS)
        props = node.xpath(
            "./bpmn:extensionElements/camunda:properties/camunda:property[@name='pf:acceptsData']",
            namespaces=NS,
        )
        source: etree._Element | None = None
        raw: str | None = None
        if elements:
            source, raw = elements[0], elements[0].get("fields")
            if raw is None:
                self.problem(
                    source,
                    'pf:acceptsData needs a fields attribute: fields="*" for any field, or the '
                    'field names separated by commas, such as fields="approved,comment".',
                )
                return None
        elif props:
            source, raw = props[-1], props[-1].get("value") or ""
        if source is None or raw is None:
            return None
        if not allowed:
            self.problem(source, ACCEPTS_DATA_PLACE)
            return None
        if raw.strip() == ANY_DATA:
            return ANY_DATA
        names: list[str] = []
        for name in (n.strip() for n in raw.split(",")):
            if not FIELD_PATTERN.match(name):
                self.problem(
                    source,
                    f"pf:acceptsData names '{name}', which is not a data field name: use a "
                    "letter, then letters, digits or '_' (or fields=\"*\" for any field).",
                )
                return None
            if name not in names:
                names.append(name)
        return names

    def form(self, node: etree._Element) -> list[FormField]:
        fields: list[FormField] = []
        for ff in node.xpath(
            "./bpmn:extensionElements/camunda:formData/camunda:formField", namespaces=NS
        ):
            fid = (ff.get("id") or "").strip()
            if not fid:
                self.problem(ff, "A camunda:formField needs an id.")
                continue
            ftype = ff.get("type") or "string"
            if ftype not in FORM_TYPES:
                self.problem(
                    ff,
                    f"Form field '{fid}' has type '{ftype}'; supported types are "
                    f"{', '.join(FORM_TYPES)}.",
                )
                continue
            required, readonly, limits = self.constraints(ff, fid)
            options = tuple(
                (v.get("id") or "", v.get("name") or v.get("id") or "")
                for v in ff.xpath("./camunda:value", namespaces=NS)
            )
            if ftype == "enum" and not options:
                self.problem(ff, f"Enum form field '{fid}' lists no camunda:value options.")
            fields.append(
                FormField(
                    id=fid,
                    label=ff.get("label") or fid,
                    type=ftype,
                    required=required,
                    default=ff.get("defaultValue"),
                    options=options,
                    readonly=readonly,
                    limits=limits,
                )
            )
        return fields

    def constraints(
        self, ff: etree._Element, fid: str
    ) -> tuple[bool, bool, tuple[tuple[str, float], ...]]:
        """Camunda's built-in form constraints of a field: required, readonly and its limits.

        A constraint powerflow cannot check (a custom validator class) is a problem: a
        validation the designer relies on must never be skipped silently.
        """
        required = readonly = False
        limits: list[tuple[str, float]] = []
        for c in ff.xpath("./camunda:validation/camunda:constraint", namespaces=NS):
            name = (c.get("name") or "").strip()
            if name == "required":
                required = True
            elif name == "readonly":
                readonly = True
            elif name in FORM_LIMITS:
                config = (c.get("config") or "").strip()
                try:
                    value = float(config) if name in ("min", "max") else float(int(config))
                except (ValueError, OverflowError):
                    value = math.nan
                if not math.isfinite(value) or (value < 0 and name not in ("min", "max")):
                    kind = "a number" if name in ("min", "max") else "a whole number, 0 or more"
                    self.problem(
                        c,
                        f"The '{name}' constraint of form field '{fid}' needs config set to "
                        f"{kind} (found '{config}').",
                    )
                    continue
                limits.append((name, value))
            else:
                self.problem(
                    c,
                    f"Form field '{fid}' has the constraint '{name}', which powerflow cannot "
                    f"check; use {', '.join(('required', 'readonly', *FORM_LIMITS))}.",
                )
        return required, readonly, tuple(limits)


RULE_PLACE = (
    "pf:rule belongs on a bpmn:process or on an activity (the element it guards), not on a lane."
)
ACCEPTS_DATA_PLACE = (
    "pf:acceptsData belongs on a bpmn:process, a start event or a human task (user task, manual "
    "task or task); move it there or remove it."
)


def _owner_id(node: etree._Element) -> str | None:
    current: etree._Element | None = node
    while current is not None:
        if etree.QName(current).namespace == BPMN_NS and current.get("id"):
            return str(current.get("id"))
        current = current.getparent()
    return None


MAX_NAME = 255


_NOT_IN_ROLE = re.compile(r"[^A-Za-z0-9._-]+")


def _lane_role(lane: etree._Element, name: str, reader: _Reader) -> str:
    """The role a lane without pf:responsibleRole gives its tasks: its name. A name that is not
    a role id ("Lane 1", "Finance office", non-Latin letters) would make a role no user can be
    given, so no one could ever act on the lane's tasks: the role is then the name with each run
    of other characters made '_' ("Lane_1"), or, for a name not written in Latin letters, the
    lane's id; a warning says which."""
    if ROLE_PATTERN.match(name):
        return name
    role = _NOT_IN_ROLE.sub("_", name).strip("_.-")[:64]
    lane_id = (lane.get("id") or "").strip()
    if not name.isascii() or not ROLE_PATTERN.match(role):
        role = lane_id
    if not ROLE_PATTERN.match(role):
        return name  # neither the name nor the id: the task keeps it, unassignable as before
    reader.problems.append(
        Problem(
            f"The lane '{name}' has no pf:responsibleRole and its name is not a role id "
            "(letters, digits, '.', '_' or '-'), so its tasks are offered to the role "
            f"'{role}': give users that role, or give the lane a pf:responsibleRole.",
            line=lane.sourceline,
            element_id=lane_id or None,
            process_id=reader.process_id,
            severity="warning",
        )
    )
    return role


def _lanes_of(process: etree._Element, reader: _Reader) -> dict[str, tuple[str, list[str]]]:
    """Map each flow node id to (lane name, lane roles); the innermost lane wins."""
    result: dict[str, tuple[str, list[str]]] = {}
    for lane in process.iter(f"{{{BPMN_NS}}}lane"):  # document order: parents before children
        name = (lane.get("name") or lane.get("id") or "").strip()
        if len(name) > MAX_NAME:
            reader.problem(
                lane,
                f"A lane name is used as a role and may have at most {MAX_NAME} characters; "
                "shorten it or give the lane a pf:responsibleRole.",
            )
            name = name[:MAX_NAME]
        meta = reader.metadata(lane, where="lane")
        reader.accepts_data(lane, allowed=False)
        roles = meta["responsible_roles"] or [_lane_role(lane, name, reader)]
        for ref in lane.xpath("./bpmn:flowNodeRef", namespaces=NS):
            result[(ref.text or "").strip()] = (name, roles)
    return result


def _start_info(process: etree._Element, reader: _Reader) -> StartInfo:
    """The form fields and pf:acceptsData of the process's own start events, merged."""
    start = StartInfo()
    for node in process.xpath("./bpmn:startEvent", namespaces=NS):
        for ff in reader.form(node):
            if all(f.id != ff.id for f in start.form):
                start.form.append(ff)
        accepts = reader.accepts_data(node, allowed=True)
        if accepts == ANY_DATA:
            start.accepts_data = ANY_DATA
        elif isinstance(accepts, list) and start.accepts_data != ANY_DATA:
            known = start.accepts_data if isinstance(start.accepts_data, list) else []
            start.accepts_data = known + [n for n in accepts if n not in known]
    return start


def misbound_namespace(root: etree._Element) -> list[Problem]:
    """A problem when the file's ``pf`` prefix (or a namespace naming powerflow) is not
    powerflow's namespace: every ``pf:`` element would be ignored without a word, and with them
    the limits, risks, rules and accepted data the designer declared."""
    for node in root.iter():
        if not isinstance(node.tag, str):
            continue
        namespace = etree.QName(node).namespace or ""
        if namespace != PF_NS and (node.prefix == "pf" or "powerflow" in namespace.lower()):
            return [
                Problem(
                    f"The element {node.prefix or ''}:{etree.QName(node).localname} is in the "
                    f"namespace '{namespace}', which is not powerflow's: powerflow would ignore "
                    f'it. Declare xmlns:pf="{PF_NS}" for powerflow\'s extensions.',
                    line=node.sourceline,
                    element_id=_owner_id(node),
                )
            ]
    return []


def read_process(process: etree._Element) -> tuple[ProcessInfo, list[Problem]]:
    """Read the powerflow metadata of one bpmn:process element and of its activities."""
    pid = process.get("id") or ""
    reader = _Reader(pid)
    for node in process.iter():
        node_id = node.get("id") if isinstance(node.tag, str) else None
        if node_id and len(node_id) > MAX_NAME:
            reader.problem(node, f"Element ids may have at most {MAX_NAME} characters.")
    meta = reader.metadata(process, where="process")
    lanes = _lanes_of(process, reader)
    order = document_order(process)
    elements: dict[str, ElementInfo] = {}
    for tag in ACTIVITY_TAGS:
        for node in process.iter(f"{{{BPMN_NS}}}{tag}"):
            eid = node.get("id") or ""
            emeta = reader.metadata(node, where="activity")
            lane_name, lane_roles = lanes.get(eid, (None, []))
            roles = list(emeta["responsible_roles"])
            groups = [
                g.strip() for g in (node.get(f"{{{CAMUNDA_NS}}}candidateGroups") or "").split(",")
            ]
            groups = [g for g in groups if g]
            if not roles and groups:
                roles = [r for r in (reader._role(node, g) for g in groups) if r]
            if not roles:
                roles = list(lane_roles)
            risk = emeta.get("risk") or {}
            if (risk.get("require_comment") or risk.get("countersign")) and (
                tag not in HUMAN_TASK_TAGS
            ):
                reader.problem(
                    node,
                    f"The {tag} '{eid}' has a risk point that requires a comment or a "
                    "countersignature; only a human task (user task, manual task or task) is "
                    "completed by a person, so move the requirement there or remove it.",
                )
                emeta["risk"] = {**risk, "require_comment": False, "countersign": None}
            form = reader.form(node) if tag == "userTask" else []
            accepts = reader.accepts_data(node, allowed=tag in HUMAN_TASK_TAGS)
            elements[eid] = ElementInfo(
                element_id=eid,
                tag=tag,
                name=(node.get("name") or eid).strip(),
                lane=lane_name,
                roles=roles,
                metadata=emeta,
                form=form,
                accepts_data=accepts,
                position=order.get(eid),
            )
    for el in process.iter(f"{{{PF_NS}}}notice"):  # on events and gateways: never read
        owner = el.getparent().getparent() if el.getparent() is not None else None
        if owner is not None and etree.QName(owner).localname not in (
            *ACTIVITY_TAGS,
            "process",
            "lane",
        ):
            reader.problem(
                el,
                "pf:notice belongs on a task (user, manual, plain, script, service or send "
                "task): the notice is published when that task starts.",
            )
    info = ProcessInfo(
        process_id=pid,
        name=(process.get("name") or pid).strip(),
        executable=process.get("isExecutable", "true") != "false",
        metadata=meta,
        elements=elements,
        accepts_data=reader.accepts_data(process, allowed=True),
        start=_start_info(process, reader),
        rules=read_rules(process, reader, elements),
    )
    return info, reader.problems


def unassigned_human_tasks(info: ProcessInfo, lines: dict[str, int | None]) -> list[Problem]:
    """One problem per human task with no responsible role (no lane, candidate group or
    pf:responsibleRole): an error when the process declares a power item (every link of a power
    has a responsible subject), a warning otherwise. ``lines`` maps element ids to lines."""
    severity: Literal["error", "warning"] = (
        "error" if info.metadata.get("power_item") else "warning"
    )
    why = (
        f"the process exercises the power item '{info.metadata['power_item']['code']}', so "
        "every step needs a responsible role"
        if severity == "error"
        else "every clerk may act on it"
    )
    return [
        Problem(
            f"The {element.tag} '{element.name}' has no responsible role ({why}): put it in a "
            "lane, give it camunda:candidateGroups or a pf:responsibleRole.",
            line=lines.get(element.element_id),
            element_id=element.element_id,
            process_id=info.process_id,
            severity=severity,
        )
        for element in info.elements.values()
        if element.tag in HUMAN_TASK_TAGS and not element.roles
    ]


def read_rules(
    process: etree._Element, reader: _Reader, elements: dict[str, ElementInfo]
) -> list[dict[str, Any]]:
    """The pf:rule declarations of a process and its activities, checked, in document order.

    Each rule's ``elements`` is resolved here: its own attribute, else the activity it sits on,
    else (on the process) the tasks a separation-of-duties rule names, or every human task.
    Every element a rule names must be a human task of this process: rules are checked when a
    person claims or completes a task.
    """
    human = [eid for eid, e in elements.items() if e.tag in HUMAN_TASK_TAGS]
    ids = {str(n.get("id")) for n in process.iter() if isinstance(n.tag, str) and n.get("id")}
    rules: list[dict[str, Any]] = []
    seen: set[str] = set()
    for el in process.iter(f"{{{PF_NS}}}rule"):
        parent = el.getparent()
        owner = parent.getparent() if parent is not None else None
        if owner is None or etree.QName(parent).localname != "extensionElements":
            continue
        owner_tag = etree.QName(owner).localname
        if owner_tag == "lane":
            continue  # reported by metadata()
        try:
            rule = normalize(from_element(el), bpmn=True)
        except RuleInvalid as exc:
            reader.problem(el, str(exc))
            continue
        if rule["id"] in seen:
            reader.problem(el, f"Rule id {rule['id']} is declared twice in this process.")
            continue
        seen.add(rule["id"])
        if not rule["elements"]:
            if owner is not process:
                rule["elements"] = [str(owner.get("id") or "")]
            elif rule["kind"] == "separation-of-duties":
                rule["elements"] = list(rule["params"]["tasks"])
            elif rule["kind"] == "required-before":
                reader.problem(
                    el,
                    f"Rule {rule['id']} (required-before) on the process must say which "
                    'elements it guards (elements="..."), or sit on the guarded task.',
                )
                continue
            else:
                rule["elements"] = list(human)
        bad = False
        for what, ref in element_references(rule):
            if ref not in ids:
                reader.problem(
                    el,
                    f"Rule {rule['id']}: {what} names '{ref}', which is no element of this "
                    "process.",
                )
                bad = True
            elif ref not in human:
                reader.problem(
                    el,
                    f"Rule {rule['id']}: {what} names '{ref}', which is not a human task (user "
                    "task, manual task or task); rules are checked when a person claims or "
                    "completes a task.",
                )
                bad = True
        if not bad:
            rules.append(rule)
    return rules
