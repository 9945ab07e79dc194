"""The ``spiffworkflow:`` extensions of user tasks that powerflow honours beyond the parser:
``variableName`` (where a form result lands), ``taskMetadataValues`` (metadata evaluated against
the task's data) and which script of a task (pre- or post-script) failed."""

from __future__ import annotations

from typing import Any

from powerflow.engine.serializer import to_plain

_PHASES = {
    "Error occurred in the Pre-Script": "pre-script",
    "Error occurred in the Post-Script": "post-script",
}


def put_form_data(task: Any, data: dict[str, Any]) -> None:
    """Store submitted form data on a task: under the user task's ``variableName`` when it
    names one (as SpiffWorkflow's ``add_data_from_form`` does), merged at the top otherwise."""
    variable = getattr(task.task_spec, "variable", None)
    if isinstance(variable, str) and variable.strip():
        task.data[variable.strip()] = data
    else:
        task.data.update(data)


def metadata_values(task: Any) -> dict[str, Any] | None:
    """The task's ``taskMetadataValues`` evaluated against its data (None where an entry has no
    value or its expression fails); None when the task declares none."""
    declared = getattr(task.task_spec, "extensions", {}).get("taskMetadataValues")
    if not isinstance(declared, dict):
        return None
    values: dict[str, Any] = {}
    for name, expression in declared.items():
        if not expression:
            values[name] = None
            continue
        try:
            values[name] = to_plain(task.workflow.script_engine.evaluate(task, expression))
        except Exception:  # metadata is informational: an expression that fails shows null
            values[name] = None
    return values


def failed_script(exc: BaseException) -> str | None:
    """'pre-script' or 'post-script' when ``exc`` came from a task's extension script."""
    current: BaseException | None = exc
    for _ in range(5):
        if current is None:
            break
        for note in getattr(current, "notes", None) or []:
            if note in _PHASES:
                return _PHASES[note]
        current = current.__cause__ or current.__context__
    return None
