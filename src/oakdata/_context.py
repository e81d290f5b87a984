"""oakdata.context: a distinct id and properties that every capture inside it carries.

Built on one ContextVar, so it follows what contextvars follow: asyncio tasks (each
copies the context it was created in), loop.run_in_executor, and threads started with
contextvars.copy_context().run. A plain threading.Thread starts empty (before 3.14).

The variable holds an immutable Frame: the merged view of every context entered, so that a
capture reads one variable and never walks a stack. Frames are never changed once made, and
their properties dict is never handed to code that writes to it, which is what lets a
capture inside a context share it instead of copying it.
"""

from __future__ import annotations

from collections.abc import Mapping
from contextvars import ContextVar
from types import TracebackType

TYPE_CHECKING = False  # typing costs milliseconds to import; only type checkers need it
if TYPE_CHECKING:
    from collections.abc import Callable
    from contextvars import Token
    from typing import Any, ParamSpec, TypeVar

    P = ParamSpec("P")
    R = TypeVar("R")


class Frame:
    """What the innermost context says: its id (or an outer one's) and the merged properties."""

    __slots__ = ("distinct_id", "properties")

    def __init__(self, distinct_id: str | int | None, properties: dict[Any, Any]) -> None:
        self.distinct_id = distinct_id
        self.properties = properties

    def apply(self, distinct_id: Any, properties: Any) -> tuple[Any, Any]:
        """A capture's (distinct_id, properties) with this context under them.

        Never raises: capture() calls it outside its own guard. What it cannot merge (not a
        mapping) is returned as it is, for capture's validation to drop and count.
        """
        if distinct_id is None:
            distinct_id = self.distinct_id
        return distinct_id, merged_under(self.properties, properties)


def merged_under(base: dict[Any, Any], properties: Any) -> Any:
    """properties with base's entries under them (properties' values win): for a context's
    properties, and for the client's super properties. Never raises; what it cannot merge
    (not a mapping) is returned as it is, for capture's validation to drop and count."""
    if not base:
        return properties
    if properties is None:
        return base
    if type(properties) is dict:
        return {**base, **properties}
    if isinstance(properties, Mapping):
        try:
            return {**base, **properties}
        except Exception:  # a Mapping of the app's own that fails to iterate
            return properties
    return properties


# None, not an empty Frame, when no context is open: the cheapest test on capture's path.
CURRENT: ContextVar[Frame | None] = ContextVar("oakdata.context", default=None)

# capture() calls this bound C method directly: a Python-level call would cost more.
current_frame = CURRENT.get


class context:  # lower case: used like a function, `with context(...)`, `@context(...)`
    """Tag every capture inside with a distinct id and properties.

    ``with context(distinct_id="user_42", properties={"request_id": "r-17"}):`` or, as a
    decorator of a plain or an async function, ``@context(properties={"job": "nightly"})``
    (a fresh context for each call). Inside, ``capture(event=...)`` may omit the id; an
    explicit id wins over the context's. The context's properties go under each capture's
    own (the capture's value wins). Contexts nest: an inner id replaces the outer one (None
    keeps it), inner properties merge over the outer ones.

    The properties are copied when the context is entered: changing the dict afterwards
    changes nothing.
    """

    __slots__ = ("_distinct_id", "_entered", "_properties")

    def __init__(
        self,
        distinct_id: str | int | None = None,
        properties: Mapping[str, Any] | None = None,
    ) -> None:
        if properties is not None and not isinstance(properties, Mapping):
            raise TypeError(f"properties must be a mapping, not {type(properties).__name__}")
        self._distinct_id = distinct_id
        self._properties = properties
        # (token, the frame it replaced) per entry: a context object may be entered again
        # while it is open (recursion), and each exit restores what its own entry replaced.
        self._entered: list[tuple[Token[Frame | None], Frame | None]] = []

    def __repr__(self) -> str:
        # Never the values: ids and properties may be personal data, and reprs reach logs.
        keys = sorted(map(str, self._properties or ()))
        has_id = self._distinct_id is not None
        return f"<oakdata.context distinct_id={'set' if has_id else 'unset'} properties={keys}>"

    def __enter__(self) -> context:
        outer = CURRENT.get()
        if outer is None:
            frame = Frame(self._distinct_id, dict(self._properties or {}))
        else:
            distinct_id = outer.distinct_id if self._distinct_id is None else self._distinct_id
            properties = outer.properties
            if self._properties:
                properties = {**properties, **self._properties}
            frame = Frame(distinct_id, properties)
        self._entered.append((CURRENT.set(frame), outer))
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        token, outer = self._entered.pop()
        try:
            CURRENT.reset(token)
        except ValueError:
            # Left in another context than it was entered in (a framework that runs a
            # request's teardown in a copied context): restore what this entry replaced.
            CURRENT.set(outer)

    def __call__(self, func: Callable[P, R]) -> Callable[P, R]:
        """As a decorator: each call of func runs in a fresh context of these arguments."""
        import functools
        import inspect  # at decoration time only; inspect is slow to import

        distinct_id, properties = self._distinct_id, self._properties
        if inspect.iscoroutinefunction(func):

            @functools.wraps(func)
            async def run_async(*args: Any, **kwargs: Any) -> Any:
                with context(distinct_id, properties):
                    return await func(*args, **kwargs)

            wrapped: Callable[P, R] = run_async  # type: ignore[assignment]
            return wrapped

        @functools.wraps(func)
        def run(*args: P.args, **kwargs: P.kwargs) -> R:
            with context(distinct_id, properties):
                return func(*args, **kwargs)

        return run


def current() -> tuple[str | int | None, dict[str, Any]]:
    """The distinct id and properties of the innermost open context (a copy), for code that
    carries a context elsewhere (the Celery integration puts it in task headers)."""
    frame = CURRENT.get()
    if frame is None:
        return None, {}
    return frame.distinct_id, dict(frame.properties)
