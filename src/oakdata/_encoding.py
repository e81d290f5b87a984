"""Turning arbitrary Python values into JSON bytes, once, at capture time.

The fast path is orjson when installed, else the json package's C encoder, with a
``default`` hook for the values that have an obvious JSON form. Only when it refuses (NaN,
a reference cycle, a key it cannot use, a lone surrogate) do we walk the value in Python
and repair it, so an ordinary event never pays for the slow path.
"""

from __future__ import annotations

import math
import os
import sys
from collections.abc import Callable, Mapping

TYPE_CHECKING = False
if TYPE_CHECKING:
    from typing import Any

CYCLE_MARKER = "<cycle>"
# Deeper than any sane event; protects the repair walk from recursion limits.
MAX_DEPTH = 64

UnknownTypeHook = Callable[[str], None]


def _ignore_unknown(_type_name: str) -> None:
    return None


class Encoder:
    """Encodes one message to compact UTF-8 JSON bytes; reports each type sent as its repr.

    With ``use_orjson`` and orjson installed (``pip install 'oakdata[speedups]'``), orjson
    encodes first; whatever it refuses (an int beyond 64 bits, a lone surrogate, a cycle,
    a non-str key) takes the standard library's path, so both produce the same JSON values.
    ``quote`` is the json package's C function that writes a str as a JSON string (None
    where there is none): what the capture path writes names with.
    """

    def __init__(
        self, on_unknown_type: UnknownTypeHook = _ignore_unknown, *, use_orjson: bool = True
    ) -> None:
        self._on_unknown_type = on_unknown_type
        self._strict_encoder: Any = None  # the json package's, made on first need
        self._c_encode, self.quote = json_c_encoder(self._default)
        self._orjson_dumps, self._orjson_option = _orjson() if use_orjson else (None, 0)

    @property
    def uses_orjson(self) -> bool:
        return self._orjson_dumps is not None

    def encode(self, message: Mapping[str, Any]) -> bytes:
        if self._orjson_dumps is not None:
            try:
                data: bytes = self._orjson_dumps(message, self._default, self._orjson_option)
                # orjson's bytes keep the 4 KiB buffer they were written into; a queue of
                # them would cost ten times their size. A copy is exact-sized.
                return bytes(memoryview(data))
            except TypeError:  # orjson.JSONEncodeError is a TypeError
                pass
        # UnicodeEncodeError (a ValueError) means a lone surrogate, which is not valid
        # UTF-8 and which the protocol forbids: the repair replaces it.
        try:
            if self._c_encode is not None:
                return "".join(self._c_encode(message, 0)).encode("utf-8")
            return self._strict(message).encode("utf-8")
        except (ValueError, TypeError, RecursionError):
            repaired = self._repair(message, 0, set())
            return self._strict(repaired).encode("utf-8")

    def encode_within(self, head: str, value: dict[Any, Any], tail: bytes) -> bytes | None:
        """head, then value as JSON with its closing brace replaced by tail.

        For a non-empty dict, so that tail can add members (",..."). None if value needs
        the general path's repairs (NaN, a cycle, a lone surrogate, a key orjson refuses);
        the caller then encodes the whole message with encode().
        """
        try:
            if self._orjson_dumps is not None:
                # default and option by position: a little cheaper than as keywords.
                data = self._orjson_dumps(value, self._default, self._orjson_option)
                # A join makes exact-sized bytes: none keep orjson's larger buffer alive.
                return b"".join((head.encode(), data[:-1], tail))
            if self._c_encode is None:
                return None
            text = "".join(self._c_encode(value, 0))
            return f"{head}{text[:-1]}".encode() + tail
        except (ValueError, TypeError, RecursionError):
            return None

    @staticmethod
    def utf8(text: str) -> bytes | None:
        """text as UTF-8; None if it holds a lone surrogate (the general path repairs it)."""
        try:
            return text.encode()
        except UnicodeEncodeError:
            return None

    def _strict(self, value: Any) -> str:
        if self._strict_encoder is None:
            import json  # json (and the re it imports) is not needed by the fast path

            self._strict_encoder = json.JSONEncoder(
                separators=(",", ":"), ensure_ascii=False, allow_nan=False, default=self._default
            )
        text: str = self._strict_encoder.encode(value)
        return text

    def _default(self, value: Any) -> Any:
        try:
            converted = to_json_form(value)
        except Exception:
            converted = _UNKNOWN
        if converted is _UNKNOWN:
            self._on_unknown_type(type(value).__qualname__)
            return _safe_repr(value)
        return converted

    def _repair(self, value: Any, depth: int, active: set[int]) -> Any:
        """A copy of value the strict encoder accepts: no NaN, cycles, odd keys or surrogates."""
        if isinstance(value, float):
            return value if math.isfinite(value) else None
        if isinstance(value, str):
            return _valid_text(value)
        if value is None or isinstance(value, int | bool):
            return value
        if depth >= MAX_DEPTH or id(value) in active:
            return CYCLE_MARKER
        if not isinstance(value, dict | list | tuple):
            return self._repair(self._default(value), depth + 1, active)
        active.add(id(value))
        try:
            if isinstance(value, dict):
                return {_key(k): self._repair(v, depth + 1, active) for k, v in value.items()}
            return [self._repair(v, depth + 1, active) for v in value]
        finally:
            active.discard(id(value))


def _orjson() -> tuple[Callable[..., bytes] | None, int]:
    try:
        import orjson
    except ImportError:
        return None, 0
    # Dates and times go through our default hook, so that both encoders write them alike
    # (orjson would keep a non-UTC offset and trim microseconds differently).
    return orjson.dumps, orjson.OPT_PASSTHROUGH_DATETIME


def json_c_encoder(
    default: Callable[[Any], Any],
) -> tuple[Callable[[Any, int], Any] | None, Callable[[str], str] | None]:
    """The json package's C encoder, built once, and the C function it quotes strings with:
    (encode(value, 0) -> chunks, quote(str) -> JSON string), or (None, None).

    Private CPython API (_json), kept because it is a third of a capture without orjson:
    json.JSONEncoder().encode builds this very encoder again on every call, which costs
    the bench event's properties 2.93 us against 1.63 us built once (Python 3.13; 3.07
    against 1.81 on 3.10). Importing _json rather than json also spares a cold start the
    json package's import of re, about 7 ms. tests/sdk/test_private_apis.py fails if the
    signature or the output changes; an app on such a Python falls back to the public
    JSONEncoder, slower but the same bytes.

    Without markers the encoder skips the cycle bookkeeping (a dict shared by all calls
    would make two threads encoding one dict see a false cycle); a real cycle then ends in
    the RecursionError that sends us down the repair path.
    """
    try:
        from _json import encode_basestring, make_encoder
    except ImportError:  # not CPython
        return None, None
    try:
        encoder: Callable[[Any, int], Any] = make_encoder(
            None, default, encode_basestring, None, ":", ",", False, False, False
        )
    except TypeError:  # a Python whose private signature differs: the test says so
        return None, None
    return encoder, encode_basestring


class _Unknown:
    pass


_UNKNOWN = _Unknown()


def to_json_form(value: Any) -> Any:
    """The JSON-ready form of values with an obvious one, else the _UNKNOWN marker.

    A type's module is looked up in sys.modules rather than imported: a value can only be
    a Decimal if decimal was imported by someone, and importing datetime, decimal, uuid,
    enum and dataclasses ourselves would cost every cold start for values most apps never
    send.
    """
    modules = sys.modules
    datetime_module = modules.get("datetime")
    if datetime_module is not None:
        if isinstance(value, datetime_module.datetime):
            if value.tzinfo is not None:
                value = value.astimezone(datetime_module.timezone.utc)
            return value.isoformat()
        if isinstance(value, datetime_module.date | datetime_module.time):
            return value.isoformat()
    decimal_module = modules.get("decimal")
    if decimal_module is not None and isinstance(value, decimal_module.Decimal):
        return float(value) if value.is_finite() else None
    uuid_module = modules.get("uuid")
    if uuid_module is not None and isinstance(value, uuid_module.UUID):
        return str(value)
    enum_module = modules.get("enum")
    if enum_module is not None and isinstance(value, enum_module.Enum):
        return value.value
    if isinstance(value, set | frozenset):
        return _sorted_if_possible(value)
    if isinstance(value, bytes | bytearray | memoryview):
        return _bytes_form(bytes(value))
    dataclasses_module = modules.get("dataclasses")
    if (
        dataclasses_module is not None
        and dataclasses_module.is_dataclass(value)
        and not isinstance(value, type)
    ):
        return {f.name: getattr(value, f.name) for f in dataclasses_module.fields(value)}
    if isinstance(value, Mapping):
        return dict(value)
    if isinstance(value, os.PathLike):
        return os.fspath(value)
    return _foreign_form(value)


def _foreign_form(value: Any) -> Any:
    # Duck-typed so that neither pydantic nor numpy is ever imported here.
    model_dump = getattr(value, "model_dump", None)
    if callable(model_dump):  # pydantic v2
        return model_dump(mode="json")
    if type(value).__module__.split(".")[0] == "numpy" and callable(getattr(value, "tolist", None)):
        return value.tolist()
    legacy_dict = getattr(value, "dict", None)
    if callable(legacy_dict) and hasattr(value, "__fields__"):  # pydantic v1
        return legacy_dict()
    return _UNKNOWN


def _bytes_form(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        import base64  # only for binary bytes, which few events carry

        return "base64:" + base64.b64encode(data).decode("ascii")


def _sorted_if_possible(items: set[Any] | frozenset[Any]) -> list[Any]:
    try:
        return sorted(items)
    except TypeError:
        return list(items)


def _valid_text(text: str) -> str:
    """text with any lone surrogate replaced, so that it encodes as UTF-8."""
    return text.encode("utf-8", "replace").decode("utf-8")


def _key(key: Any) -> str | int | float | bool | None:
    if isinstance(key, str):
        return _valid_text(key)
    if isinstance(key, float) and not math.isfinite(key):
        return str(key)
    if key is None or isinstance(key, str | int | float | bool):
        return key
    return str(key)


def _safe_repr(value: Any) -> str:
    try:
        return repr(value)
    except Exception:
        return f"<unrepresentable {type(value).__qualname__}>"
