"""Call activities across deployments: resolving what a definition calls, binding a new
instance to it, and restoring an instance bound to specs from other deployments.

Binding happens when an instance starts: each call activity that calls a process of another
file resolves to that process's latest deployed version, or to the version it pins
(``camunda:calledElementBinding="version"``), at any depth. The instance runs those versions to
its end; their references are part of its saved state, so a later deployment of a called
process changes only instances started after it.
"""

from __future__ import annotations

from dataclasses import replace
from typing import Any

from sqlalchemy import Connection, select

from powerflow import engine
from powerflow.db import queries
from powerflow.db.engine import Store
from powerflow.db.models import Definition, Deployment
from powerflow.services.definitions import (
    BpmnFileMissing,
    definition_by_id,
    load_plain,
    runnable,
    view_of,
)
from powerflow.services.errors import Conflict
from powerflow.services.incidents import breakage_of
from powerflow.services.views import DefinitionView


class CalleeUnavailable(Exception):
    """A spec an instance is bound to cannot be loaded any more (not a domain refusal: the
    step path turns it into an incident on the instance)."""


def _callee_label(call: dict[str, Any]) -> str:
    version = call.get("version")
    return f"'{call['process']}'" + (f" v{version}" if version else "")


def resolve_call(
    store: Store, conn: Connection, caller: DefinitionView, element_id: str, call: dict[str, Any]
) -> DefinitionView:
    """The definition a call activity of ``caller`` runs if an instance starts now; Conflict
    naming the call activity when there is none that can run."""
    pid, version = call["process"], call.get("version")
    found = _definition_id(conn, pid, version)
    where = (
        f"{caller.key} v{caller.version} cannot be started: its call activity "
        f"'{call.get('name') or element_id}' calls {_callee_label(call)}"
    )
    if found is None:
        raise Conflict(
            f"{where}, which is not deployed; deploy that process first, or upload both files "
            "together as a bundle.",
            element_id=element_id,
        )
    target = definition_by_id(store, conn, found)
    if not target.executable or getattr(target, "kind", "process") != "process":
        raise Conflict(
            f"{where}, whose v{target.version} cannot run: {target.not_executable_reason}",
            element_id=element_id,
        )
    return target


def _definition_id(conn: Connection, key: str, version: int | None) -> int | None:
    stmt = select(Definition.id).where(Definition.key == key)
    if version is not None:
        stmt = stmt.where(Definition.version == version)
    found = conn.execute(stmt.order_by(Definition.version.desc()).limit(1)).scalar()
    return int(found) if found is not None else None


def bind_new(store: Store, conn: Connection, definition: DefinitionView) -> engine.LoadedProcess:
    """The runnable spec of a new instance: the definition with every process it calls from
    other files (at any depth) and every decision its business rule tasks evaluate, resolved
    now (the pinned version, else the latest)."""
    chosen: dict[str, str] = {}
    process = single(conn, definition, chosen)
    if not definition.catalog.get("calls"):
        return process
    callees: dict[str, engine.LoadedProcess] = {}
    targets: dict[str, DefinitionView] = {}
    pending = [definition]
    while pending:
        owner = pending.pop()
        for element_id, call in sorted((owner.catalog.get("calls") or {}).items()):
            pid = call["process"]
            if pid == definition.key:
                raise Conflict(
                    f"{definition.key} v{definition.version} cannot be started: it calls "
                    "itself through other files, which powerflow does not run.",
                    element_id=element_id,
                )
            target = resolve_call(store, conn, owner, element_id, call)
            if pid in targets:
                if targets[pid].id != target.id:
                    raise Conflict(
                        f"{definition.key} v{definition.version} cannot be started: '{pid}' is "
                        f"called in v{targets[pid].version} and v{target.version}; an instance "
                        "runs one version of each called process.",
                        element_id=element_id,
                    )
                continue
            targets[pid] = target
            callees[pid] = single(conn, target, chosen)
            pending.append(target)
    try:
        return engine.bind(process, callees)
    except engine.BindingConflict as exc:
        raise Conflict(f"{definition.key} v{definition.version} cannot be started: {exc}") from None


def bound_runnable(
    conn: Connection, definition: DefinitionView, refs: dict[str, str]
) -> engine.LoadedProcess:
    """A definition's spec bound to the called specs and decisions a saved state names
    (``<content hash>:<id>`` each; decisions keyed ``dmn:<decision id>``)."""
    chosen = {k.removeprefix(engine.DMN_PREFIX): v for k, v in refs.items() if _is_dmn(k)}
    called = {k: v for k, v in refs.items() if not _is_dmn(k)}
    if called:
        hit = engine.bound_cached(f"{definition.content_hash}:{definition.key}", refs)
        if hit is not None:
            return hit
    caller = single(conn, definition, chosen)
    callees = {pid: single(conn, _view_by_ref(conn, ref), chosen) for pid, ref in called.items()}
    return engine.bind(caller, callees)


def _is_dmn(key: str) -> bool:
    return key.startswith(engine.DMN_PREFIX)


def single(
    conn: Connection, definition: DefinitionView, chosen: dict[str, str]
) -> engine.LoadedProcess:
    """One definition's own spec, its business rule tasks bound to the decisions in
    ``chosen`` (decision id -> ref); a decision not chosen yet is resolved to its latest
    version and added to ``chosen``."""
    needed = sorted(set((definition.catalog.get("decisions") or {}).values()))
    if not needed:
        return load_plain(conn, definition)
    for decision in needed:
        if decision not in chosen:
            chosen[decision] = _latest_decision(conn, definition, decision)
    refs = tuple(sorted(chosen[d] for d in needed))
    hit = engine.cached_process(definition.content_hash, definition.key, refs)
    if hit is not None:
        return hit
    xml = queries.deployment_xml(conn, definition.deployment_id)
    if xml is None:
        raise BpmnFileMissing(
            f"The BPMN file of {definition.key} v{definition.version} is missing."
        )
    decisions = {d: (chosen[d], _decision_xml(conn, chosen[d])) for d in needed}
    return engine.load_process(
        definition.content_hash, definition.key, xml, definition.catalog, decisions
    )


def _latest_decision(conn: Connection, definition: DefinitionView, decision: str) -> str:
    found = conn.execute(
        select(Definition.content_hash)
        .where(Definition.key == decision, Definition.kind == "decision")
        .order_by(Definition.version.desc())
        .limit(1)
    ).scalar()
    if found is None:
        raise Conflict(
            f"{definition.key} v{definition.version} cannot be started: a business rule task "
            f"evaluates the decision '{decision}', which is not deployed; deploy its .dmn file."
        )
    return f"{found}:{decision}"


def _decision_xml(conn: Connection, ref: str) -> bytes:
    digest, decision = engine.split_ref(ref)
    xml = conn.execute(select(Deployment.xml).where(Deployment.content_hash == digest)).scalar()
    if xml is None:
        raise CalleeUnavailable(
            f"the decision table '{decision}' it evaluates (deployment {digest[:12]}) is no "
            "longer deployed"
        )
    return bytes(xml)


def _view_by_ref(conn: Connection, ref: str) -> DefinitionView:
    digest, key = engine.split_ref(ref)
    found = conn.execute(
        select(Definition.id).where(Definition.content_hash == digest, Definition.key == key)
    ).scalar()
    row = queries.definition_row(conn, int(found)) if found is not None else None
    if row is None:
        raise CalleeUnavailable(
            f"the process '{key}' it calls (deployment {digest[:12]}) is no longer deployed"
        )
    return view_of(row)


def bound_definition(
    conn: Connection, definition: DefinitionView, state: str, instance_id: str
) -> DefinitionView:
    """The definition as an instance runs it: its catalog joined with the catalogs of the
    called versions the instance is bound to (forms, roles, rules and limits of called tasks
    come from the version that runs them). An instance that cannot be loaded is recorded as
    broken (an incident), never a 500."""
    if not definition.catalog.get("calls") or not engine.bound_refs(state):
        return definition
    with breakage_of(instance_id, "advanced"):
        process = runnable(conn, definition, state)
    return replace(definition, catalog=process.catalog)
