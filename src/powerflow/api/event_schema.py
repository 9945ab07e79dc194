"""The published JSON Schema of events (api/events.schema.json), from the models in use."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel
from pydantic.json_schema import JsonSchemaMode, models_json_schema

from powerflow.api.schemas import EventRead
from powerflow.services.event_types import PAYLOADS


def events_json_schema() -> dict[str, Any]:
    """One document: the event envelope, and for each event type the schema of its payload."""
    models: list[tuple[type[BaseModel], JsonSchemaMode]] = [(EventRead, "serialization")]
    models.extend((model, "validation") for model in PAYLOADS.values())
    _, document = models_json_schema(models, ref_template="#/$defs/{model}")
    document["$schema"] = "https://json-schema.org/draft/2020-12/schema"
    document["title"] = "powerflow events"
    document["description"] = (
        "Every event (SSE data, GET /v1/events items) is an EventRead; its payload follows the "
        "schema named for its type in x-payload-by-type."
    )
    document["$ref"] = "#/$defs/EventRead"
    document["x-payload-by-type"] = {
        event_type: {"$ref": f"#/$defs/{model.__name__}"} for event_type, model in PAYLOADS.items()
    }
    return document
