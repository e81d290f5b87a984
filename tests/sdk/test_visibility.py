"""Losing events is never silent: an app that configured no logging hears of it on stderr.

Each test runs a fresh interpreter, because in-process the test runner's own log capture is
a configured handler, and the point is what happens when there is none.
"""

from __future__ import annotations

import textwrap

from httpbed import HttpBed, Reply

from ._support import SECRET_KEY, run_python

KEY_BODY = SECRET_KEY.removeprefix("oak_sec_")
PROPERTY_MARKER = "PropValue-Never-On-Stderr-5521"

# argv: client class name, host, then the script's own arguments. The client flushes and
# shuts down with either class, so each test below runs against both.
PRELUDE = f"""
import asyncio, logging, sys
import oakdata

def run(body):
    if sys.argv[1] == "AsyncOakClient":
        async def main():
            oak = oakdata.AsyncOakClient(**OPTIONS)
            body(oak)
            await oak.shutdown(timeout=5)
        asyncio.run(main())
    else:
        oak = oakdata.OakClient(**OPTIONS)
        body(oak)
        oak.shutdown(timeout=5)

OPTIONS = dict(secret_key={SECRET_KEY!r}, host=sys.argv[2], flush_interval=0, max_retries=1,
               retry_initial_delay=0.01)
"""


ONE_CAPTURE = """
def body(oak):
    oak.capture("user", "signed_up")
run(body)
"""


def _run(body: str, client_class_name: str, host: str) -> tuple[str, str]:
    script = PRELUDE + textwrap.dedent(body)
    done = run_python(script, client_class_name, host)
    assert done.returncode == 0, done.stderr
    return done.stdout, done.stderr


def _oakdata_lines(stderr: str) -> list[str]:
    return [line for line in stderr.splitlines() if "oakdata" in line]


def test_a_rejected_key_is_one_stderr_line_naming_the_status_and_the_host(
    bed: HttpBed, client_class
):
    bed.responder = lambda request: Reply(401)
    _, err = _run(
        f"""
        def body(oak):
            for i in range(50):
                oak.capture("user", "signed_up", {{"p": "{PROPERTY_MARKER}"}})
        run(body)
        """,
        client_class.__name__,
        bed.url,
    )
    # The first drop in full; the rest summed up in one line at shutdown.
    first, *rest = _oakdata_lines(err)
    assert "401" in first
    assert bed.url in first
    assert "client_error" in first
    assert len(rest) <= 1, err
    assert KEY_BODY not in err
    assert PROPERTY_MARKER not in err


def test_an_unreachable_server_names_the_host_in_the_drop_warning(client_class):
    _, err = _run(
        ONE_CAPTURE,
        client_class.__name__,
        "http://127.0.0.1:9",  # the discard port: nothing listens there
    )
    [line] = _oakdata_lines(err)
    assert "retries_exhausted" in line
    assert "http://127.0.0.1:9" in line
    assert "connection refused" in line


def test_an_unresolvable_host_is_named_as_such(client_class):
    _, err = _run(
        ONE_CAPTURE,
        client_class.__name__,
        "http://no-such-host.invalid",  # .invalid never resolves (RFC 2606)
    )
    [line] = _oakdata_lines(err)
    assert "could not resolve the host name" in line
    assert "no-such-host.invalid" in line


def test_the_first_drop_of_each_reason_reaches_stderr_and_repeats_do_not(
    bed: HttpBed, client_class
):
    _, err = _run(
        """
        def body(oak):
            for i in range(1000):
                oak.capture("", "no_id")            # invalid_input, a thousand times
            oak.capture("user", "big", {"blob": "x" * 300_000})  # too_large, once
        run(body)
        """,
        client_class.__name__,
        bed.url,
    )
    lines = _oakdata_lines(err)
    # Each reason's first drop in full, then at most one summary line for the repeats.
    assert len(lines) <= 3, err
    assert sum("invalid_input" in line for line in lines) in (1, 2)
    assert "too_large" in lines[1], err
    assert "since the last report" in lines[-1] if len(lines) == 3 else True


def test_an_app_that_configures_logging_gets_each_record_once_and_in_its_own_format(
    bed: HttpBed, client_class
):
    _, err = _run(
        """
        logging.basicConfig(format="APP %(levelname)s %(name)s: %(message)s")
        OPTIONS["debug"] = True
        def body(oak):
            oak.capture("", "no_id")
            oak.capture("user", "signed_up")
        run(body)
        """,
        client_class.__name__,
        bed.url,
    )
    lines = _oakdata_lines(err)
    assert lines, err
    assert all(line.startswith("APP ") for line in lines), err
    assert sum("dropped 1 event (invalid_input)" in line for line in lines) == 1, err
    assert len(lines) == len(set(lines)), err


def test_debug_without_logging_configured_prints_each_record_once(bed: HttpBed, client_class):
    _, err = _run(
        """
        OPTIONS["debug"] = True
        def body(oak):
            oak.capture("user", "signed_up")
        run(body)
        """,
        client_class.__name__,
        bed.url,
    )
    lines = _oakdata_lines(err)
    assert any("sending to " + bed.url in line for line in lines), err
    assert any("queued capture 'signed_up'" in line for line in lines), err
    assert len(lines) == len(set(lines)), err


def test_a_documented_setting_silences_the_warnings(bed: HttpBed, client_class):
    bed.responder = lambda request: Reply(401)
    _, err = _run(
        """
        logging.getLogger("oakdata").setLevel(logging.CRITICAL)
        def body(oak):
            oak.capture("", "no_id")
            oak.capture("user", "signed_up")
        run(body)
        """,
        client_class.__name__,
        bed.url,
    )
    assert _oakdata_lines(err) == [], err
