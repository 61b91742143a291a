"""AWS query-protocol wire format, driven by botocore's service model.

The emulator hands plain dicts keyed by API member names to :func:`serialize_response`; the
output shape decides element names, member order and value encoding, and a key the shape does
not define is an error, so the emulator cannot drift away from what botocore parses.
"""

from __future__ import annotations

import base64
import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from email.utils import format_datetime
from typing import Any
from urllib.parse import parse_qsl

from botocore.model import ListShape, MapShape, OperationModel, Shape, StructureShape

CLOUDFORMATION_NAMESPACE = "http://cloudformation.amazonaws.com/doc/2010-05-15/"

# One search finds both what must be escaped and what XML 1.0 cannot carry at all.
_ATTENTION = re.compile("[&<>\r\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
_NOT_XML_CHAR = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ud800-\udfff\ufffe\uffff]")
# \r is a character reference because XML parsers normalise a literal CR to LF.
_ESCAPES = str.maketrans({"&": "&amp;", "<": "&lt;", ">": "&gt;", "\r": "&#13;"})
_SHOWN_VALUE_CHARS = 100

_Writer = Callable[[Any, str, list[str]], None]


class SerializationError(ValueError):
    """The value does not fit the botocore shape it is being serialised as."""


@dataclass(frozen=True)
class ErrorSpec:
    """How a modelled error travels: its code, HTTP status and who is at fault."""

    code: str
    http_status: int
    sender_fault: bool


def escape_text(value: str) -> str:
    """Escape a string for XML element content; reject characters XML 1.0 cannot represent."""
    if _ATTENTION.search(value) is None:
        return value
    bad = _NOT_XML_CHAR.search(value)
    if bad is not None:
        raise SerializationError(f"character U+{ord(bad.group()):04X} cannot be represented in XML 1.0")
    return value.translate(_ESCAPES)


def _as_utc(value: datetime) -> datetime:
    if value.tzinfo is None or value.utcoffset() is None:
        raise SerializationError(f"timestamp {value!r} is naive; the wire format needs an absolute time")
    return value.astimezone(UTC)


def format_timestamp(value: datetime) -> str:
    """ISO 8601 in UTC with a ``Z``; milliseconds, or microseconds when they carry information."""
    v = _as_utc(value)
    us = v.microsecond
    if us == 0:
        fraction = ""
    elif us % 1000 == 0:
        fraction = f".{us // 1000:03d}"
    else:
        fraction = f".{us:06d}"
    return f"{v.year:04d}-{v.month:02d}-{v.day:02d}T{v.hour:02d}:{v.minute:02d}:{v.second:02d}{fraction}Z"


class QuerySerializer:
    """Compiles botocore shapes into writers once and reuses them for every response."""

    def __init__(self) -> None:
        # Keyed by id(); the shape is kept in the value so the id cannot be recycled.
        self._writers: dict[int, tuple[Shape, _Writer]] = {}

    def serialize_response(
        self,
        operation_name: str,
        output_shape: StructureShape | None,
        result: Mapping[str, Any],
        *,
        request_id: str,
        namespace: str = CLOUDFORMATION_NAMESPACE,
    ) -> str:
        """The complete ``<{Op}Response>`` document for a successful call."""
        parts = [f'<{operation_name}Response xmlns="{namespace}">']
        if output_shape is None:
            if result:
                raise SerializationError(f"{operation_name} has no output shape but a result was given")
        else:
            wrapper = output_shape.serialization.get("resultWrapper", f"{operation_name}Result")
            self.writer(output_shape)(result, wrapper, parts)
        parts.append(
            f"<ResponseMetadata><RequestId>{escape_text(request_id)}</RequestId></ResponseMetadata>"
            f"</{operation_name}Response>"
        )
        return "".join(parts)

    def writer(self, shape: Shape) -> _Writer:
        hit = self._writers.get(id(shape))
        if hit is not None and hit[0] is shape:
            return hit[1]
        return self._compile(shape)

    def _register(self, shape: Shape, write: _Writer) -> _Writer:
        self._writers[id(shape)] = (shape, write)
        return write

    def _compile(self, shape: Shape) -> _Writer:
        if isinstance(shape, StructureShape):
            return self._compile_structure(shape)
        if isinstance(shape, ListShape):
            return self._compile_list(shape)
        if isinstance(shape, MapShape):
            return self._compile_map(shape)
        return self._register(shape, _scalar_writer(shape))

    def _compile_structure(self, shape: StructureShape) -> _Writer:
        members: list[tuple[str, str, _Writer]] = []
        known = frozenset(shape.members)
        shape_name = shape.name

        def write(value: Any, name: str, parts: list[str]) -> None:
            if not isinstance(value, Mapping):
                raise SerializationError(f"{shape_name} expects a mapping, got {type(value).__name__}")
            if not value.keys() <= known:
                unknown = sorted(set(value) - known)
                raise SerializationError(
                    f"{shape_name} does not define member(s) {unknown}; it defines {sorted(known)}"
                )
            parts.append(f"<{name}>")
            for key, xml_name, member_writer in members:
                member_value = value.get(key)
                if member_value is not None:
                    member_writer(member_value, xml_name, parts)
            parts.append(f"</{name}>")

        # Registered before the members are compiled so that recursive shapes terminate.
        self._register(shape, write)
        for key, member in shape.members.items():
            members.append((key, member.serialization.get("name", key), self.writer(member)))
        return write

    def _compile_list(self, shape: ListShape) -> _Writer:
        item_shape = shape.member
        flattened = bool(shape.serialization.get("flattened"))
        item_name = item_shape.serialization.get("name")
        shape_name = shape.name
        item_writer: list[_Writer] = []

        def write(value: Any, name: str, parts: list[str]) -> None:
            if isinstance(value, str | bytes | Mapping) or not hasattr(value, "__iter__"):
                raise SerializationError(f"{shape_name} expects a list, got {type(value).__name__}")
            item_write = item_writer[0]
            if flattened:
                for item in value:
                    item_write(item, item_name or name, parts)
                return
            parts.append(f"<{name}>")
            for item in value:
                item_write(item, item_name or "member", parts)
            parts.append(f"</{name}>")

        self._register(shape, write)
        item_writer.append(self.writer(item_shape))
        return write

    def _compile_map(self, shape: MapShape) -> _Writer:
        flattened = bool(shape.serialization.get("flattened"))
        key_name = shape.key.serialization.get("name", "key")
        value_name = shape.value.serialization.get("name", "value")
        shape_name = shape.name
        writers: list[_Writer] = []

        def write(value: Any, name: str, parts: list[str]) -> None:
            if not isinstance(value, Mapping):
                raise SerializationError(f"{shape_name} expects a mapping, got {type(value).__name__}")
            key_write, value_write = writers
            if not flattened:
                parts.append(f"<{name}>")
            entry = name if flattened else "entry"
            for k, v in value.items():
                parts.append(f"<{entry}>")
                key_write(k, key_name, parts)
                value_write(v, value_name, parts)
                parts.append(f"</{entry}>")
            if not flattened:
                parts.append(f"</{name}>")

        self._register(shape, write)
        writers.extend((self.writer(shape.key), self.writer(shape.value)))
        return write


def _scalar_writer(shape: Shape) -> _Writer:  # noqa: C901 - one small branch per wire type
    type_name = shape.type_name
    shape_name = shape.name

    def mismatch(value: Any) -> SerializationError:
        return SerializationError(f"{shape_name} ({type_name}) cannot hold {type(value).__name__} {value!r}")

    if type_name == "string":

        def write_string(value: Any, name: str, parts: list[str]) -> None:
            if not isinstance(value, str):
                raise mismatch(value)
            parts.append(f"<{name}>{escape_text(value)}</{name}>")

        return write_string
    if type_name == "timestamp":
        fmt = shape.serialization.get("timestampFormat", "iso8601")

        def write_timestamp(value: Any, name: str, parts: list[str]) -> None:
            if not isinstance(value, datetime):
                raise mismatch(value)
            if fmt == "unixTimestamp":
                text = repr(_as_utc(value).timestamp())
            elif fmt == "rfc822":
                text = format_datetime(_as_utc(value), usegmt=True)
            else:
                text = format_timestamp(value)
            parts.append(f"<{name}>{text}</{name}>")

        return write_timestamp
    if type_name == "boolean":

        def write_boolean(value: Any, name: str, parts: list[str]) -> None:
            if not isinstance(value, bool):
                raise mismatch(value)
            parts.append(f"<{name}>{'true' if value else 'false'}</{name}>")

        return write_boolean
    if type_name in {"integer", "long"}:

        def write_integer(value: Any, name: str, parts: list[str]) -> None:
            if not isinstance(value, int) or isinstance(value, bool):
                raise mismatch(value)
            parts.append(f"<{name}>{value}</{name}>")

        return write_integer
    if type_name in {"float", "double"}:

        def write_float(value: Any, name: str, parts: list[str]) -> None:
            if not isinstance(value, int | float) or isinstance(value, bool):
                raise mismatch(value)
            parts.append(f"<{name}>{_format_float(float(value))}</{name}>")

        return write_float
    if type_name == "blob":

        def write_blob(value: Any, name: str, parts: list[str]) -> None:
            if not isinstance(value, bytes | bytearray):
                raise mismatch(value)
            parts.append(f"<{name}>{base64.b64encode(value).decode('ascii')}</{name}>")

        return write_blob
    raise SerializationError(f"shape {shape_name} has unsupported type {type_name}")


def _format_float(value: float) -> str:
    if math.isnan(value):
        return "NaN"
    if math.isinf(value):
        return "Infinity" if value > 0 else "-Infinity"
    return repr(value)


_DEFAULT = QuerySerializer()


def serialize_response(
    operation_name: str,
    output_shape: StructureShape | None,
    result: Mapping[str, Any],
    *,
    request_id: str,
    namespace: str = CLOUDFORMATION_NAMESPACE,
) -> str:
    """Serialise ``result`` (keyed by API member names) as ``output_shape`` says; see module doc."""
    return _DEFAULT.serialize_response(
        operation_name, output_shape, result, request_id=request_id, namespace=namespace
    )


def serialize_error(
    *,
    code: str,
    message: str,
    sender_fault: bool,
    request_id: str,
    namespace: str = CLOUDFORMATION_NAMESPACE,
) -> str:
    """The query-protocol ``<ErrorResponse>`` document botocore turns into a ``ClientError``."""
    fault = "Sender" if sender_fault else "Receiver"
    return (
        f'<ErrorResponse xmlns="{namespace}"><Error><Type>{fault}</Type>'
        f"<Code>{escape_text(code)}</Code><Message>{escape_text(message)}</Message></Error>"
        f"<RequestId>{escape_text(request_id)}</RequestId></ErrorResponse>"
    )


def modeled_error(operation: OperationModel, code: str) -> ErrorSpec:
    """Status and fault of an error the operation models, read from the model, not hard-coded."""
    for shape in operation.error_shapes:
        error = shape.metadata.get("error", {})
        if error.get("code", shape.name) == code:
            return ErrorSpec(
                code=code,
                http_status=int(error.get("httpStatusCode", 400)),
                sender_fault=bool(error.get("senderFault", False)),
            )
    raise KeyError(f"{operation.name} does not model error {code}")


def parse_form(body: bytes | str) -> dict[str, str]:
    """Decode a form-encoded query-protocol request; blank values are kept so limits can reject them."""
    text = body.decode("utf-8") if isinstance(body, bytes) else body
    return dict(parse_qsl(text, keep_blank_values=True, strict_parsing=False))


def validate_input(shape: StructureShape, params: Mapping[str, str]) -> list[str]:
    """AWS-style constraint violations of flat scalar ``params`` against an input shape.

    Checks unknown parameters, required members, enums, length limits and patterns. Nested
    (list/structure/map) input members are not supported because these operations have none.
    """
    members = shape.members
    errors = [f"Parameter '{key}' is not defined by {shape.name}" for key in params if key not in members]
    for name in shape.required_members:
        if name not in params:
            errors.append(
                f"Value null at '{_wire_name(name)}' failed to satisfy constraint: Member must not be null"
            )
    for name, member in members.items():
        if name in params:
            errors.extend(_constraint_errors(member, name, params[name]))
    return errors


def validation_message(errors: list[str]) -> str:
    """Join violations the way AWS phrases a ``ValidationError`` message."""
    plural = "s" if len(errors) > 1 else ""
    return f"{len(errors)} validation error{plural} detected: " + "; ".join(errors)


def _wire_name(member_name: str) -> str:
    # AWS reports members in camelCase in validation messages.
    return member_name[:1].lower() + member_name[1:]


def _constraint_errors(shape: Shape, name: str, value: str) -> list[str]:
    shown = value if len(value) <= _SHOWN_VALUE_CHARS else value[:_SHOWN_VALUE_CHARS] + "..."
    prefix = f"Value '{shown}' at '{_wire_name(name)}' failed to satisfy constraint: Member must"
    if shape.type_name != "string":
        if shape.type_name in {"integer", "long"} and not re.fullmatch(r"-?[0-9]+", value):
            return [f"{prefix} be an integer"]
        if shape.type_name == "boolean" and value not in {"true", "false"}:
            return [f"{prefix} be a boolean"]
        return []
    errors: list[str] = []
    enum = shape.metadata.get("enum")
    if enum and value not in enum:
        errors.append(f"{prefix} satisfy enum value set: [{', '.join(enum)}]")
    minimum = shape.metadata.get("min")
    if minimum is not None and len(value) < minimum:
        errors.append(f"{prefix} have length greater than or equal to {minimum}")
    maximum = shape.metadata.get("max")
    if maximum is not None and len(value) > maximum:
        errors.append(f"{prefix} have length less than or equal to {maximum}")
    pattern = shape.metadata.get("pattern")
    if pattern is not None and value and _compiled(pattern).fullmatch(value) is None:
        errors.append(f"{prefix} satisfy regular expression pattern: {pattern}")
    return errors


_PATTERNS: dict[str, re.Pattern[str]] = {}


def _compiled(pattern: str) -> re.Pattern[str]:
    compiled = _PATTERNS.get(pattern)
    if compiled is None:
        # Java's String.matches() semantics: the whole value must match.
        compiled = _PATTERNS[pattern] = re.compile(pattern)
    return compiled
