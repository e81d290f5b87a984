"""A careless operator gets one-line errors and no surprise databases."""

from __future__ import annotations

import os
import subprocess
from pathlib import Path

from .test_cli import CLI


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OAK_SERVER_")}
    return subprocess.run(
        [*CLI, *args], capture_output=True, text=True, timeout=60, check=False, cwd=cwd, env=env
    )


def _one_line_error(result: subprocess.CompletedProcess[str]) -> str:
    assert result.returncode in (1, 2), result
    assert "Traceback" not in result.stderr
    lines = [line for line in result.stderr.splitlines() if line.startswith("oakdata")]
    assert len(lines) == 1, result.stderr
    return lines[0]


def test_commands_that_only_read_never_create_a_database(tmp_path: Path) -> None:
    for args in (["keys", "list"], ["keys", "create"], ["timeline", "someone"]):
        line = _one_line_error(_run(*args, cwd=tmp_path))
        assert "oakdata.db" in line
        assert "--init" in line
    assert list(tmp_path.iterdir()) == []


def test_keys_create_init_creates_and_names_the_file(tmp_path: Path) -> None:
    created = _run("keys", "create", "--init", cwd=tmp_path)
    assert created.returncode == 0, created.stderr
    assert "oakdata.db" in created.stderr
    listed = _run("keys", "list", cwd=tmp_path)
    assert listed.returncode == 0
    assert "oakdata.db" in listed.stderr


def test_a_database_in_a_missing_directory_is_a_one_line_error(tmp_path: Path) -> None:
    line = _one_line_error(
        _run("keys", "create", "--init", "--db", "/nonexistent/x.db", cwd=tmp_path)
    )
    assert "/nonexistent/x.db" in line
    line = _one_line_error(_run("serve", "--db", "/nonexistent/x.db", cwd=tmp_path))
    assert "/nonexistent/x.db" in line


def test_a_port_out_of_range_is_a_one_line_error(tmp_path: Path) -> None:
    result = _run("serve", "--port", "99999", cwd=tmp_path)
    assert result.returncode == 2
    assert "Traceback" not in result.stderr
    assert "99999" in result.stderr.splitlines()[-1]
    assert list(tmp_path.iterdir()) == []


def test_version_is_printed(tmp_path: Path) -> None:
    result = _run("--version", cwd=tmp_path)
    assert result.returncode == 0
    assert result.stdout.startswith("oakdata ")


def test_a_wildcard_origin_is_refused_at_creation(tmp_path: Path) -> None:
    result = _run(
        "keys", "create", "--init", "--public", "--origin", "https://*.example.com", cwd=tmp_path
    )
    assert "wildcards are not supported" in _one_line_error(result)
