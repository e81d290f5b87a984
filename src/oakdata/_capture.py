"""capture()'s message as JSON bytes, written as text around the properties' JSON.

Nearly every capture passes str ids, a dict of properties (or none), and no groups,
timestamp or uuid of its own. For those, building the message dict, copying the
properties to add the library's two, and encoding the envelope field by field cost more
than encoding the properties themselves. Instead the envelope is written as text: the
uuid and timestamp are JSON-safe as made, the names are quoted by the function the json
encoder quotes strings with, and the library's properties take the place of the closing
brace of the properties' JSON.

Anything else, or anything that text cannot carry (NaN, a cycle, a lone surrogate), goes
to encode_built_message: the message built and checked by _message.capture, then encoded
whole with the encoder's repairs. tests/sdk/test_capture_forms.py checks that both give
the same JSON value.
"""

from __future__ import annotations

from . import _message
from ._encoding import Encoder
from ._ids import new_ids
from ._message import LIB_NAME, MAX_ID_LENGTH
from ._version import __version__

TYPE_CHECKING = False
if TYPE_CHECKING:
    from collections.abc import Callable

# Added to every capture's properties (_message.capture sets the same two keys): after
# the properties' own members, or as the only ones. Each also closes the message.
LIB_MEMBERS = f'"$lib":"{LIB_NAME}","$lib_version":"{__version__}"'
AFTER_PROPERTIES = f",{LIB_MEMBERS}}}}}".encode()
ONLY_LIB_PROPERTIES = f"{{{LIB_MEMBERS}}}}}"

# Event names already checked, as JSON strings. An app uses a few dozen names, so most
# captures find theirs here and skip four checks and the quoting. Bounded: names past
# the limit (an app that puts ids in its event names) are checked every time.
MAX_KNOWN_EVENTS = 1024
_known_events: dict[str, str] = {}


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
    if quoted_event is None and quote is not None:
        quoted_event = _checked_event(quote, event)
    if (
        quoted_event is not None
        and quote is not None
        and groups is None
        and timestamp is None
        and message_uuid is None
        # What _message.capture requires of distinct_id, for a plain str: written out here
        # rather than called, as a call would cost 4 % of a capture.
        and type(distinct_id) is str
        and 0 < len(distinct_id) <= MAX_ID_LENGTH
        and not distinct_id.isspace()
        and (
            properties is None
            or (
                type(properties) is dict
                and "$lib" not in properties
                and "$lib_version" not in properties
            )
        )
    ):
        message_id, now = new_ids()
        head = (
            f'{{"type":"capture","uuid":"{message_id}","timestamp":"{now}",'
            f'"event":{quoted_event},"distinct_id":{quote(distinct_id)},'
            '"groups":{},"properties":'
        )
        if properties:
            data = encoder.encode_within(head, properties, AFTER_PROPERTIES)
        else:
            data = encoder.utf8(f"{head}{ONLY_LIB_PROPERTIES}")
        if data is not None:
            return message_id, data
    return encode_built_message(
        encoder, distinct_id, event, properties, groups, timestamp, message_uuid
    )


def encode_built_message(
    encoder: Encoder,
    distinct_id: object,
    event: object,
    properties: object,
    groups: object,
    timestamp: object,
    message_uuid: object,
) -> tuple[str, bytes]:
    """Any capture: the message built and checked by _message.capture, encoded whole."""
    message = _message.capture(distinct_id, event, properties, groups, timestamp, message_uuid)
    return message["uuid"], encoder.encode(message)


def _checked_event(quote: Callable[[str], str], event: object) -> str | None:
    """The event name as a JSON string, remembered; None if _message.capture must judge it
    (not a plain str, or not a valid name)."""
    if type(event) is not str or not 0 < len(event) <= MAX_ID_LENGTH or event.isspace():
        return None
    quoted = quote(event)
    if len(_known_events) < MAX_KNOWN_EVENTS:
        _known_events[event] = quoted
    return quoted
