"""capture()'s common case in one pass: the message written as text around its properties.

Nearly every capture passes str ids, a dict of properties (or none), and no groups,
timestamp or uuid of its own. For those, building the message dict, copying the
properties to add the library's two, and encoding the envelope field by field cost more
than encoding the properties themselves. Instead the envelope is written as text: the
uuid and timestamp are JSON-safe as made, the names are quoted by the same C function the
json encoder uses, and the library's properties join the properties' JSON as text.

Anything else, or anything that form cannot encode (NaN, a cycle, a lone surrogate), is
built by _message.capture and encoded whole, the general way; tests check that both ways
give the same JSON value.
"""

from __future__ import annotations

from types import MethodType

from . import _message
from ._encoding import Encoder
from ._ids import new_ids
from ._message import LIB_NAME, MAX_ID_LENGTH
from ._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable
    from typing import TypeGuard

    # (distinct_id, event, properties, groups, timestamp, uuid) -> (uuid, JSON bytes)
    CaptureForm = Callable[[object, object, object, object, object, object], tuple[str, bytes]]

# Added to every capture's properties (the general way sets the same two keys), and the
# message's end: after the properties' own members, or as the only ones.
LIB_MEMBERS = f'"$lib":"{LIB_NAME}","$lib_version":"{__version__}"'
TAIL = f",{LIB_MEMBERS}}}}}"
ONLY_LIB_PROPERTIES = f"{{{LIB_MEMBERS}}}}}"

# Event names already checked, as JSON strings. An app uses a few dozen names, so most
# captures find theirs here and skip four checks and the quoting. Bounded: names past
# the limit (an app that puts ids in its event names) are checked every time.
MAX_KNOWN_EVENTS = 1024
_known_events: dict[str, str] = {}


def capture_encoder(encoder: Encoder) -> CaptureForm:
    """encode_capture with its encoder given."""
    bound: CaptureForm = MethodType(encode_capture, encoder)
    return bound


def encode_capture(
    encoder: Encoder,
    distinct_id: object,
    event: object,
    properties: object,
    groups: object,
    timestamp: object,
    message_uuid: object,
) -> tuple[str, bytes]:
    """(uuid, the message's JSON bytes); raises _message.InvalidInput for bad arguments."""
    quote = encoder.quote
    quoted_event = _known_events.get(event) if type(event) is str else None
    if quoted_event is None and quote is not None and _valid_id(event):
        quoted_event = quote(event)
        if len(_known_events) < MAX_KNOWN_EVENTS:
            _known_events[event] = quoted_event
    if (
        quoted_event is not None
        and quote is not None
        and groups is None
        and timestamp is None
        and message_uuid is None
        # _valid_id(distinct_id), written out: a call costs 4 % of a capture.
        and type(distinct_id) is str
        and 0 < len(distinct_id) <= MAX_ID_LENGTH
        and not distinct_id.isspace()
        and (properties is None or type(properties) is dict)
    ):
        props = {} if properties is None else properties
        if "$lib" not in props and "$lib_version" not in props:
            message_id, now = new_ids()
            head = (
                f'{{"type":"capture","uuid":"{message_id}","timestamp":"{now}",'
                f'"event":{quoted_event},"distinct_id":{quote(distinct_id)},'
                '"groups":{},"properties":'
            )
            if props:
                data = encoder.encode_within(head, props, TAIL)
            else:
                data = encoder.utf8(f"{head}{ONLY_LIB_PROPERTIES}")
            if data is not None:
                return message_id, data
    return encode_general(encoder, distinct_id, event, properties, groups, timestamp, message_uuid)


def encode_general(
    encoder: Encoder,
    distinct_id: object,
    event: object,
    properties: object,
    groups: object,
    timestamp: object,
    message_uuid: object,
) -> tuple[str, bytes]:
    """The general way: the message built by _message.capture and encoded whole."""
    message = _message.capture(distinct_id, event, properties, groups, timestamp, message_uuid)
    return message["uuid"], encoder.encode(message)


def _valid_id(value: object) -> TypeGuard[str]:
    """What _message.capture requires of an id or event name, for a plain str."""
    return type(value) is str and 0 < len(value) <= MAX_ID_LENGTH and not value.isspace()
