"""The ingest fast path: a well-formed batch decoded and checked in C by msgspec. Pure.

validation.py is the definition of what is valid and of every answer; this module is a faster
way to reach the same ValidMessages for the batches clients actually send. It answers only
when every message is valid and nothing is unusual, and otherwise returns None, and the caller
judges the whole request again on the slow path. So every refusal, every rejection reason and
every odd input (lone surrogates, numbers out of range, nesting too deep for json.loads,
unknown fields, which msgspec would skip without checking their UTF-8) gets exactly the
answer the slow path gives. tests/server/test_fastpath.py holds the two paths to the same
results.

What it saves (bench/ingest_cpu.py measures it): json.loads and Python type checks (msgspec
decodes into typed structs), re-encoding each message only to measure it (the raw bytes
msgspec hands over bound its size), and parsing and re-formatting timestamps the SDK already
sends in the stored form.

A message whose properties carry a person operator (`$set`, `$set_once`, `$unset`) is left to
the slow path: such messages are rare next to plain captures, and validation.py alone then
holds the operators' rules (their checks, and `$set` winning over plain identify traits).
An identify without operators means `$set` of its plain properties, as there.
"""

from __future__ import annotations

import re
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec

from oakdata_server.json_values import MAX_DEPTH, MAX_INTEGER, MIN_INTEGER
from oakdata_server.validation import (
    _UUID,
    ANON_ID_PROPERTY,
    FUTURE_TOLERANCE_SECONDS,
    MAX_GROUPS,
    MAX_ID_CHARS,
    MAX_MESSAGE_BYTES,
    MESSAGE_TYPES,
    MIN_SKEW_SECONDS,
    PERSON_OPERATORS,
    PUBLIC_KEY_TYPES,
    ValidMessage,
    format_timestamp,
    parse_timestamp,
)

# A message whose raw JSON is at most this long is within MAX_MESSAGE_BYTES once re-encoded
# compactly, as the slow path measures it: re-encoding never lengthens a string (raw JSON must
# escape everything json.dumps escapes) or whitespace, and a number at most quadruples (a
# 4-byte "1e15" becomes the 18-byte "1000000000000000.0"). Longer messages take the slow path.
SAFE_RAW_MESSAGE_BYTES = MAX_MESSAGE_BYTES // 8
# The form the SDK sends and the stored form: UTC, microseconds, Z.
_CANONICAL_TIMESTAMP = re.compile(
    r"[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9]{2}:[0-9]{2}:[0-9]{2}\.[0-9]{6}Z"
)
_UTC = timezone.utc


class _Envelope(msgspec.Struct, forbid_unknown_fields=True):
    batch: list[msgspec.Raw]
    # UNSET, not None: a null sent_at is invalid, and only the slow path may say so.
    sent_at: str | msgspec.UnsetType = msgspec.UNSET


class _Message(msgspec.Struct, forbid_unknown_fields=True):
    # Absent identifiers decode as "", which no check below lets through.
    type: str
    uuid: str
    timestamp: str
    distinct_id: str = ""
    event: str = ""
    alias: str = ""
    group_type: str = ""
    group_key: str = ""
    properties: dict[str, Any] | None = None
    groups: dict[str, str] | None = None


_ENVELOPE = msgspec.json.Decoder(_Envelope)
_MESSAGE = msgspec.json.Decoder(_Message)
_ENCODER = msgspec.json.Encoder()


class _Unusual(Exception):
    """Anything the slow path should judge."""


def fast_validate(
    body: bytes, max_messages: int, public_key: bool, received_at: datetime
) -> list[ValidMessage] | None:
    """The messages of a body whose messages are all valid, in order; None for anything
    else."""
    try:
        envelope = _ENVELOPE.decode(body)
        if len(envelope.batch) > max_messages:
            return None
        clock = _Clock(envelope.sent_at, received_at)
        return [_message(raw, clock, public_key) for raw in envelope.batch]
    except (msgspec.DecodeError, _Unusual):
        return None


class _Clock:
    """The skew correction and the future bound of validate_batch, computed once per batch."""

    __slots__ = ("latest", "latest_naive", "latest_text", "received_at", "received_text", "skew")

    def __init__(self, sent_at: str | msgspec.UnsetType, received_at: datetime) -> None:
        skew = timedelta(0)
        if isinstance(sent_at, str):
            sent = parse_timestamp(sent_at)
            if sent is None:
                raise _Unusual
            skew = received_at - sent
            if abs(skew.total_seconds()) < MIN_SKEW_SECONDS:
                skew = timedelta(0)
        self.skew = skew
        self.received_at = received_at
        self.latest = received_at + timedelta(seconds=FUTURE_TOLERANCE_SECONDS)
        self.latest_naive = self.latest.astimezone(_UTC).replace(tzinfo=None)
        self.latest_text = format_timestamp(self.latest)
        self.received_text = format_timestamp(received_at)

    def stored(self, text: str) -> tuple[str, str]:
        """(timestamp, client_timestamp) as validation._timestamps would store them."""
        if _CANONICAL_TIMESTAMP.fullmatch(text) is None:
            return self._stored_parsed(text)
        try:
            # Validates the fields' ranges; the text is already the stored form.
            moment = datetime.fromisoformat(text[:-1])
            if not self.skew:  # as SDKs send: compared as text, fixed-width UTC like it
                return (text, text) if text <= self.latest_text else (self.received_text, text)
            corrected = moment + self.skew
        except (ValueError, OverflowError):
            raise _Unusual from None
        if corrected > self.latest_naive:
            return self.received_text, text
        return corrected.isoformat(timespec="microseconds") + "Z", text

    def _stored_parsed(self, text: str) -> tuple[str, str]:
        parsed = parse_timestamp(text)
        if parsed is None:
            raise _Unusual
        try:
            corrected = parsed + self.skew
        except OverflowError:
            raise _Unusual from None
        stored = self.received_at if corrected > self.latest else corrected
        return format_timestamp(stored), format_timestamp(parsed)


def _message(raw: msgspec.Raw, clock: _Clock, public_key: bool) -> ValidMessage:
    if len(raw) > SAFE_RAW_MESSAGE_BYTES:
        raise _Unusual
    m = _MESSAGE.decode(raw)
    kind = m.type
    if kind not in MESSAGE_TYPES or (public_key and kind not in PUBLIC_KEY_TYPES):
        raise _Unusual
    if _UUID.fullmatch(m.uuid) is None:
        raise _Unusual
    timestamp, client_timestamp = clock.stored(m.timestamp)
    properties = {} if m.properties is None else m.properties
    if properties and (not _storable(properties) or not PERSON_OPERATORS.isdisjoint(properties)):
        raise _Unusual
    uuid = m.uuid.lower()
    if kind == "capture":
        groups = {} if m.groups is None else m.groups
        if groups and not _valid_groups(groups):
            raise _Unusual
        if not (0 < len(m.distinct_id) <= MAX_ID_CHARS and 0 < len(m.event) <= MAX_ID_CHARS):
            raise _Unusual  # _identifiers, spelled out for the message nearly all are
        return ValidMessage(
            kind,
            uuid,
            timestamp,
            client_timestamp,
            distinct_id=m.distinct_id,
            event=m.event,
            properties=properties,
            properties_json=_ENCODER.encode(properties).decode(),
            groups=groups,
        )
    if kind == "identify":
        _identifiers(m.distinct_id)
        anon = properties.pop(ANON_ID_PROPERTY, None)
        if anon is not None:
            _identifiers(anon if isinstance(anon, str) else "")
        return ValidMessage(
            kind,
            uuid,
            timestamp,
            client_timestamp,
            distinct_id=m.distinct_id,
            properties=properties,
            properties_json=_ENCODER.encode(properties).decode(),
            anon_distinct_id=anon or "",
            person_set=properties,  # plain identify properties mean $set
            changes_person=bool(properties),
        )
    if kind == "alias":
        _identifiers(m.distinct_id, m.alias)
        return ValidMessage(
            kind, uuid, timestamp, client_timestamp, distinct_id=m.distinct_id, alias=m.alias
        )
    _identifiers(m.group_type, m.group_key)
    return ValidMessage(
        kind,
        uuid,
        timestamp,
        client_timestamp,
        group_type=m.group_type,
        group_key=m.group_key,
        properties=properties,
        properties_json=_ENCODER.encode(properties).decode(),
    )


def _identifiers(*values: str) -> None:
    for value in values:
        if not 0 < len(value) <= MAX_ID_CHARS:
            raise _Unusual


def _valid_groups(groups: dict[str, str]) -> bool:
    return len(groups) <= MAX_GROUPS and all(
        0 < len(t) <= MAX_ID_CHARS and 0 < len(k) <= MAX_ID_CHARS for t, k in groups.items()
    )


def _storable(properties: dict[str, Any]) -> bool:
    """json_values.problem(...) is None, for a value msgspec decoded: its floats are finite
    (msgspec refuses 1e400), so only integer range and depth are left to check."""
    stack: list[tuple[Any, int]] = [(properties, 0)]
    while stack:
        container, depth = stack.pop()
        if depth >= MAX_DEPTH:
            return False
        values = container.values() if type(container) is dict else container
        for value in values:
            kind = type(value)
            if kind is int:
                if not MIN_INTEGER <= value <= MAX_INTEGER:
                    return False
            elif kind is dict or kind is list:
                stack.append((value, depth + 1))
    return True
