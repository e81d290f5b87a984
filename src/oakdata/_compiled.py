"""The compiled hot path (_speedups.c), where this install has it; else None.

Wheels and source builds with a C compiler include it; everything it does has a pure
Python form that is used without it. OAKDATA_PURE_PYTHON=1 in the environment turns it
off: the tests run the pure form that way, and an app can rule the compiled one out.
"""

from __future__ import annotations

import os

TYPE_CHECKING = False
if TYPE_CHECKING:
    from types import ModuleType

PURE_PYTHON_ENV = "OAKDATA_PURE_PYTHON"
# What the Python side expects of _speedups.c; the C module says which it implements.
API_VERSION = 1


def _load() -> ModuleType | None:
    if os.environ.get(PURE_PYTHON_ENV, "") not in ("", "0"):
        return None
    try:
        from . import _speedups
    except ImportError:  # a pure install: no compiler where it was built, or another Python
        return None
    if getattr(_speedups, "API_VERSION", None) != API_VERSION:
        return None  # built from another version of the source
    # Its state is one per process: a subinterpreter (mod_wsgi's, say) runs the pure form.
    return _speedups if _speedups.in_main_interpreter() else None


speedups = _load()
