"""The failure event as the EventBridge schema registry holds it, derived from the repo's detail schema.

The registry takes OpenAPI 3 or JSON Schema Draft 4 documents that describe the whole event, so the
template's schema is the EventBridge envelope in Draft 4 whose `detail` is schemas/hook-failure-event.v1.json
with the only two changes Draft 4 needs: `$defs` become `definitions` and `const` becomes a one-value `enum`.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

REPO_ROOT = Path(__file__).resolve().parents[2]
DETAIL_SCHEMA = REPO_ROOT / "schemas" / "hook-failure-event.v1.json"
DETAIL_DEFINITION = "HookFailureDetail"
ENVELOPE_FIELDS = (
    "version",
    "id",
    "detail-type",
    "source",
    "account",
    "time",
    "region",
    "resources",
    "detail",
)


def _draft4(node: Any) -> Any:
    if isinstance(node, dict):
        out: dict[str, Any] = {}
        for key, value in node.items():
            if key == "$ref" and isinstance(value, str):
                out[key] = value.replace("#/$defs/", "#/definitions/")
            elif key == "const":
                out["enum"] = [value]
            else:
                out[key] = _draft4(value)
        return out
    if isinstance(node, list):
        return [_draft4(item) for item in node]
    return node


def registry_schema(detail_schema: dict[str, Any], *, detail_type: str) -> dict[str, Any]:
    definitions = {name: _draft4(schema) for name, schema in detail_schema["$defs"].items()}
    definitions[DETAIL_DEFINITION] = _draft4(
        {key: value for key, value in detail_schema.items() if key not in {"$defs", "$schema", "$id"}}
    )
    return {
        "$schema": "http://json-schema.org/draft-04/schema#",
        "title": "CloudFormationHookInvocationFailed",
        "description": f"An EventBridge event whose detail is {detail_schema['$id']}",
        "type": "object",
        "required": list(ENVELOPE_FIELDS),
        "properties": {
            "version": {"type": "string"},
            "id": {"type": "string"},
            "detail-type": {"type": "string", "enum": [detail_type]},
            "source": {"type": "string"},
            "account": {"type": "string"},
            "time": {"type": "string", "format": "date-time"},
            "region": {"type": "string"},
            "resources": {"type": "array", "items": {"type": "string"}},
            "detail": {"$ref": f"#/definitions/{DETAIL_DEFINITION}"},
        },
        "definitions": definitions,
    }


def registry_schema_text() -> str:
    """The exact text the template's AWS::EventSchemas::Schema Content must hold."""
    from hook_archive.models.failure_event import DETAIL_TYPE  # noqa: PLC0415  # needs the function's path

    schema = registry_schema(json.loads(DETAIL_SCHEMA.read_text()), detail_type=DETAIL_TYPE)
    return _pretty(schema) + "\n"


def _pretty(node: Any, indent: str = "", width: int = 100) -> str:
    """JSON with every value that fits in `width` on one line: short enough to read in the template."""
    compact = json.dumps(node, separators=(", ", ": "))
    if len(indent) + len(compact) <= width or not isinstance(node, dict | list) or not node:
        return compact
    inner = indent + "  "
    if isinstance(node, dict):
        items = [f"{inner}{json.dumps(key)}: {_pretty(value, inner, width)}" for key, value in node.items()]
        return "{\n" + ",\n".join(items) + f"\n{indent}}}"
    items = [inner + _pretty(value, inner, width) for value in node]
    return "[\n" + ",\n".join(items) + f"\n{indent}]"
