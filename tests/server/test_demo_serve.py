"""`scripts/demo --serve`: the server, its console and an example site stay up until Ctrl-C."""

from __future__ import annotations

import re
import signal
import subprocess
import sys

import httpx
import pytest


def test_the_demo_leaves_the_console_and_an_example_site_running_until_interrupted() -> None:
    pytest.importorskip("oakdata", reason="the SDK is not importable")
    process = subprocess.Popen(
        [sys.executable, "-u", "-m", "oakdata_server.demo", "--serve"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        printed = ""
        for line in process.stdout:  # each line as it comes; the process waits after the last
            printed += line
            if "Ctrl-C stops both" in line:
                break
        console = re.search(r"The console: +(\S+) +\(admin token: (\S+)\)", printed)
        site = re.search(r"An example site: +(\S+)", printed)
        assert console is not None, printed
        assert site is not None, printed
        page = httpx.get(site.group(1), timeout=10.0)
        assert f"{console.group(1)}static/oak.js" in page.text
        signed_in = httpx.post(
            f"{console.group(1)}sign-in", data={"token": console.group(2)}, timeout=10.0
        )
        assert signed_in.status_code == 303
    finally:
        process.send_signal(signal.SIGINT)
        stdout, stderr = process.communicate(timeout=30)
    assert process.returncode == 0, stderr
    assert "Server stopped." in stdout
