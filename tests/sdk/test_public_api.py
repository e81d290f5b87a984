"""The public surface is what the documentation promises: each module's __all__ is exactly
its documented names, sorted, and each one imports.

DOCUMENTED below is the one list, and each entry names the document section that tells
users about the name, which is checked too: a name added to __all__ without a word in the
docs fails, and so does a section that stops mentioning a name that is still exported.
"""

from __future__ import annotations

import importlib
import re
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

# module -> {public name: (document, section heading)}
DOCUMENTED: dict[str, dict[str, tuple[str, str]]] = {
    "oakdata": {
        "DROP_REASONS": ("README.md", "Capture never throws"),
        "DropReport": ("README.md", "Capture never throws"),
        "AsyncOakClient": ("README.md", "asyncio"),
        "OakClient": ("README.md", "Quick start"),
        "Stats": ("README.md", "Capture never throws"),
        "__version__": ("README.md", "Install"),
        "context": ("README.md", "Request context"),
    },
    "oakdata.testing": {
        "MemoryTransport": ("README.md", "Testing your code"),
        "RecordedRequest": ("README.md", "Testing your code"),
    },
    "oakdata.types": {
        "JSONValue": ("README.md", "Methods"),
        "Properties": ("README.md", "Methods"),
        "PropertyNames": ("README.md", "Methods"),
    },
    "oakdata.serverless": {
        "DEFAULT_MARGIN": ("docs/recipes/aws-lambda.md", "The time budget"),
        "DEFAULT_TIMEOUT": ("docs/recipes/aws-lambda.md", "The time budget"),
        "flush_on_return": ("docs/recipes/aws-lambda.md", "Sync handler"),
        "flushing": ("docs/recipes/aws-lambda.md", "The time budget"),
    },
}

CITATIONS = sorted(
    (module, name, document, section)
    for module, names in DOCUMENTED.items()
    for name, (document, section) in names.items()
)


def _isort_style(name: str) -> tuple[int, str]:
    """The order ruff's RUF022 keeps: CONSTANTS, then Classes, then everything else."""
    if name.isupper():
        return 0, name
    return (1 if name[:1].isupper() else 2), name


def _section(document: str, heading: str) -> str:
    """The text under a Markdown heading, up to the next heading of its level or above.

    Lines in fenced code blocks are text, not headings: README's examples hold comments.
    """
    lines = (ROOT / document).read_text(encoding="utf-8").splitlines()
    found: list[str] = []
    level = 0
    fenced = False
    for line in lines:
        if line.startswith("```"):
            fenced = not fenced
        heading_match = None if fenced else re.match(r"(#+) (.*)", line)
        if heading_match:
            depth = len(heading_match.group(1))
            if level and depth <= level:
                break
            if heading_match.group(2).strip() == heading:
                level = depth
                continue
        if level:
            found.append(line)
    assert level, f"{document} has no section {heading!r}"
    return "\n".join(found)


@pytest.mark.parametrize("module_name", sorted(DOCUMENTED))
def test_all_is_exactly_the_documented_names(module_name: str):
    module = importlib.import_module(module_name)
    assert sorted(module.__all__) == sorted(DOCUMENTED[module_name])


@pytest.mark.parametrize("module_name", sorted(DOCUMENTED))
def test_all_is_sorted(module_name: str):
    exported = importlib.import_module(module_name).__all__
    assert exported == sorted(exported, key=_isort_style)


@pytest.mark.parametrize("module_name", sorted(DOCUMENTED))
def test_every_public_name_imports(module_name: str):
    namespace: dict[str, object] = {}
    exec(f"from {module_name} import *", namespace)  # resolves lazy names too
    missing = set(DOCUMENTED[module_name]) - set(namespace)
    assert not missing


@pytest.mark.parametrize(("module_name", "name", "document", "section"), CITATIONS)
def test_each_public_name_is_in_the_section_that_documents_it(
    module_name: str, name: str, document: str, section: str
):
    text = _section(document, section)
    assert re.search(rf"(?<!\w){re.escape(name)}(?!\w)", text), (
        f"{module_name}.{name} is not mentioned under {section!r} in {document}"
    )
