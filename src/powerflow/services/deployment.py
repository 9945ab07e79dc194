"""Deploying one file or a bundle of files together, all or nothing.

Every file is compiled first; one with problems refuses the whole bundle, with each problem
naming its file. Call activities that call a process of another file resolve to a process of the
same bundle or to a deployed definition (the version they pin, else the latest); one that
resolves to nothing is a problem naming the call activity. The called definition's catalog
(elements, rules, ownership) joins the caller's, as within one file. A file whose content is
already deployed deploys nothing new; the others deploy in one transaction.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from powerflow import engine
from powerflow.db.engine import Store
from powerflow.db.models import Definition, Deployment
from powerflow.services.auth import Principal
from powerflow.services.decisions import compile_upload, needed_decisions
from powerflow.services.definitions import DEPLOY_ROLES, index_for_router, view_of_row
from powerflow.services.errors import Conflict, Forbidden, InvalidDefinition, PayloadTooLarge
from powerflow.services.start_schedule import schedule_deployed
from powerflow.services.views import DefinitionView, DeployOutcome


@dataclass(frozen=True)
class Upload:
    """One file of an upload: its name and bytes."""

    filename: str
    data: bytes


@dataclass
class _Compiled:
    upload: Upload
    result: engine.CompileResult
    kind: str  # "process" or "decision"


def check_may_deploy(principal: Principal) -> None:
    """Forbidden unless the caller may deploy: checked before an upload is read or unzipped,
    so a caller without the role cannot make the server inflate archives."""
    if not principal.has(*DEPLOY_ROLES):
        raise Forbidden("Deploying process definitions needs the 'designer' role.")


def deploy_files(
    store: Store,
    files: list[Upload],
    principal: Principal,
    *,
    max_bytes: int,
    purpose: engine.Purpose = "deploy",
    accept_any_data: bool = False,
) -> DeployOutcome:
    """Validate every file, then deploy them together (nothing if any file has a problem).
    ``purpose`` and ``accept_any_data``: see engine/purpose.py."""
    check_may_deploy(principal)
    for upload in files:
        if len(upload.data) > max_bytes:
            raise PayloadTooLarge(
                f"{upload.filename} is {len(upload.data)} bytes; the limit is {max_bytes} bytes.",
                file=upload.filename,
            )
    options = {"purpose": purpose, "accept_any_data": accept_any_data}
    compiled = _compile(store, files, max_bytes, options)
    try:
        with store.write() as session:
            return _deploy(session, compiled, principal, store.now())
    except IntegrityError:
        raise Conflict(
            "Another upload of the same process was deployed at the same moment; retry."
        ) from None


def _compile(
    store: Store, files: list[Upload], max_bytes: int, options: dict[str, Any]
) -> list[_Compiled]:
    """Compile every file (outside any write transaction); refuse all if one has problems."""
    in_bundle: dict[str, bytes] = {}
    compiled: list[_Compiled] = []
    for upload in files:  # decision tables first: business rule tasks are built with them
        if engine.is_dmn(upload.data, upload.filename):
            kind, result = compile_upload(upload.data, upload.filename, max_bytes, {})
            compiled.append(_Compiled(upload, result, kind))
            if result.ok:
                in_bundle.update({p.process_id: upload.data for p in result.processes})
    bpmn = [u for u in files if not engine.is_dmn(u.data, u.filename)]
    wanted = {ref for u in bpmn for ref in needed_decisions(u.data, max_bytes)} - set(in_bundle)
    available = dict(in_bundle)
    if wanted:
        with store.read() as session:
            for ref in sorted(wanted):
                xml = _latest_decision_xml(session, ref)
                if xml is not None:
                    available[ref] = xml
    for upload in bpmn:
        kind, result = compile_upload(upload.data, upload.filename, max_bytes, available, **options)
        compiled.append(_Compiled(upload, result, kind))
    problems = [
        {**p.as_dict(), "file": c.upload.filename}
        for c in compiled
        for p in c.result.problems
        if p.severity == "error"
    ]
    problems += _twice(compiled)
    if problems:
        problems += _calls_to_nothing(store, bpmn, max_bytes, problems)
        raise _refuse(problems, sorted({p["file"] for p in problems}), bundle=len(files) > 1)
    return compiled


def _calls_to_nothing(
    store: Store, bpmn: list[Upload], max_bytes: int, already: list[dict[str, Any]]
) -> list[dict[str, Any]]:
    """For an upload refused anyway: a problem for every call activity, in any of its files,
    whose process is in no file of the upload and not deployed, read from the XML alone, so
    that the designer learns every missing dependency from one answer (a successful compile
    reports them when it deploys, ``_join_calls``)."""
    read = [(u, *engine.called_elsewhere(u.data, max_bytes)) for u in bpmn]
    uploaded = {pid for _u, own, _calls in read for pid in own}
    wanted = {c["process"] for _u, _own, calls in read for c in calls} - uploaded
    if not wanted:
        return []
    with store.read() as session:
        deployed = set(
            session.scalars(
                select(Definition.key).where(
                    Definition.key.in_(sorted(wanted)),
                    Definition.kind == "process",
                    Definition.executable.is_(True),
                )
            )
        )
    said = {(p.get("file"), p.get("element_id")) for p in already}
    found = []
    for upload, _own, calls in read:
        for call in calls:
            missing = call["process"] in wanted - deployed
            if missing and (upload.filename, call["element_id"]) not in said:
                found.append(_missing_call_problem(upload.filename, call))
    return found


def _twice(compiled: list[_Compiled]) -> list[dict[str, Any]]:
    """A problem for each process or decision id that two different files of one upload
    define: which one would be the latest version is not for the order of the files to say."""
    first: dict[str, _Compiled] = {}
    found: list[dict[str, Any]] = []
    for c in compiled:
        for process in c.result.processes:
            seen = first.setdefault(process.process_id, c)
            if seen is c or seen.result.content_hash == c.result.content_hash:
                continue
            found.append(
                {
                    "message": f"'{process.process_id}' is defined by both {seen.upload.filename} "
                    f"and {c.upload.filename}; upload one of them.",
                    "line": None,
                    "element_id": process.process_id,
                    "process_id": process.process_id,
                    "severity": "error",
                    "file": c.upload.filename,
                }
            )
    return found


def _refuse(problems: list[dict[str, Any]], files: list[str], *, bundle: bool) -> InvalidDefinition:
    """The refusal of an upload: each problem names its file; a bundle's sentence says that
    nothing of it was deployed."""
    if not bundle:
        message = (
            f"{files[0]} cannot be deployed: {len(problems)} problem(s) found. "
            f"First: {problems[0]['message']}"
        )
    else:
        message = (
            f"The bundle cannot be deployed, nothing was: {len(problems)} problem(s) in "
            f"{', '.join(files)}. First ({problems[0]['file']}): {problems[0]['message']}"
        )
    return InvalidDefinition(message, problems=problems, file=None if bundle else files[0])


def _deploy(
    session: Session, compiled: list[_Compiled], principal: Principal, now: datetime
) -> DeployOutcome:
    fresh: list[_Compiled] = []
    already: list[_Compiled] = []  # in the upload, identical content deployed before
    existing: list[DefinitionView] = []
    seen: set[str] = set()
    for c in compiled:
        if c.result.content_hash in seen:
            continue
        seen.add(c.result.content_hash)
        found = session.scalar(
            select(Deployment).where(Deployment.content_hash == c.result.content_hash)
        )
        if found is None:
            fresh.append(c)
            continue
        already.append(c)
        rows = session.scalars(
            select(Definition).where(Definition.deployment_id == found.id).order_by(Definition.id)
        ).all()
        existing.extend(view_of_row(r) for r in rows)
    if not fresh:
        names = ", ".join(f"{v.key} v{v.version}" for v in existing)
        return DeployOutcome(
            created=False,
            message=f"Identical content was already deployed ({names}); nothing new.",
            definitions=existing,
        )

    catalogs, call_problems = _join_calls(session, fresh, already)
    if call_problems:
        raise _refuse(
            call_problems, sorted({p["file"] for p in call_problems}), bundle=len(compiled) > 1
        )
    created: list[Definition] = []
    for c in fresh:
        deployment = Deployment(
            content_hash=c.result.content_hash,
            filename=c.upload.filename[:255],
            xml=c.upload.data,
            deployed_by=principal.name,
        )
        session.add(deployment)
        session.flush()
        for process in c.result.processes:
            clash = session.scalar(
                select(Definition.kind).where(Definition.key == process.process_id).limit(1)
            )
            if clash is not None and clash != c.kind:
                raise _refuse(
                    [
                        {
                            "message": f"'{process.process_id}' is already deployed as a "
                            f"{clash}; a {c.kind} cannot share its id. Rename one of them.",
                            "line": None,
                            "element_id": process.process_id,
                            "process_id": process.process_id,
                            "severity": "error",
                            "file": c.upload.filename,
                        }
                    ],
                    [c.upload.filename],
                    bundle=len(compiled) > 1,
                )
            latest = session.scalar(
                select(func.max(Definition.version)).where(Definition.key == process.process_id)
            )
            row = Definition(
                key=process.process_id,
                kind=c.kind,
                version=(latest or 0) + 1,
                name=process.name[:255],
                deployment_id=deployment.id,
                content_hash=c.result.content_hash,
                executable=process.executable,
                not_executable_reason=process.not_executable_reason,
                catalog={
                    **(
                        catalogs.get((c.result.content_hash, process.process_id))
                        or process.catalog()
                    ),
                    "file": c.upload.filename[:255],
                },
                warnings=[w.as_dict() for w in process.warnings],
                deployed_by=principal.name,
            )
            session.add(row)
            created.append(row)
        session.flush()
    views = [view_of_row(r) for r in created]
    index_for_router(session, [v for v in views if v.kind == "process"])
    schedule_deployed(
        session.connection(),
        [(r.id, r.key, r.catalog) for r in created if r.kind == "process"],
        now,
    )
    return DeployOutcome(created=True, message=_message(views, existing), definitions=views)


def _message(views: list[DefinitionView], existing: list[DefinitionView]) -> str:
    startable = [v for v in views if v.executable]
    decisions = [v for v in views if v.kind == "decision"]
    viewing = [v for v in views if not v.executable and v.kind != "decision"]
    parts = []
    if startable:
        parts.append("Deployed " + ", ".join(f"{v.key} v{v.version}" for v in startable) + ".")
    if decisions:
        parts.append(
            "Deployed the decision table(s) "
            + ", ".join(f"{v.key} v{v.version}" for v in decisions)
            + " (business rule tasks evaluate them)."
        )
    if viewing:
        lead = "Stored for viewing only (cannot be started; each definition says why): "
        if not startable and not decisions:
            lead = (
                "Stored for viewing only: the file has no process powerflow can run, so it cannot "
                "be started; each definition says why (not_executable_reason): "
            )
        parts.append(lead + ", ".join(f"{v.key} v{v.version}" for v in viewing) + ".")
    if existing:
        parts.append(
            "Already deployed, unchanged: "
            + ", ".join(f"{v.key} v{v.version}" for v in existing)
            + "."
        )
    return " ".join(parts)


def _latest_decision_xml(session: Session, decision_id: str) -> bytes | None:
    row = session.execute(
        select(Deployment.xml)
        .join(Definition, Definition.deployment_id == Deployment.id)
        .where(Definition.key == decision_id, Definition.kind == "decision")
        .order_by(Definition.version.desc())
        .limit(1)
    ).first()
    return bytes(row[0]) if row is not None else None


def _join_calls(
    session: Session, fresh: list[_Compiled], already: Sequence[_Compiled] = ()
) -> tuple[dict[tuple[str, str], dict[str, Any]], list[dict[str, Any]]]:
    """The catalog of every new process with the catalogs of the processes it calls from other
    files joined, and a problem for every call that resolves to nothing runnable (``already``:
    the files of the upload whose identical content was deployed before, nothing new)."""
    unchanged = {
        p.process_id: c
        for c in already
        if c.kind == "process"
        for p in c.result.processes
        if p.executable
    }
    in_bundle: dict[str, tuple[_Compiled, engine.CompiledProcess]] = {
        p.process_id: (c, p)
        for c in fresh
        if c.kind == "process"
        for p in c.result.processes
        if p.executable
    }
    next_version: dict[str, int] = {}
    for pid in in_bundle:
        latest = session.scalar(select(func.max(Definition.version)).where(Definition.key == pid))
        next_version[pid] = (latest or 0) + 1
    joined: dict[tuple[str, str], dict[str, Any]] = {}
    problems: list[dict[str, Any]] = []

    def catalog_of(c: _Compiled, process: engine.CompiledProcess, stack: tuple[str, ...]) -> Any:
        key = (c.result.content_hash, process.process_id)
        if key in joined:
            return joined[key]
        catalog = process.catalog()
        for element_id, call in sorted(process.calls.items()):
            pid, version = call["process"], call.get("version")
            if pid in stack:
                continue
            local = in_bundle.get(pid)
            if local is not None and version in (None, next_version[pid]):
                callee = catalog_of(local[0], local[1], (*stack, pid))
            else:
                callee = _deployed_catalog(session, pid, version)
            if callee is None:
                problem = _missing_call(c, process, element_id, call)
                if pid in unchanged and version is None:
                    problem["message"] = _superseded_call(session, pid, unchanged[pid], call)
                problems.append(problem)
                continue
            catalog = engine.merge_called(catalog, pid, callee)
        joined[key] = catalog
        return catalog

    for c, process in in_bundle.values():
        catalog_of(c, process, (process.process_id,))
    return joined, problems


def _deployed_catalog(session: Session, key: str, version: int | None) -> dict[str, Any] | None:
    stmt = select(Definition).where(Definition.key == key, Definition.kind == "process")
    if version is not None:
        stmt = stmt.where(Definition.version == version)
    row = session.scalars(stmt.order_by(Definition.version.desc()).limit(1)).first()
    if row is None or not row.executable:
        return None
    return dict(row.catalog)


def _superseded_call(session: Session, pid: str, held: _Compiled, call: dict[str, Any]) -> str:
    """Why a call to a process that the upload holds, unchanged, resolves to nothing runnable:
    the identical file deployed nothing new, and a later version that cannot run is the
    latest."""
    rows = session.scalars(
        select(Definition)
        .where(Definition.key == pid, Definition.kind == "process")
        .order_by(Definition.version.desc())
    ).all()
    same = [r for r in rows if r.content_hash == held.result.content_hash]
    latest = rows[0] if rows else None
    before = f"{pid} v{same[0].version}" if same else pid
    reason = (latest.not_executable_reason or "").rstrip(".") if latest else ""
    why = f": {reason}" if reason else ""
    now = f"{pid} v{latest.version}, cannot run{why}" if latest else "gone"
    return (
        f"The call activity '{call.get('name') or call['process']}' calls the process '{pid}'. "
        f"This upload holds it ({held.upload.filename}), but that exact file was deployed before "
        f"as {before}, so nothing new is deployed for it; its latest version, {now}. Change "
        f"{held.upload.filename} (any edit makes a new version) and upload again."
    )


def _missing_call(
    c: _Compiled, process: engine.CompiledProcess, element_id: str, call: dict[str, Any]
) -> dict[str, Any]:
    return _missing_call_problem(
        c.upload.filename, {**call, "element_id": element_id, "process_id": process.process_id}
    )


def _missing_call_problem(filename: str, call: dict[str, Any]) -> dict[str, Any]:
    version = call.get("version")
    what = (
        f"version {version} of the process '{call['process']}'"
        if version
        else (f"the process '{call['process']}'")
    )
    return {
        "message": f"The call activity '{call.get('name') or call['element_id']}' calls {what}, "
        "which is not in this file, not in this upload and not deployed (or not runnable); "
        "deploy the file that defines it first, or upload both files together as a bundle "
        "(several 'file' parts, or one zip).",
        "line": call.get("line"),
        "element_id": call["element_id"],
        "process_id": call.get("process_id"),
        "severity": "error",
        "file": filename,
    }
