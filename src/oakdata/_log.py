"""The 'oakdata' logger, set up on first use.

Most processes never log a line from us, and the logging package costs milliseconds at
import, which serverless cold starts pay. The logger gets a NullHandler before its first
record, so an app without logging configuration never sees our warnings on stderr.
"""

from __future__ import annotations

TYPE_CHECKING = False
if TYPE_CHECKING:
    import logging

LOGGER_NAME = "oakdata"

_logger: logging.Logger | None = None


def logger() -> logging.Logger:
    global _logger  # noqa: PLW0603 - created once, on first use
    if _logger is None:
        import logging

        created = logging.getLogger(LOGGER_NAME)
        if not any(isinstance(h, logging.NullHandler) for h in created.handlers):
            created.addHandler(logging.NullHandler())
        _logger = created
    return _logger


def debug(message: str, *args: object) -> None:
    logger().debug(message, *args)


def warning(message: str, *args: object) -> None:
    logger().warning(message, *args)


def error(message: str, *args: object) -> None:
    logger().error(message, *args)


_debug_handler: logging.Handler | None = None


def enable_debug() -> None:
    """debug=True: show our records on stderr, unless the app already routes them."""
    global _debug_handler  # noqa: PLW0603 - one handler per process, however many clients
    import logging

    log = logger()
    log.setLevel(logging.DEBUG)
    routed = any(not isinstance(h, logging.NullHandler) for h in log.handlers)
    if _debug_handler is None and not routed:
        _debug_handler = logging.StreamHandler()
        _debug_handler.setFormatter(
            logging.Formatter("%(asctime)s %(name)s %(levelname)s %(message)s")
        )
        log.addHandler(_debug_handler)


class TypeWarnings:
    """Warns once per type an encoder sent as its repr(); the value itself is never logged."""

    def __init__(self) -> None:
        self._seen: set[str] = set()

    def warn(self, type_name: str) -> None:
        if type_name in self._seen:
            return
        self._seen.add(type_name)
        warning("oakdata sent a value of type %s as its repr(): it has no JSON form", type_name)
