"""What an upload is for, and what that changes in what compiles.

* ``deploy`` (the default): runnable processes are deployed; the others (``isExecutable="false"``,
  or using what powerflow cannot run yet) are stored for viewing beside them.
* ``run``: every process of the file must be startable; otherwise the upload is refused with one
  problem per process that is not, saying why (a CI check for files meant to run).
* ``view``: the file is stored for viewing only (interchange models, documentation): nothing can
  be started, and what would refuse a deployment (a sub-process without a start event, a
  multi-instance without a collection, JUEL expressions) is kept as warnings and named in each
  definition's ``not_executable_reason``. Unsafe or unreadable XML is still refused.

``accept_any_data``: for files from modelers that cannot write ``pf:acceptsData`` (bpmn.io,
SpiffWorkflow's editor): every process that declares nothing accepts any data, as
``pf:acceptsData fields="*"`` on the process would; a warning on each definition records it.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import replace
from typing import Any, Literal

from lxml import etree

from powerflow.engine.compiler import (
    CompiledProcess,
    CompileResult,
    _flows,
    _for_viewing,
    _xsd_problems,
    compile_bpmn,
    content_hash,
)
from powerflow.engine.extensions import NS, read_process
from powerflow.engine.foreign import foreign_problems
from powerflow.engine.types import Problem
from powerflow.engine.xml import BPMN_NS, XmlRejected, parse_untrusted

Purpose = Literal["deploy", "run", "view"]
PURPOSES: tuple[str, ...] = ("deploy", "run", "view")


def compile_upload(
    data: bytes,
    filename: str,
    *,
    max_bytes: int,
    purpose: Purpose = "deploy",
    accept_any_data: bool = False,
    decisions: Mapping[str, bytes] | None = None,
) -> CompileResult:
    """Compile an upload for ``purpose`` (module docstring); never raises for bad input.
    ``decisions``: the DMN files its business rule tasks may evaluate (see compile_bpmn)."""
    result = compile_bpmn(data, filename, max_bytes=max_bytes, decisions=decisions)
    if purpose == "view":
        result = _for_viewing_only(data, filename, result, max_bytes)
    elif purpose == "run" and result.ok:
        result = _every_process_runs(result, parse_untrusted(data, max_bytes=max_bytes))
    if accept_any_data and result.ok:
        for process in result.processes:
            _accept_any_data(process)
    if purpose == "view" or accept_any_data:  # another deployment than the plain upload's
        options = f"\0purpose={purpose}\0accept_any_data={int(accept_any_data)}"
        result.content_hash = content_hash(data + options.encode())
    return result


def _every_process_runs(result: CompileResult, tree: etree._ElementTree) -> CompileResult:
    lines = {
        p.get("id"): p.sourceline for p in tree.getroot().xpath("./bpmn:process", namespaces=NS)
    }
    problems: list[Problem] = []
    for process in result.processes:
        if process.executable:
            continue
        blocking = [
            replace(w, severity="error")
            for w in process.warnings
            if "cannot run yet" in w.message or "powerflow has no" in w.message
        ]
        problems += blocking or [
            Problem(
                (process.not_executable_reason or "").replace(": stored for viewing.", ".")
                + " Upload with purpose=view to store it for viewing only.",
                line=lines.get(process.process_id),
                element_id=process.process_id,
                process_id=process.process_id,
            )
        ]
    problems += _missing_called_processes(tree, set(lines))
    if not problems:
        return result
    return CompileResult(result.content_hash, [], problems)


def _missing_called_processes(tree: etree._ElementTree, processes: set[Any]) -> list[Problem]:
    """Call activities of non-executable processes are not checked by the build: name the
    ones whose called process is not in the file."""
    found: list[Problem] = []
    for call in tree.getroot().iter(f"{{{BPMN_NS}}}callActivity"):
        called = call.get("calledElement")
        if called and called not in processes:
            owner = next(call.iterancestors(f"{{{BPMN_NS}}}process"), None)
            name = (call.get("name") or call.get("id") or "").strip()
            found.append(
                Problem(
                    f"The call activity '{name}' calls the process '{called}', which is not in "
                    "this file.",
                    line=call.sourceline,
                    element_id=call.get("id"),
                    process_id=owner.get("id") if owner is not None else None,
                )
            )
    return found


def _for_viewing_only(
    data: bytes, filename: str, result: CompileResult, max_bytes: int
) -> CompileResult:
    try:
        tree = parse_untrusted(data, max_bytes=max_bytes)
    except XmlRejected:
        return result
    processes = tree.getroot().xpath("./bpmn:process", namespaces=NS)
    if not processes or _xsd_problems(tree):
        return result  # not BPMN 2.0 as the schema defines it: nothing to view
    built = {p.process_id: p for p in result.processes}
    errors = [p for p in result.problems if p.severity == "error"]
    viewed: list[CompiledProcess] = []
    for process in processes:
        info, _ = read_process(process)
        pid = info.process_id
        own = [p for p in errors if p.process_id in (pid, None)]
        done = built.get(pid)
        warnings = list(done.warnings) if done is not None else []
        if done is None:  # the dialect's warnings, but not again where an error says it
            said = {(p.element_id, p.line) for p in own}
            warnings += [
                w
                for w in foreign_problems(process, runs=False)
                if w not in warnings and (w.element_id, w.line) not in said
            ]
        warnings += [replace(p, severity="warning") for p in own]
        if own:
            first = own[0]
            at = f" (element {first.element_id}, line {first.line})" if first.element_id else ""
            reason = (
                f"Process {pid} is stored for viewing only and cannot run as it stands: "
                f"{first.message}{at}"
            )
        elif done is not None and not done.executable:
            reason = done.not_executable_reason or f"Process {pid} is stored for viewing only."
        else:
            reason = (
                f"Process {pid} was uploaded for viewing only (purpose=view); upload the file "
                "without it to run the process."
            )
        viewed.append(_for_viewing(info, _flows(process), reason, warnings))
    return CompileResult(result.content_hash, viewed, [])


def _accept_any_data(process: CompiledProcess) -> None:
    if process.accepts_data is not None or not process.executable:
        return
    process.accepts_data = "*"
    process.warnings.append(
        Problem(
            f"Process {process.process_id} was uploaded with accept_any_data: its start event "
            "and every task that declares no form accept any data, as "
            'pf:acceptsData fields="*" on the process would.',
            element_id=process.process_id,
            process_id=process.process_id,
            severity="warning",
        )
    )
