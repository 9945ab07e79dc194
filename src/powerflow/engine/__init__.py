"""powerflow's BPMN engine facade: the only package that imports SpiffWorkflow.

It offers typed, pure functions over saved state (see ``runtime``) and upload compilation (see
``compiler``). Importing it applies the SpiffWorkflow 3.2 workarounds in ``patches``.
"""

from powerflow.engine import patches as _patches
from powerflow.engine.calls import (
    DMN_PREFIX,
    BindingConflict,
    bind,
    bound_cached,
    bound_refs,
    merge_called,
    split_ref,
)
from powerflow.engine.compiler import (
    CompiledProcess,
    CompileResult,
    LoadedProcess,
    cached_process,
    compile_bpmn,
    content_hash,
    element_name,
    load_process,
)
from powerflow.engine.decisions import compile_dmn, decision_refs, is_dmn
from powerflow.engine.limits import ScriptLimits, configure_limits
from powerflow.engine.migration import CannotMigrate, MigrationPlan, migrate, plan_migration
from powerflow.engine.recovery import NotRecoverable, move, retry, skip
from powerflow.engine.runtime import (
    InstanceNotRunning,
    NotWaitingForMessage,
    TaskNotFound,
    TaskNotReady,
    cancel,
    complete_task,
    deliver_message,
    fire_due_timers,
    open_tasks,
    start,
    waiting_elements,
)
from powerflow.engine.serializer import FORMAT_VERSION, DataRejected, check_plain_json
from powerflow.engine.types import (
    FormField,
    Incident,
    PendingMessage,
    PendingTimer,
    Problem,
    StepEvent,
    StepResult,
    TaskView,
)

_patches.apply()

__all__ = [
    "DMN_PREFIX",
    "FORMAT_VERSION",
    "BindingConflict",
    "CannotMigrate",
    "CompileResult",
    "CompiledProcess",
    "DataRejected",
    "FormField",
    "Incident",
    "InstanceNotRunning",
    "LoadedProcess",
    "MigrationPlan",
    "NotRecoverable",
    "NotWaitingForMessage",
    "PendingMessage",
    "PendingTimer",
    "Problem",
    "ScriptLimits",
    "StepEvent",
    "StepResult",
    "TaskNotFound",
    "TaskNotReady",
    "TaskView",
    "bind",
    "bound_cached",
    "bound_refs",
    "cached_process",
    "cancel",
    "check_plain_json",
    "compile_bpmn",
    "compile_dmn",
    "complete_task",
    "configure_limits",
    "content_hash",
    "decision_refs",
    "deliver_message",
    "element_name",
    "fire_due_timers",
    "is_dmn",
    "load_process",
    "merge_called",
    "migrate",
    "move",
    "open_tasks",
    "plan_migration",
    "retry",
    "skip",
    "split_ref",
    "start",
    "waiting_elements",
]
