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
msgspec hands over bound its size), parsing and re-formatting timestamps the SDK already
sends in the stored form, and a Python call per message for each check a batch can take at
once (its uuids and timestamps matched as one text each, its flat properties' integers
bounded while decoding).

A message whose properties carry a person operator (`$set`, `$set_once`, `$unset`) is left to
the slow path: such messages are rare next to plain captures, and validation.py alone then
holds the operators' rules (their checks, and `$set` winning over plain identify traits).
An identify without operators means `$set` of its plain properties, as there.
"""

from __future__ import annotations

import re
from datetime import date, datetime, timedelta, timezone
from typing import Annotated, Any, Union

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
# A batch's timestamps and uuids, each followed by a newline, checked by one match each: a
# regular expression run over the whole batch costs a fifth of one call per message. The
# length of the text must be checked too: a value holding a newline could pass for two. The
# timestamps in the canonical form with the time of day in range (hours 00-23, no leap
# second, as datetime allows); their dates are checked apart.
_CANONICAL_TIMESTAMPS = re.compile(
    r"(?:[0-9]{4}-[0-9]{2}-[0-9]{2}T(?:[01][0-9]|2[0-3]):[0-5][0-9]:[0-5][0-9]\.[0-9]{6}Z\n)*"
)
_UUIDS = re.compile(f"(?:{_UUID.pattern}\n)*")
_UTC = timezone.utc
# A property value, with integers as far as msgspec checks them in C: the int64 range. Larger
# ones up to MAX_INTEGER are valid too, and the slow path takes their batches.
_Value = Union[  # noqa: UP007 - a union of types at runtime, for msgspec, on Python 3.10
    str,
    float,
    bool,
    None,
    Annotated[int, msgspec.Meta(ge=-(2**63), le=2**63 - 1)],
    list[Any],
    dict[str, Any],
]


# This struct and the next untracked by the cyclic collector, as ValidMessage (validation.py).
class _Envelope(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    batch: list[msgspec.Raw]
    # UNSET, not None: a null sent_at is invalid, and only the slow path may say so.
    sent_at: str | msgspec.UnsetType = msgspec.UNSET


class _Message(msgspec.Struct, forbid_unknown_fields=True, gc=False):
    # Absent identifiers decode as "", which no check below lets through.
    type: str
    uuid: str
    timestamp: str
    distinct_id: str = ""
    event: str = ""
    alias: str = ""
    group_type: str = ""
    group_key: str = ""
    properties: dict[str, _Value] | None = None
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
        batch = envelope.batch
        if len(batch) > max_messages:
            return None
        clock = _Clock(envelope.sent_at, received_at)
        if not batch:
            return []
        if max(map(len, batch)) > SAFE_RAW_MESSAGE_BYTES:
            return None
        decoded = list(map(_MESSAGE.decode, batch))
        uuids = _lower_uuids([m.uuid for m in decoded])
        timestamps, client_timestamps = clock.stamps([m.timestamp for m in decoded])
        return [
            _message(*fields, public_key)
            for fields in zip(decoded, uuids, timestamps, client_timestamps, strict=True)
        ]
    except (msgspec.DecodeError, _Unusual):
        return None


def _lower_uuids(uuids: list[str]) -> list[str]:
    """The uuids in lower case, if each is one."""
    text = "\n".join(uuids) + "\n"
    if len(text) != 37 * len(uuids) or _UUIDS.fullmatch(text) is None:
        raise _Unusual
    return uuids if text.lower() == text else [u.lower() for u in uuids]


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

    def stamps(self, texts: list[str]) -> tuple[list[str], list[str]]:
        """The (timestamp, client_timestamp) of each of a batch's timestamps, as two lists."""
        text = "\n".join(texts) + "\n"
        if not self.skew and len(text) == 28 * len(texts) and _CANONICAL_TIMESTAMPS.fullmatch(text):
            # As SDKs send: the stored form already, only the dates left to check, and the
            # future bound a comparison of fixed-width UTC text. Texts between the earliest
            # and the latest share their date when those two do.
            newest = max(texts)
            first, last = min(texts)[:10], newest[:10]
            for day in {first} if first == last else {t[:10] for t in texts}:
                try:
                    date.fromisoformat(day)
                except ValueError:
                    raise _Unusual from None
            latest, received = self.latest_text, self.received_text
            if newest <= latest:
                return texts, texts
            return [t if t <= latest else received for t in texts], texts
        pairs = [self.stored(t) for t in texts]
        return [p[0] for p in pairs], [p[1] for p in pairs]

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


def _message(
    m: _Message, uuid: str, timestamp: str, client_timestamp: str, public_key: bool
) -> ValidMessage:
    kind = m.type
    if kind not in MESSAGE_TYPES or (public_key and kind not in PUBLIC_KEY_TYPES):
        raise _Unusual
    properties = {} if m.properties is None else m.properties
    if properties and not PERSON_OPERATORS.isdisjoint(properties):
        raise _Unusual
    if kind == "capture":
        properties_json = _ENCODER.encode(properties).decode()
        if properties and not _storable(properties, properties_json):
            raise _Unusual
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
            properties_json=properties_json,
            groups=groups,
        )
    if properties and not _storable(properties):
        raise _Unusual
    if kind == "identify":
        _identifiers(m.distinct_id)
        anon = properties.pop(ANON_ID_PROPERTY, None)
        if anon is not None:
            if not isinstance(anon, str):
                raise _Unusual
            _identifiers(anon)
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


def _storable(properties: dict[str, Any], encoded: str = "") -> bool:
    """json_values.problem(...) is None, for a value msgspec decoded: its floats are finite
    (msgspec refuses 1e400), so only integer range and depth are left to check."""
    if encoded and "[" not in encoded and encoded.find("{", 1) < 0:
        # Its JSON text holds no array and no object but itself: no value nests, and the
        # integers among the values were bounded when decoded (_Value).
        return True
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
