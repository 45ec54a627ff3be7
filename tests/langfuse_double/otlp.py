"""Decode OTLP/HTTP trace exports (protobuf or OTLP/JSON, gzip or not) into Span records (REFERENCE §6.5)."""

from __future__ import annotations

import base64
import binascii
import gzip
import json
from typing import Any

from google.protobuf import json_format
from google.protobuf.message import DecodeError
from opentelemetry.proto.collector.trace.v1.trace_service_pb2 import ExportTraceServiceRequest
from opentelemetry.proto.common.v1.common_pb2 import AnyValue, KeyValue

from tests.langfuse_double.errors import ApiFailure
from tests.langfuse_double.spans import Span

_ID_FIELDS = ("traceId", "spanId", "parentSpanId")


def _bad(message: str) -> ApiFailure:
    # The OTel route reports problems as {"error": …} without a message key.
    return ApiFailure(400, {"error": message})


def decode_export(body: bytes, content_type: str, content_encoding: str) -> list[Span]:
    """Decode one export request body; raise the server's 400 for anything it would reject."""
    media = content_type.split(";")[0].strip().lower()
    if media not in ("application/x-protobuf", "application/json"):
        raise _bad("Invalid content type")
    if content_encoding.strip().lower() == "gzip":
        try:
            body = gzip.decompress(body)
        except (OSError, EOFError) as error:
            raise _bad(f"Failed to decompress gzip body: {error}") from error
    request = _parse_protobuf(body) if media == "application/x-protobuf" else _parse_json(body)
    return _spans_of(request)


def _parse_protobuf(body: bytes) -> ExportTraceServiceRequest:
    request = ExportTraceServiceRequest()
    try:
        request.ParseFromString(body)
    except DecodeError as error:
        raise _bad(f"Failed to parse OTLP protobuf: {error}") from error
    return request


def _parse_json(body: bytes) -> ExportTraceServiceRequest:
    try:
        data = json.loads(body)
        # OTLP/JSON writes ids as hex, while the protobuf JSON mapping expects base64 for bytes.
        for resource in data.get("resourceSpans") or []:
            for scope in resource.get("scopeSpans") or []:
                for span in scope.get("spans") or []:
                    for key in _ID_FIELDS:
                        if span.get(key):
                            span[key] = base64.b64encode(bytes.fromhex(span[key])).decode()
        request = ExportTraceServiceRequest()
        json_format.ParseDict(data, request, ignore_unknown_fields=True)
        return request
    except (ValueError, AttributeError, TypeError, json_format.ParseError) as error:
        raise _bad(f"Failed to parse OTLP JSON: {error}") from error


def any_value(value: AnyValue) -> Any:
    """Convert an OTLP AnyValue into the matching Python value."""
    kind = value.WhichOneof("value")
    if kind is None:
        return None
    if kind == "array_value":
        return [any_value(v) for v in value.array_value.values]
    if kind == "kvlist_value":
        return attributes(value.kvlist_value.values)
    return getattr(value, kind)


def attributes(pairs: Any) -> dict[str, Any]:
    """Convert repeated KeyValue into a dict."""
    converted: dict[str, Any] = {}
    pair: KeyValue
    for pair in pairs:
        converted[pair.key] = any_value(pair.value)
    return converted


def _hex_id(raw: bytes, size: int, what: str, *, optional: bool = False) -> str | None:
    if optional and not raw:
        return None
    if len(raw) != size:
        raise _bad(f"Invalid {what}: expected {size} bytes, got {len(raw)}")
    return binascii.hexlify(raw).decode()


def _spans_of(request: ExportTraceServiceRequest) -> list[Span]:
    decoded: list[Span] = []
    for resource_spans in request.resource_spans:
        resource = attributes(resource_spans.resource.attributes)
        for scope_spans in resource_spans.scope_spans:
            scope = scope_spans.scope
            for span in scope_spans.spans:
                decoded.append(
                    Span(
                        trace_id=_hex_id(span.trace_id, 16, "traceId") or "",
                        span_id=_hex_id(span.span_id, 8, "spanId") or "",
                        parent_span_id=_hex_id(span.parent_span_id, 8, "parentSpanId", optional=True),
                        name=span.name,
                        kind=span.kind,
                        start_time_unix_nano=span.start_time_unix_nano,
                        end_time_unix_nano=span.end_time_unix_nano,
                        attributes=attributes(span.attributes),
                        resource_attributes=resource,
                        scope_name=scope.name,
                        scope_version=scope.version,
                        scope_attributes=attributes(scope.attributes),
                        status_code=span.status.code,
                        status_message=span.status.message,
                        events=tuple((e.name, attributes(e.attributes)) for e in span.events),
                    )
                )
    return decoded
