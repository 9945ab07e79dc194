"""powerflow's BPMN engine facade: the only package that imports SpiffWorkflow.

It offers typed, pure functions over saved state (see ``runtime``) and upload compilation (see
``compiler``). Importing it applies the SpiffWorkflow 3.2 workarounds in ``patches``.
"""

from powerflow.engine import event_data as _event_data
from powerflow.engine import message_payloads as _message_payloads
from powerflow.engine import patches as _patches
from powerflow.engine.calls import (
    DMN_PREFIX,
    BindingConflict,
    bind,
    bound_cached,
    bound_refs,
    called_elsewhere,
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
from powerflow.engine.message_payloads import accepting_payload
from powerflow.engine.messaging import (
    NotWaitingForSignal,
    correlation_key,
    deliver_signal,
    message_correlation,
    process_catch_properties,
    process_start_triggers,
    start_by_message,
    start_by_signal,
    with_correlation,
)
from powerflow.engine.migration import CannotMigrate, MigrationPlan, migrate, plan_migration
from powerflow.engine.purpose import PURPOSES, Purpose, compile_upload
from powerflow.engine.recovery import NotRecoverable, move, retry, skip
from powerflow.engine.reserved import OBJECTION_PAYLOAD
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
from powerflow.engine.timer_expr import configure_time_zone
from powerflow.engine.types import (
    FormField,
    Incident,
    PendingMessage,
    PendingTimer,
    Problem,
    StartTrigger,
    StepEvent,
    StepResult,
    Subscription,
    TaskView,
    ThrownEvent,
)

_patches.apply()
_message_payloads.apply()
_event_data.apply()

__all__ = [
    "DMN_PREFIX",
    "FORMAT_VERSION",
    "OBJECTION_PAYLOAD",
    "PURPOSES",
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
    "NotWaitingForSignal",
    "PendingMessage",
    "PendingTimer",
    "Problem",
    "Purpose",
    "ScriptLimits",
    "StartTrigger",
    "StepEvent",
    "StepResult",
    "Subscription",
    "TaskNotFound",
    "TaskNotReady",
    "TaskView",
    "ThrownEvent",
    "accepting_payload",
    "bind",
    "bound_cached",
    "bound_refs",
    "cached_process",
    "called_elsewhere",
    "cancel",
    "check_plain_json",
    "compile_bpmn",
    "compile_dmn",
    "compile_upload",
    "complete_task",
    "configure_limits",
    "configure_time_zone",
    "content_hash",
    "correlation_key",
    "decision_refs",
    "deliver_message",
    "deliver_signal",
    "element_name",
    "fire_due_timers",
    "is_dmn",
    "load_process",
    "merge_called",
    "message_correlation",
    "migrate",
    "move",
    "open_tasks",
    "plan_migration",
    "process_catch_properties",
    "process_start_triggers",
    "retry",
    "skip",
    "split_ref",
    "start",
    "start_by_message",
    "start_by_signal",
    "waiting_elements",
    "with_correlation",
]
