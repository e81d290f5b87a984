"""Turning a decoded body into valid messages and rejections. Pure: no I/O, no clock.

The envelope is judged as a whole (an error refuses the request); each message is judged on
its own (an error rejects that message by index and the rest are stored), as docs/protocol.md
sections 3 and 4 say.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import msgspec

from oakdata_server.errors import IngestError
from oakdata_server.json_values import problem

MESSAGE_TYPES = ("capture", "identify", "alias", "group_identify")
PUBLIC_KEY_TYPES = frozenset({"capture", "identify", "alias"})
MAX_ID_CHARS = 200
MAX_MESSAGE_BYTES = 256 * 1024
MAX_GROUPS = 50
ANON_ID_PROPERTY = "$anon_distinct_id"
SET, SET_ONCE, UNSET = "$set", "$set_once", "$unset"  # person operators, never stored as traits
_OPERATORS = (SET, SET_ONCE, UNSET)
PERSON_OPERATORS = frozenset(_OPERATORS)
_ID_RULE = f"must be a string of 1 to {MAX_ID_CHARS} characters"

_UUID = re.compile(r"[0-9a-fA-F]{8}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{4}-[0-9a-fA-F]{12}")
# [0-9], not \d: \d also matches Arabic-Indic and other digits, which RFC 3339 does not allow.
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt ]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:([Zz])|([+-])([0-9]{2}):([0-9]{2}))"
)
# Skew correction exists for clocks wrong by seconds to hours. A smaller difference between
# sent_at and the receipt time is mostly the request's own latency, and correcting it would
# shift each request by a different amount and reorder one client's events sent in turn.
MIN_SKEW_SECONDS = 2.0
# No client timestamp is trusted beyond the server's clock: after correction, one more than
# this ahead of the receipt time is set to the receipt time (the original is kept beside it),
# so a forged far-future identify cannot win over every later one.
FUTURE_TOLERANCE_SECONDS = 10.0


# A msgspec Struct: one is made for every message, and a Struct is made in C (0.18 µs here,
# against 0.67 for a slotted dataclass, and more for a frozen one, which sets each field
# through object.__setattr__). Nothing changes one once made.
# Untracked by the cyclic collector (gc=False): a message holds strings, tuples and dicts of
# JSON values, never anything that refers back to it, so it can be in no cycle. Thousands are
# made per request; untracked, they cost less to make and free, and young collections come
# more rarely (perf on a worker under bench/engines.py: the collector's and the struct
# deallocator's share fell from about 8 % of its CPU to about 1 %).
class ValidMessage(msgspec.Struct, gc=False):
    type: str
    uuid: str
    timestamp: str  # corrected for clock skew, UTC, fixed width so text order is time order
    client_timestamp: str
    distinct_id: str = ""
    event: str = ""
    alias: str = ""
    group_type: str = ""
    group_key: str = ""
    properties: dict[str, Any] = msgspec.field(default_factory=dict)
    properties_json: str = "{}"  # encoded once, here, and stored as is
    groups: dict[str, str] = msgspec.field(default_factory=dict)
    anon_distinct_id: str = ""
    # What the message does to its person's properties (identify; capture with $set...).
    person_set: dict[str, Any] = msgspec.field(default_factory=dict)
    person_set_once: dict[str, Any] = msgspec.field(default_factory=dict)
    person_unset: tuple[str, ...] = ()
    # Whether any of the three holds something: given by whoever fills them, so that storage
    # asks an attribute, not a property, twice per message.
    changes_person: bool = False


@dataclass(frozen=True)
class Rejection:
    index: int
    reason: str


class _Invalid(Exception):
    pass


def parse_json(body: bytes) -> Any:
    try:
        # Decoded here, strictly, and not by json.loads: given bytes, it would also accept
        # UTF-16, UTF-32 and a byte-order mark, which the protocol says are refused.
        return json.loads(body.decode("utf-8"), parse_constant=_refuse_constant)
    except (ValueError, RecursionError):
        # ValueError covers bad UTF-8, bad JSON, NaN and over-long integers.
        raise IngestError(400, "invalid_json", "The body is not valid UTF-8 JSON.") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not JSON")


def parse_envelope(document: Any, max_messages: int) -> tuple[list[Any], datetime | None]:
    """The batch and sent_at of an envelope, or the error that refuses the request."""
    if not isinstance(document, dict):
        raise _envelope("the body must be a JSON object")
    batch = document.get("batch")
    if not isinstance(batch, list):
        raise _envelope('"batch" must be an array of messages')
    if len(batch) > max_messages:
        raise IngestError(
            413,
            "too_many_messages",
            f"The batch has {len(batch)} messages; at most {max_messages}.",
        )
    sent_at: datetime | None = None
    if "sent_at" in document:
        raw = document["sent_at"]
        sent_at = parse_timestamp(raw) if isinstance(raw, str) else None
        if sent_at is None:
            raise _envelope('"sent_at" must be an RFC 3339 timestamp')
    return batch, sent_at


def _envelope(problem: str) -> IngestError:
    return IngestError(422, "invalid_envelope", f"Invalid envelope: {problem}.")


def parse_timestamp(text: str) -> datetime | None:
    match = _RFC3339.fullmatch(text)
    if match is None:
        return None
    year, month, day, hour, minute, second, fraction, zulu, sign, off_h, off_m = match.groups()
    micro = int((fraction or "0")[:6].ljust(6, "0"))
    try:
        offset = timedelta(0)
        if not zulu:
            offset = timedelta(hours=int(off_h), minutes=int(off_m))
            offset = -offset if sign == "-" else offset
        local = datetime(
            int(year),
            int(month),
            int(day),
            int(hour),
            int(minute),
            int(second),
            micro,
            tzinfo=timezone(offset),
        )
        return local.astimezone(timezone.utc)
    except (ValueError, OverflowError):
        return None


def format_timestamp(moment: datetime) -> str:
    # Every stored value has the same width: isoformat pads the year to four digits and,
    # with timespec, always writes the microseconds.
    utc = moment.astimezone(timezone.utc).replace(tzinfo=None)
    return utc.isoformat(timespec="microseconds") + "Z"


def validate_batch(
    batch: list[Any], sent_at: datetime | None, received_at: datetime
) -> tuple[list[tuple[int, ValidMessage]], list[Rejection]]:
    skew = received_at - sent_at if sent_at is not None else timedelta(0)
    if abs(skew.total_seconds()) < MIN_SKEW_SECONDS:
        skew = timedelta(0)
    latest = received_at + timedelta(seconds=FUTURE_TOLERANCE_SECONDS)
    valid: list[tuple[int, ValidMessage]] = []
    rejected: list[Rejection] = []
    for index, raw in enumerate(batch):
        try:
            valid.append((index, validate_message(raw, skew, received_at, latest)))
        except _Invalid as problem:
            rejected.append(Rejection(index, str(problem)))
    return valid, rejected


def validate_message(
    raw: Any, skew: timedelta, received_at: datetime, latest: datetime
) -> ValidMessage:
    if not isinstance(raw, dict):
        raise _Invalid("message: must be a JSON object")
    kind = raw.get("type")
    if kind not in MESSAGE_TYPES:
        raise _Invalid("type: must be one of " + ", ".join(MESSAGE_TYPES))
    uuid = raw.get("uuid")
    if not isinstance(uuid, str) or _UUID.fullmatch(uuid) is None:
        raise _Invalid("uuid: must be a UUID in 8-4-4-4-12 hex form")
    moment, corrected = _timestamps(raw, skew, received_at, latest)
    try:
        size = len(json.dumps(raw, separators=(",", ":"), ensure_ascii=False).encode("utf-8"))
    except UnicodeEncodeError:
        raise _Invalid("message: contains a lone surrogate, which is not UTF-8") from None
    if size > MAX_MESSAGE_BYTES:
        raise _Invalid(f"message: larger than {MAX_MESSAGE_BYTES} bytes")
    properties = _properties(raw)
    unstorable = problem(properties, "properties")
    if unstorable is not None:
        raise _Invalid(unstorable)
    common: dict[str, Any] = {
        "type": kind,
        "uuid": uuid.lower(),
        "timestamp": format_timestamp(corrected),
        "client_timestamp": format_timestamp(moment),
    }
    if kind == "capture":
        return ValidMessage(
            **common,
            distinct_id=_identifier(raw, "distinct_id"),
            event=_identifier(raw, "event"),
            properties=properties,
            properties_json=_encode(properties),
            groups=_groups(raw),
            **_person_changes(properties, {}),
        )
    if kind == "identify":
        anon = properties.pop(ANON_ID_PROPERTY, None)
        if anon is not None and not _is_identifier(anon):
            raise _Invalid(f"properties.{ANON_ID_PROPERTY}: {_ID_RULE}")
        # Plain properties mean $set; the operators' own names are never traits.
        plain = {k: v for k, v in properties.items() if k not in _OPERATORS}
        changes = _person_changes(properties, plain)
        return ValidMessage(
            **common,
            distinct_id=_identifier(raw, "distinct_id"),
            properties=changes["person_set"],
            properties_json=_encode(changes["person_set"]),
            anon_distinct_id=anon or "",
            **changes,
        )
    if kind == "alias":
        return ValidMessage(
            **common, distinct_id=_identifier(raw, "distinct_id"), alias=_identifier(raw, "alias")
        )
    return ValidMessage(
        **common,
        group_type=_identifier(raw, "group_type"),
        group_key=_identifier(raw, "group_key"),
        properties=properties,
        properties_json=_encode(properties),
    )


def _timestamps(
    raw: dict[str, Any], skew: timedelta, received_at: datetime, latest: datetime
) -> tuple[datetime, datetime]:
    """The client's timestamp and the one stored: corrected for skew, never in the future."""
    raw_timestamp = raw.get("timestamp")
    moment = parse_timestamp(raw_timestamp) if isinstance(raw_timestamp, str) else None
    if moment is None:
        raise _Invalid("timestamp: must be an RFC 3339 timestamp")
    try:
        corrected = moment + skew
    except OverflowError:
        raise _Invalid("timestamp: out of range after clock-skew correction") from None
    return moment, received_at if corrected > latest else corrected


def _is_identifier(value: Any) -> bool:
    return isinstance(value, str) and 1 <= len(value) <= MAX_ID_CHARS


def _identifier(raw: dict[str, Any], name: str) -> str:
    value = raw.get(name)
    if not _is_identifier(value):
        raise _Invalid(f"{name}: {_ID_RULE}")
    return str(value)


def _properties(raw: dict[str, Any]) -> dict[str, Any]:
    value = raw.get("properties", {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Invalid("properties: must be an object")
    return dict(value)


def _person_changes(properties: dict[str, Any], plain: dict[str, Any]) -> dict[str, Any]:
    """$set (over `plain`), $set_once and $unset of a message's properties, checked."""
    changes: dict[str, Any] = {
        "person_set": {**plain, **_operator_object(properties, SET)},
        "person_set_once": _operator_object(properties, SET_ONCE),
    }
    names = properties.get(UNSET) or []
    if not isinstance(names, list) or not all(isinstance(n, str) for n in names):
        raise _Invalid(f"properties.{UNSET}: must be an array of property names")
    changes["person_unset"] = tuple(_allowed_names(UNSET, names))
    changes["changes_person"] = any(changes.values())
    return changes


def _operator_object(properties: dict[str, Any], operator: str) -> dict[str, Any]:
    value = properties.get(operator)
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Invalid(f"properties.{operator}: must be an object of property names to values")
    _allowed_names(operator, value)
    return dict(value)


def _allowed_names(operator: str, names: Any) -> Any:
    if any(name in _OPERATORS for name in names):
        raise _Invalid(f"properties.{operator}: {', '.join(_OPERATORS)} are not property names")
    return names


def _groups(raw: dict[str, Any]) -> dict[str, str]:
    value = raw.get("groups", {})
    if value is None:
        return {}
    if not isinstance(value, dict):
        raise _Invalid("groups: must be an object of group type to group key")
    if len(value) > MAX_GROUPS:
        raise _Invalid(f"groups: at most {MAX_GROUPS} entries")
    for group_type, group_key in value.items():
        if not _is_identifier(group_type) or not _is_identifier(group_key):
            raise _Invalid(f"groups: types and keys {_ID_RULE.replace('a string', 'strings')}")
    return dict(value)


def _encode(properties: dict[str, Any]) -> str:
    return json.dumps(properties, separators=(",", ":"), ensure_ascii=False)
