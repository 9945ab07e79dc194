"""powerflow's BPMN engine facade: the only package that imports SpiffWorkflow.

It offers typed, pure functions over saved state (see ``runtime``) and upload compilation (see
``compiler``). Importing it applies the SpiffWorkflow 3.2 workarounds in ``patches``.
"""

from powerflow.engine import message_payloads as _message_payloads
from powerflow.engine import patches as _patches
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
    StartTrigger,
    StepEvent,
    StepResult,
    Subscription,
    TaskView,
    ThrownEvent,
)

_patches.apply()
_message_payloads.apply()

__all__ = [
    "FORMAT_VERSION",
    "CompileResult",
    "CompiledProcess",
    "DataRejected",
    "FormField",
    "Incident",
    "InstanceNotRunning",
    "LoadedProcess",
    "NotWaitingForMessage",
    "NotWaitingForSignal",
    "PendingMessage",
    "PendingTimer",
    "Problem",
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
    "cached_process",
    "cancel",
    "check_plain_json",
    "compile_bpmn",
    "complete_task",
    "configure_limits",
    "content_hash",
    "correlation_key",
    "deliver_message",
    "deliver_signal",
    "element_name",
    "fire_due_timers",
    "load_process",
    "message_correlation",
    "open_tasks",
    "process_catch_properties",
    "process_start_triggers",
    "start",
    "start_by_message",
    "start_by_signal",
    "waiting_elements",
    "with_correlation",
]
