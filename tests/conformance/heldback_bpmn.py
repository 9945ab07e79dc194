"""Drivers of the held-back SpiffWorkflow models under heldback/spiffworkflow/bpmn/ (see
heldback/README.md): each file driven over HTTP with its upstream test's inputs."""

from __future__ import annotations

from conformance.heldback_registry import SPIFF

BPMN = SPIFF + "bpmn/data/"
