"""before_send: the app's last word on each message, at capture time, on the caller's thread.

It sees the message as a plain dict, the same one that would be encoded, and returns it
(changed or not) or None to drop it. Run at capture time, not at send time, so that what
it removes (personal data, say) never reaches the queue, the spool or a log, and so that
the snapshot rule holds: what is sent is fixed when capture() returns.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping

from . import _stats

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

    BeforeSend = Callable[[dict[str, Any]], Mapping[str, Any] | None]


class HookDropped(Exception):
    """The hook dropped the message, or failed; reason is the stats() reason to count."""

    def __init__(self, reason: str, detail: str) -> None:
        super().__init__(detail)
        self.reason = reason
        self.detail = detail


def apply_before_send(hook: BeforeSend, message: dict[str, Any]) -> dict[str, Any]:
    """The message as the hook left it; raises HookDropped when it is not to be sent."""
    kind = message["type"]
    try:
        result = hook(message)
    except Exception as exc:
        # Dropped, never sent as it was: a scrubbing hook that fails must not leak what it
        # was meant to remove. The type only: the exception's text may quote the message.
        raise HookDropped(
            _stats.BEFORE_SEND_FAILED, f"{kind}: before_send raised {type(exc).__name__}"
        ) from None
    if result is None:
        raise HookDropped(_stats.BEFORE_SEND, f"{kind}: before_send returned None")
    if not isinstance(result, Mapping):
        raise HookDropped(
            _stats.BEFORE_SEND_FAILED,
            f"{kind}: before_send returned a {type(result).__name__}, not the message",
        )
    changed = dict(result)
    if changed.get("type") != kind or not isinstance(changed.get("uuid"), str):
        raise HookDropped(
            _stats.BEFORE_SEND_FAILED, f"{kind}: before_send changed the message's type or uuid"
        )
    return changed
