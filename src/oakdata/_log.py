"""The 'oakdata' logger: heard by default, and entirely the app's once it configures logging.

A user whose events are being lost must hear about it without turning anything on, so the
logger gets no handler of ours, not even a NullHandler. That is the standard library's own
arrangement for libraries: with no handler anywhere (the app configured no logging),
``logging.lastResort`` writes WARNING and above to stderr, one line each, message only; as
soon as the app configures logging (a root handler, or one on "oakdata"), records go where
the app says and nothing of ours prints. Our warnings are rare by construction: the first
drop of each reason, then one summary a minute (see _stats). To silence them:
``logging.getLogger("oakdata").setLevel(logging.CRITICAL)``.

The logging package costs milliseconds at import, which serverless cold starts pay: it is
imported on the first record, not with oakdata.
"""

from __future__ import annotations

import sys

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging

LOGGER_NAME = "oakdata"

_logger: logging.Logger | None = None


def logger() -> logging.Logger:
    global _logger  # noqa: PLW0603 - looked up once, on first use
    if _logger is None:
        import logging

        _logger = logging.getLogger(LOGGER_NAME)
    return _logger


def debug(message: str, *args: object) -> None:
    logger().debug(message, *args)


def warning(message: str, *args: object) -> None:
    logger().warning(message, *args)


def error(message: str, *args: object) -> None:
    logger().error(message, *args)


_debug_handler: logging.Handler | None = None


def enable_debug() -> None:
    """debug=True: our DEBUG records too, on stderr unless the app routes them itself."""
    global _debug_handler  # noqa: PLW0603 - one handler per process, however many clients
    import logging

    log = logger()
    log.setLevel(logging.DEBUG)
    if _debug_handler is None:
        _debug_handler = _make_debug_handler()
        _debug_handler.setFormatter(
            logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
        )
        log.addHandler(_debug_handler)


def _make_debug_handler() -> logging.Handler:
    import logging

    class DebugHandler(logging.Handler):
        """Writes to stderr only while no other handler would show the record.

        Decided per record, not when debug=True is set: an app may configure logging after
        making its client, and a record printed by both this and the app's root handler
        would appear twice.
        """

        def emit(self, record: logging.LogRecord) -> None:
            log = logger()
            if any(h is not self for h in log.handlers):
                return
            if log.propagate and logging.getLogger().handlers:
                return
            try:
                # sys.stderr looked up now: tests and apps replace it.
                sys.stderr.write(self.format(record) + "\n")
            except Exception:
                self.handleError(record)

    return DebugHandler()


class TypeWarnings:
    """Warns once per type an encoder sent as its repr(); the value itself is never logged."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def warn(self, type_name: str) -> None:
        if type_name in self._seen:
            return
        self._seen.add(type_name)
        warning("oakdata sent a value of type %s as its repr(): it has no JSON form", type_name)
