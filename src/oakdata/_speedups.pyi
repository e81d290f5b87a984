# Types of the compiled module, _speedups.c.
from collections.abc import Callable, Mapping
from typing import Any

API_VERSION: int

def configure_ids(
    clock: Callable[[], int],
    random_tail: Callable[[], str],
    utc_second: Callable[[int], str],
    /,
) -> None: ...
def new_ids() -> tuple[str, str]: ...
def reseed() -> None: ...
def in_main_interpreter() -> bool: ...

class CaptureEncoder:
    def __init__(
        self,
        general: Callable[[object, object, object, object, object, object], tuple[str, bytes]],
        dumps: Callable[..., bytes] | None,
        default: Callable[[Any], Any],
        option: int,
        chunks: Callable[[Any, int], Any] | None,
        tail: bytes,
        only_lib: bytes,
        max_id_length: int,
        max_known_events: int,
    ) -> None: ...
    def encode(
        self,
        distinct_id: object,
        event: object,
        properties: object,
        groups: object,
        timestamp: object,
        message_uuid: object,
        /,
    ) -> tuple[str, bytes]: ...
    @property
    def known_events(self) -> Mapping[str, bytes]: ...
