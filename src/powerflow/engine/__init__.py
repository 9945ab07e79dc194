"""powerflow's BPMN engine facade: the only package that imports SpiffWorkflow.

It offers typed, pure functions over saved state (see ``runtime``) and upload compilation (see
``compiler``). Importing it applies the SpiffWorkflow 3.2 workarounds in ``patches``.
"""

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
    StepEvent,
    StepResult,
    TaskView,
)

_patches.apply()

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
    "PendingMessage",
    "PendingTimer",
    "Problem",
    "ScriptLimits",
    "StepEvent",
    "StepResult",
    "TaskNotFound",
    "TaskNotReady",
    "TaskView",
    "cached_process",
    "cancel",
    "check_plain_json",
    "compile_bpmn",
    "complete_task",
    "configure_limits",
    "configure_time_zone",
    "content_hash",
    "deliver_message",
    "element_name",
    "fire_due_timers",
    "load_process",
    "open_tasks",
    "start",
    "waiting_elements",
]
