"""Turning queued message bytes into request bodies, bounded by count and by size."""

from __future__ import annotations

from collections import deque
from collections.abc import Sequence
from itertools import islice

MAX_MESSAGE_BYTES = 256 * 1024
MAX_REQUEST_BYTES = 1024 * 1024
MAX_BATCH_MESSAGES = 1000

_BODY_START = b'{"batch":['
_BODY_MIDDLE = b'],"sent_at":"'
_BODY_END = b'"}'
# The envelope around the messages, with a 27-character RFC 3339 timestamp.
ENVELOPE_BYTES = len(_BODY_START) + len(_BODY_MIDDLE) + 27 + len(_BODY_END)


def take_batch(queue: deque[bytes]) -> list[bytes]:
    """Pop the oldest messages that fit in one request; always at least one if any wait.

    A message is never larger than MAX_MESSAGE_BYTES, so one always fits.
    """
    count = min(len(queue), MAX_BATCH_MESSAGES)
    # The common case, measured in C: the next count messages fit (a comma each).
    if ENVELOPE_BYTES + count + sum(map(len, islice(queue, count))) <= MAX_REQUEST_BYTES:
        if count == len(queue):
            everything = list(queue)
            queue.clear()
            return everything
        pop = queue.popleft
        return [pop() for _ in range(count)]
    batch: list[bytes] = []
    size = ENVELOPE_BYTES
    while queue and len(batch) < MAX_BATCH_MESSAGES:
        # +1 for the comma that joins it to the previous message.
        item_size = len(queue[0]) + 1
        if batch and size + item_size > MAX_REQUEST_BYTES:
            break
        batch.append(queue.popleft())
        size += item_size
    return batch


def build_body(messages: Sequence[bytes], sent_at: str) -> bytes:
    """The request body, assembled from bytes encoded at capture: nothing is serialized twice.

    One join writes the whole body: the envelope's start and end are joined to the first
    and last message (a few hundred bytes each) rather than around the joined batch, which
    would copy the whole megabyte-sized body a second time.
    """
    end = b"".join((_BODY_MIDDLE, sent_at.encode("ascii"), _BODY_END))
    if len(messages) < 2:
        return b"".join((_BODY_START, *messages, end))
    return b",".join([_BODY_START + messages[0], *messages[1:-1], messages[-1] + end])
