"""Building the four message types from what the caller passed: pure, and strict about input.

A builder either returns the message dict or raises InvalidInput whose text names the fault
without quoting the value (values may be personal data, and warnings end up in logs).
"""

from __future__ import annotations

from collections.abc import Mapping

from ._ids import new_ids
from ._version import __version__

TYPE_CHECKING = False  # typing and datetime cost import time; only type checkers need them
if TYPE_CHECKING:
    import datetime as dt
    from typing import Any

    Message = dict[str, Any]

LIB_NAME = "oakdata-python"
MAX_ID_LENGTH = 200
MAX_GROUPS = 50
SET, SET_ONCE, UNSET = "$set", "$set_once", "$unset"  # person operators in properties
OPERATORS = (SET, SET_ONCE, UNSET)


class InvalidInput(Exception):
    """Raised by the builders; the message names the argument and the fault, never the value."""


def capture(
    distinct_id: object,
    event: object,
    properties: object,
    groups: object,
    timestamp: object,
    message_uuid: object,
) -> Message:
    # The hot path of the whole SDK: the common case (str ids, a dict of properties, no
    # explicit timestamp or uuid) is checked inline; the helpers handle everything else.
    props = properties.copy() if type(properties) is dict else _properties(properties)
    props["$lib"] = LIB_NAME
    props["$lib_version"] = __version__
    if type(event) is not str or not 0 < len(event) <= MAX_ID_LENGTH or event.isspace():
        event = _name("event", event)
    if (
        type(distinct_id) is not str
        or not 0 < len(distinct_id) <= MAX_ID_LENGTH
        or distinct_id.isspace()
    ):
        distinct_id = _identifier("distinct_id", distinct_id)
    message_id, now = new_ids()
    return {
        "type": "capture",
        "uuid": message_id if message_uuid is None else _uuid(message_uuid),
        "timestamp": now if timestamp is None else _timestamp(timestamp),
        "event": event,
        "distinct_id": distinct_id,
        "properties": props,
        "groups": {} if groups is None else _groups(groups),
    }


def identify(
    distinct_id: object,
    properties: object,
    set_once: object,
    unset: object,
    timestamp: object,
    message_uuid: object,
) -> Message:
    message = _envelope("identify", timestamp, message_uuid)
    message["distinct_id"] = _identifier("distinct_id", distinct_id)
    message["properties"] = _person_operators(_properties(properties), set_once, unset)
    return message


def alias(
    distinct_id: object, alias_id: object, timestamp: object, message_uuid: object
) -> Message:
    message = _envelope("alias", timestamp, message_uuid)
    message["distinct_id"] = _identifier("distinct_id", distinct_id)
    message["alias"] = _identifier("alias", alias_id)
    return message


def group_identify(
    group_type: object,
    group_key: object,
    properties: object,
    timestamp: object,
    message_uuid: object,
) -> Message:
    message = _envelope("group_identify", timestamp, message_uuid)
    message["group_type"] = _name("group_type", group_type)
    message["group_key"] = _identifier("group_key", group_key)
    message["properties"] = _properties(properties)
    return message


def _person_operators(props: dict[Any, Any], set_once: object, unset: object) -> dict[Any, Any]:
    """identify's properties with `$set_once` and `$unset` checked, and the keyword arguments
    merged into them (a keyword's value wins on the same name), as docs/protocol.md says."""
    for operator in (SET, SET_ONCE):
        if props.get(operator) is not None:
            props[operator] = _operator_mapping(f"properties[{operator!r}]", props[operator])
    if set_once is not None:
        props[SET_ONCE] = {**props.get(SET_ONCE, {}), **_operator_mapping("set_once", set_once)}
    names = _names(f"properties[{UNSET!r}]", props.get(UNSET)) + _names("unset", unset)
    if names:
        props[UNSET] = list(dict.fromkeys(names))  # in order, each once
    for operator in OPERATORS:
        if props.get(operator) is None or props[operator] == {}:
            props.pop(operator, None)  # nothing to do: keep the message small
    return props


def _operator_mapping(argument: str, value: object) -> dict[Any, Any]:
    if not isinstance(value, Mapping):
        raise InvalidInput(f"{argument} must be a mapping, not {type(value).__name__}")
    if any(name in OPERATORS for name in value):
        raise InvalidInput(f"{argument} names an operator ($set, $set_once, $unset)")
    return dict(value)


def _names(argument: str, value: object) -> list[str]:
    if value is None:
        return []
    if not isinstance(value, (list, tuple, set, frozenset)):
        # A bare str is refused too: "plan" must not mean the properties p, l, a and n.
        raise InvalidInput(
            f"{argument} must be a list of property names, not {type(value).__name__}"
        )
    if not all(isinstance(name, str) and name not in OPERATORS for name in value):
        raise InvalidInput(f"{argument} must hold property names (str) only")
    return sorted(value) if isinstance(value, (set, frozenset)) else list(value)


def _envelope(kind: str, timestamp: object, message_uuid: object) -> Message:
    message_id, now = new_ids()
    return {
        "type": kind,
        "uuid": message_id if message_uuid is None else _uuid(message_uuid),
        "timestamp": now if timestamp is None else _timestamp(timestamp),
    }


def _identifier(argument: str, value: object) -> str:
    # bool is an int subclass, but True is never meant as a user id.
    if isinstance(value, int) and not isinstance(value, bool):
        return str(value)
    if not isinstance(value, str):
        raise InvalidInput(f"{argument} must be a str or an int, not {type(value).__name__}")
    return _bounded(argument, value)


def _name(argument: str, value: object) -> str:
    if not isinstance(value, str):
        raise InvalidInput(f"{argument} must be a str, not {type(value).__name__}")
    return _bounded(argument, value)


def _bounded(argument: str, value: str) -> str:
    if not value or value.isspace():
        raise InvalidInput(f"{argument} is empty")
    if len(value) > MAX_ID_LENGTH:
        raise InvalidInput(f"{argument} is longer than {MAX_ID_LENGTH} characters")
    return value


def _properties(value: object) -> dict[Any, Any]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(f"properties must be a mapping, not {type(value).__name__}")
    # A shallow copy: the caller's dict may be mutated after we return. Nested values are
    # fixed a moment later, when the message is encoded, still inside the caller's call.
    return dict(value)


def _groups(value: object) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        raise InvalidInput(f"groups must be a mapping, not {type(value).__name__}")
    if len(value) > MAX_GROUPS:
        raise InvalidInput(f"groups has more than {MAX_GROUPS} entries")
    return {_name("group type", k): _identifier("group key", v) for k, v in value.items()}


def _uuid(value: object) -> str:
    import uuid as uuid_module  # only when the caller passes its own uuid

    if isinstance(value, uuid_module.UUID):
        return str(value)
    if isinstance(value, str):
        try:
            return str(uuid_module.UUID(value))
        except ValueError:
            pass
    raise InvalidInput("uuid must be a UUID or a UUID string")


def _timestamp(value: object) -> str:
    import datetime as dt  # only when the caller passes its own timestamp

    if isinstance(value, str):
        value = _parse_iso(value)
    if not isinstance(value, dt.datetime):
        raise InvalidInput("timestamp must be a datetime or an ISO-8601 string")
    # Naive datetimes are taken as UTC (documented): servers usually run in UTC, and
    # guessing the local zone would silently shift events by hours elsewhere.
    moment = value.replace(tzinfo=dt.timezone.utc) if value.tzinfo is None else value
    try:
        utc = moment.astimezone(dt.timezone.utc)
    except (OverflowError, ValueError) as exc:
        raise InvalidInput("timestamp is out of range") from exc
    return f"{utc:%Y-%m-%dT%H:%M:%S}.{utc.microsecond:06d}Z"


def _parse_iso(text: str) -> dt.datetime:
    import datetime as dt

    candidate = text.strip()
    # Python 3.10's fromisoformat does not know the 'Z' suffix.
    if candidate[-1:] in ("Z", "z"):
        candidate = candidate[:-1] + "+00:00"
    try:
        return dt.datetime.fromisoformat(candidate)
    except ValueError as exc:
        raise InvalidInput("timestamp is not an ISO-8601 date and time") from exc
