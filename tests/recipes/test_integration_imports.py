"""Each integration imports its own framework and no other; `import oakdata` imports none."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

FRAMEWORKS = ("celery", "django", "fastapi", "flask", "kombu", "starlette", "werkzeug")

PROBE = """
import json, sys
import {module}
loaded = sorted(name for name in {frameworks!r} if name in sys.modules)
print(json.dumps([loaded, sorted(m for m in sys.modules if m.startswith("oakdata.integrations."))]))
"""


def _probe(module: str) -> tuple[set[str], set[str]]:
    """(the frameworks, the oakdata integrations) importing module loads, in a fresh Python."""
    probe = PROBE.format(module=module, frameworks=FRAMEWORKS)
    result = subprocess.run(
        [sys.executable, "-c", probe], capture_output=True, text=True, timeout=60, check=True
    )
    frameworks, integrations = json.loads(result.stdout)
    return set(frameworks), set(integrations) - {"oakdata.integrations._request"}


@pytest.mark.parametrize(
    ("module", "framework"),
    [
        ("oakdata", None),
        ("oakdata.integrations", None),
        ("oakdata.integrations.asgi", None),
        ("oakdata.integrations.django", "django.conf"),
        ("oakdata.integrations.flask", "flask"),
        # kombu imports Django's Promise when Django is installed: that import is kombu's
        ("oakdata.integrations.celery", "celery.signals"),
    ],
)
def test_importing_an_integration_imports_only_its_own_framework(
    module: str, framework: str | None
) -> None:
    frameworks, integrations = _probe(module)

    expected = _probe(framework)[0] if framework else set()
    assert frameworks == expected
    assert integrations == ({module} if module.count(".") == 2 else set())
