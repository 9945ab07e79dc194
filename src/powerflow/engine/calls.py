"""Call activities across files: which processes a file calls from elsewhere, how a called
definition's catalog joins its caller's, and the runnable spec of a caller bound to the
definitions it calls.

A call activity whose ``calledElement`` is not a process of its own file is *external*: the
compiler records it in the catalog (``calls``) with the version it pins, if any
(``camunda:calledElementBinding="version"`` with ``camunda:calledElementVersion``), and the
service resolves it to a deployed definition. An instance is bound when it starts: the specs it
runs are fixed then and named in its saved state (``subprocess_specs``: called process id ->
``<content hash>:<process id>``), so a later deployment of a called process never changes it.
"""

from __future__ import annotations

import re
import threading
from collections import OrderedDict
from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

import orjson
from lxml import etree
from SpiffWorkflow.bpmn.specs.mixins.subworkflow_task import SubWorkflowTask
from SpiffWorkflow.dmn.parser.BpmnDmnParser import SCHEMAS

from powerflow.engine.types import Problem
from powerflow.engine.xml import BPMN_NS, XmlRejected, parse_untrusted

if TYPE_CHECKING:
    from powerflow.engine.compiler import LoadedProcess

CAMUNDA_NS = "http://camunda.org/schema/1.0/bpmn"
SPIFF_NS = "http://spiffworkflow.org/bpmn/schema/1.0/core"
DMN_NAMESPACES = tuple(SCHEMAS)
DMN_PREFIX = "dmn:"  # bound decisions are keyed "dmn:<decision id>" (never a process id)
_BINDING = f"{{{CAMUNDA_NS}}}calledElementBinding"
_VERSION = f"{{{CAMUNDA_NS}}}calledElementVersion"


@dataclass(frozen=True)
class ExternalCall:
    """A call activity that calls a process of another file."""

    element_id: str
    name: str
    process: str
    version: int | None  # pinned version, or None for the latest
    line: int | None

    def as_dict(self) -> dict[str, Any]:
        """The JSON shape kept in the catalog's ``calls``."""
        return {
            "process": self.process,
            "version": self.version,
            "name": self.name,
            "line": self.line,
        }


def walk_subprocess_specs(parser: Any, process_id: str) -> tuple[dict[str, Any], list[str]]:
    """The subprocess and called specs a process needs that its own file holds, and the ids of
    the called processes it does not hold (in the order first met).

    SpiffWorkflow's ``get_subprocess_specs(require_call_activity_specs=False)`` still requires
    the specs called from a called process; this walk tolerates a missing one at any depth.
    """
    found: dict[str, Any] = {}
    missing: list[str] = []

    def walk(name: str) -> None:
        spec = parser.get_spec(name)
        for task_spec in spec.task_specs.values():
            called = getattr(task_spec, "spec", None)
            if not isinstance(task_spec, SubWorkflowTask) or not isinstance(called, str):
                continue
            if called in found or called in missing:
                continue
            sub = parser.get_spec(called, required=False)
            if sub is None:
                missing.append(called)
                continue
            found[called] = sub
            walk(called)

    walk(process_id)
    return found, missing


def called_elsewhere(data: bytes, max_bytes: int) -> tuple[set[str], list[dict[str, Any]]]:
    """(the ids of the file's processes, the call activities that call a process outside it),
    read from the XML alone: what an upload refused for another reason still needs, so the
    refusal can name every missing called process at once. Each call is ``{"process",
    "version", "name", "line", "element_id", "process_id"}``; an unreadable file gives none."""
    try:
        root = parse_untrusted(data, max_bytes=max_bytes).getroot()
    except XmlRejected:
        return set(), []
    own = {str(p.get("id")) for p in root.iter(f"{{{BPMN_NS}}}process")}
    found: list[dict[str, Any]] = []
    for node in root.iter(f"{{{BPMN_NS}}}callActivity"):
        called = (node.get("calledElement") or "").strip()
        if not called or called in own:
            continue
        owner = next(node.iterancestors(f"{{{BPMN_NS}}}process"), None)
        pinned = (node.get(_VERSION) or "").strip()
        found.append(
            {
                "process": called,
                "version": int(pinned)
                if pinned.isdigit() and node.get(_BINDING) == "version"
                else None,
                "name": " ".join((node.get("name") or node.get("id") or "").split()),
                "line": node.sourceline,
                "element_id": node.get("id"),
                "process_id": owner.get("id") if owner is not None else None,
            }
        )
    return own, found


def unnamed_calls(root: etree._Element) -> list[Problem]:
    """A problem for every call activity that names no process to call (even in a process
    stored for viewing: the diagram is broken, whatever runs it)."""
    problems = []
    for node in root.iter(f"{{{BPMN_NS}}}callActivity"):
        if (node.get("calledElement") or "").strip():
            continue
        label = " ".join((node.get("name") or node.get("id") or "").split())
        owner = node.getparent()
        while owner is not None and etree.QName(owner).localname != "process":
            owner = owner.getparent()
        problems.append(
            Problem(
                f"The call activity '{label}' names no process to call: set its calledElement "
                "to the id of the process it runs (in this file, deployed, or in the same "
                "bundle).",
                line=node.sourceline,
                element_id=node.get("id"),
                process_id=owner.get("id") if owner is not None else None,
            )
        )
    return problems


def external_calls(
    root: etree._Element, missing: list[str], process_id: str
) -> tuple[dict[str, ExternalCall], list[Problem]]:
    """The call activities (anywhere in the file) that call a process in ``missing``, with the
    version each pins; a binding powerflow cannot honour is a problem."""
    calls: dict[str, ExternalCall] = {}
    problems: list[Problem] = []
    for node in root.iter(f"{{{BPMN_NS}}}callActivity"):
        called = node.get("calledElement")
        if called not in missing:
            continue
        element_id = str(node.get("id"))
        label = " ".join((node.get("name") or element_id).split())
        binding = (node.get(_BINDING) or "latest").strip()
        version: int | None = None
        if binding == "version":
            raw = (node.get(_VERSION) or "").strip()
            if not re.fullmatch(r"[1-9][0-9]{0,8}", raw):
                problems.append(
                    Problem(
                        f"The call activity '{label}' pins a version of '{called}' "
                        '(camunda:calledElementBinding="version") but its '
                        f"camunda:calledElementVersion is {raw or 'missing'!r}, not a version "
                        "number such as 2.",
                        line=node.sourceline,
                        element_id=element_id,
                        process_id=process_id,
                    )
                )
                continue
            version = int(raw)
        elif binding != "latest":
            problems.append(
                Problem(
                    f"The call activity '{label}' uses camunda:calledElementBinding="
                    f'"{binding}", which powerflow does not support; use "latest" (the '
                    'default) or "version" with camunda:calledElementVersion.',
                    line=node.sourceline,
                    element_id=element_id,
                    process_id=process_id,
                )
            )
            continue
        calls[element_id] = ExternalCall(element_id, label, str(called), version, node.sourceline)
    return calls, problems


def merge_called(catalog: dict[str, Any], called: str, callee: Mapping[str, Any]) -> dict[str, Any]:
    """The caller's catalog with a called definition's elements, flows, rules and ownership
    joined, as the compiler does for a process called within one file: the caller's own entries
    win, each called element keeps the called process's own data rule, and ``called`` says which
    process owns each joined element (API rules match on it). What an earlier join took from
    the same called process is replaced (an instance binds the version current at its start)."""
    own_default = callee.get("accepts_data")
    default = own_default if own_default is not None else []
    theirs = callee.get("called") or {}
    owners = dict(catalog.get("called") or {})
    stale = {key for key, owner in owners.items() if owner == called}
    mine = {k: v for k, v in (catalog.get("elements") or {}).items() if k not in stale}
    owners = {k: v for k, v in owners.items() if k not in stale}
    elements = {
        key: element
        if element.get("form") or element.get("accepts_data") is not None
        else {**element, "accepts_data": default}
        for key, element in (callee.get("elements") or {}).items()
    }
    for key in elements:
        if key not in mine:
            owners.setdefault(key, theirs.get(key, called))
    rules = [r for r in catalog.get("rules") or [] if r.get("process") != called]
    known = {(r.get("id"), r.get("process")) for r in rules}
    for rule in callee.get("rules") or []:
        entry = {**rule, "process": rule.get("process") or called}
        if (entry.get("id"), entry["process"]) not in known:
            rules.append(entry)
    return {
        **catalog,
        "elements": {**elements, **mine},
        "flows": {**(callee.get("flows") or {}), **(catalog.get("flows") or {})},
        "rules": rules,
        "called": owners,
    }


def decision_ref(node: etree._Element) -> str | None:
    """The decision a business rule task evaluates (``spiffworkflow:calledDecisionId`` or
    ``camunda:decisionRef``), or None."""
    for child in node.iter(f"{{{SPIFF_NS}}}calledDecisionId"):
        if child.text and child.text.strip():
            return str(child.text).strip()
    ref = node.get(f"{{{CAMUNDA_NS}}}decisionRef")
    return str(ref).strip() if ref and str(ref).strip() else None


def decision_tasks(
    root: etree._Element, available: Mapping[str, Any], process_id: str | None = None
) -> tuple[dict[str, str], list[Problem]]:
    """Business rule task id -> the decision it evaluates, and a problem for each task whose
    decision is neither deployed nor in the upload (one naming no decision is skipped: its
    process is stored for viewing)."""
    found: dict[str, str] = {}
    problems: list[Problem] = []
    for node in root.iter(f"{{{BPMN_NS}}}businessRuleTask"):
        element_id = str(node.get("id"))
        label = " ".join((node.get("name") or element_id).split())
        owner = node.getparent()
        while owner is not None and etree.QName(owner).localname != "process":
            owner = owner.getparent()
        pid = process_id or (owner.get("id") if owner is not None else None)
        if owner is not None and owner.get("isExecutable") == "false":
            continue  # stored for viewing: nothing evaluates it
        ref = decision_ref(node)
        if ref is None:  # its process is stored for viewing (compiler._not_runnable_yet)
            continue
        if ref not in available:
            problems.append(
                Problem(
                    f"The business rule task '{label}' evaluates the decision '{ref}', which is "
                    "neither deployed nor in this upload; deploy its .dmn file first, or upload "
                    "both files together as a bundle (several 'file' parts, or one zip).",
                    line=node.sourceline,
                    element_id=element_id,
                    process_id=pid,
                )
            )
        else:
            found[element_id] = ref
    return found, problems


# --- saved state ---------------------------------------------------------------------------

_PREFIX = re.compile(r'\{"spec":"[^"]*","subprocess_specs":')
_DECODER = orjson.loads


def bound_refs(state: str) -> dict[str, str]:
    """The specs from other deployments a saved state was bound to: called process id ->
    ``<content hash>:<process id>`` (empty for an instance that calls nothing elsewhere).

    powerflow writes ``spec`` and ``subprocess_specs`` first, so this reads only the start of
    the state; a state written otherwise is parsed whole.
    """
    found = _PREFIX.match(state)
    if found is not None:
        start = found.end()
        if state.startswith("{}", start):
            return {}
        end = state.find("}", start)
        if end > 0:
            try:
                refs = _DECODER(state[start : end + 1])
            except orjson.JSONDecodeError:
                refs = None
            if isinstance(refs, dict):
                return {str(k): str(v) for k, v in refs.items()}
    try:
        refs = _DECODER(state).get("subprocess_specs") or {}
    except (orjson.JSONDecodeError, AttributeError):
        return {}
    return {str(k): v for k, v in refs.items() if isinstance(v, str)}


def split_ref(ref: str) -> tuple[str, str]:
    """``<content hash>:<process id>`` -> (content hash, process id)."""
    digest, _, key = ref.partition(":")
    return digest, key


# --- binding -------------------------------------------------------------------------------


class BindingConflict(ValueError):
    """What one instance cannot run: two bound files define a subprocess of the same id, or
    two versions of one decision would be bound."""


class _BoundCache:
    """Composite specs keyed by (caller ref, bound refs): built once per worker."""

    def __init__(self, size: int = 256) -> None:
        self._items: OrderedDict[tuple[str, tuple[tuple[str, str], ...]], LoadedProcess] = (
            OrderedDict()
        )
        self._size = size
        self._lock = threading.Lock()

    def get(self, key: tuple[str, tuple[tuple[str, str], ...]]) -> LoadedProcess | None:
        with self._lock:
            hit = self._items.get(key)
            if hit is not None:
                self._items.move_to_end(key)
            return hit

    def put(self, key: tuple[str, tuple[tuple[str, str], ...]], value: LoadedProcess) -> None:
        with self._lock:
            self._items[key] = value
            while len(self._items) > self._size:
                self._items.popitem(last=False)


BOUND = _BoundCache()


def bound_cached(caller_ref: str, refs: Mapping[str, str]) -> LoadedProcess | None:
    """The composite spec of a caller bound to ``refs`` (as read from saved state), if this
    worker has built it already."""
    return BOUND.get((caller_ref, tuple(sorted(refs.items()))))


def bind(caller: LoadedProcess, callees: Mapping[str, LoadedProcess]) -> LoadedProcess:
    """The caller's runnable spec with the specs of the processes it calls in other files.

    ``callees`` maps every called process id from elsewhere (at any depth) to the single-file
    ``LoadedProcess`` it is bound to. The result runs as one workflow (SpiffWorkflow looks
    called specs up by process id) and writes the bound references into saved state.
    """
    if not callees:
        return caller
    pairs = set(caller.bound)
    for pid, process in callees.items():
        pairs |= {(pid, process.ref), *process.bound}
    refs = tuple(sorted(pairs))
    if len(dict(refs)) != len(refs):
        raise BindingConflict(
            "two versions of one decision table would be bound; an instance evaluates one "
            "version of each decision."
        )
    key = (caller.ref, refs)
    hit = BOUND.get(key)
    if hit is not None:
        return hit
    specs = {k: v for k, v in caller.subprocess_specs.items() if v is not None}
    catalog = caller.catalog
    for pid, process in sorted(callees.items()):
        for name, spec in ((pid, process.spec), *process.subprocess_specs.items()):
            if spec is None:
                continue
            if name in specs and specs[name] is not spec and name not in callees:
                raise BindingConflict(
                    f"The subprocess id '{name}' is used in two called files; rename one."
                )
            specs.setdefault(name, spec)
        specs[pid] = process.spec
        catalog = merge_called(catalog, pid, process.catalog)
    bound = replace(caller, subprocess_specs=specs, catalog=catalog, bound=refs)
    BOUND.put(key, bound)
    return bound
