"""InstanceRead from an InstanceView, each ready task validated once while it stays the same.

An instance answers with all its ready tasks; with hundreds of them (a parallel multi-instance
over a large collection) validating the same unchanged task records into ``TaskRead`` on every
step was a large part of a step. A validated ``TaskRead`` is remembered and reused while every
field of the task's record is equal (a task whose assignee, due time, alert level or overdue
flag changes is validated anew); the JSON written is the same.
"""

from __future__ import annotations

import dataclasses
import threading
from collections import OrderedDict
from typing import Any

from powerflow.api.schemas import InstanceRead, TaskRead
from powerflow.services.views import InstanceView, TaskRecord

_SIZE = 8192
_MEMO: OrderedDict[tuple[str, str], tuple[tuple[Any, ...], TaskRead]] = OrderedDict()
_LOCK = threading.Lock()
_TASK_FIELDS = tuple(f.name for f in dataclasses.fields(TaskRecord))
_INSTANCE_FIELDS = tuple(f.name for f in dataclasses.fields(InstanceView) if f.name != "tasks")


def task_read(record: TaskRecord) -> TaskRead:
    """``TaskRead.model_validate(record, from_attributes=True)``, remembered while every field
    of the record is equal to the one validated."""
    values = tuple(getattr(record, name) for name in _TASK_FIELDS)
    key = (record.id, record.state)
    with _LOCK:
        hit = _MEMO.get(key)
    if hit is not None and hit[0] == values:
        return hit[1]
    read = TaskRead.model_validate(record, from_attributes=True)
    with _LOCK:
        _MEMO[key] = (values, read)
        if len(_MEMO) > _SIZE:
            _MEMO.popitem(last=False)
    return read


def instance_read(view: InstanceView) -> InstanceRead:
    """``InstanceRead.model_validate(view, from_attributes=True)`` with remembered tasks."""
    fields: dict[str, Any] = {name: getattr(view, name) for name in _INSTANCE_FIELDS}
    fields["tasks"] = [task_read(t) for t in view.tasks]
    return InstanceRead.model_validate(fields)
