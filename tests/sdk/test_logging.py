"""Quiet by default, and never the secret key or a property value in a log line."""

from __future__ import annotations

import logging
import textwrap

import pytest

from httpbed import CloseWithoutReply, HttpBed, PartialReply, Reply, ResetConnection

from ._support import SECRET_KEY, WAIT_SECONDS, run_python, sdk_client

PROPERTY_MARKER = "PropValue-Should-Never-Be-Logged-7731"
KEY_BODY = SECRET_KEY.removeprefix("oak_sec_")


class Opaque:
    """Not JSON, no obvious form: it is sent as its repr, and the repr must not be logged."""

    def __repr__(self) -> str:
        return f"Opaque({PROPERTY_MARKER})"


def _render(record: logging.LogRecord) -> str:
    """Everything a handler could write for this record: message, args, traceback, stack."""
    formatter = logging.Formatter("%(name)s %(levelname)s %(message)s")
    parts = [formatter.format(record), repr(record.args), repr(record.msg)]
    if record.exc_info and record.exc_info[1] is not None:
        parts.append(repr(record.exc_info[1]))
    return "\n".join(parts)


def _full_run_with_errors(bed: HttpBed, make_client) -> None:
    bed.script(
        Reply(401),
        Reply(500),
        CloseWithoutReply(),
        ResetConnection(),
        PartialReply(503),
        Reply(413),
        Reply(
            200,
            body={
                "accepted": 0,
                "duplicates": 0,
                "rejected": [{"index": 0, "reason": "properties: bad"}],
            },
        ),
        Reply(429, headers={"Retry-After": "0"}),
        Reply(422),
    )
    oak = make_client(debug=True, max_retries=3)
    for round_ in range(8):
        oak.capture("user", "event", {"secret_prop": PROPERTY_MARKER, "round": round_})
        oak.identify("user", {"email": PROPERTY_MARKER})
        oak.group_identify("company", "acme", {"name": PROPERTY_MARKER})
        oak.capture("user", "opaque", {"thing": Opaque()})
        oak.flush(timeout=WAIT_SECONDS)
    oak.capture("", "invalid", {"p": PROPERTY_MARKER})
    oak.capture("user", "too-big", {"p": PROPERTY_MARKER * 40000})
    oak.capture("user", "e", ["not", PROPERTY_MARKER])
    oak.shutdown(timeout=WAIT_SECONDS)
    oak.capture("user", "after", {"p": PROPERTY_MARKER})


def test_no_log_record_at_any_level_contains_the_secret_key_or_a_property_value(
    bed: HttpBed, make_client, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG)
    _full_run_with_errors(bed, make_client)
    records = [r for r in caplog.records if r.name.startswith("oakdata")]
    assert records, "debug=True through errors should have logged something"
    assert {r.levelno for r in records} >= {logging.DEBUG, logging.WARNING, logging.ERROR}
    for record in records:
        text = _render(record)
        assert SECRET_KEY not in text
        assert KEY_BODY not in text
        assert PROPERTY_MARKER not in text, text


def test_debug_output_on_stderr_never_contains_the_secret_key_or_property_values(
    bed: HttpBed, make_client, capfd: pytest.CaptureFixture[str]
):
    _full_run_with_errors(bed, make_client)
    out, err = capfd.readouterr()
    assert KEY_BODY not in out + err
    assert PROPERTY_MARKER not in out + err


def test_the_oakdata_logger_gets_no_handler_of_ours_by_default(client_class):
    script = textwrap.dedent(
        """
        import asyncio, inspect, logging, sys
        import oakdata
        oak = getattr(oakdata, sys.argv[1])("oak_sec_abc", host="http://127.0.0.1:9",
                                            flush_interval=0)
        oak.capture("", "invalid")  # a drop warning, with no handler to print it
        logger = logging.getLogger("oakdata")
        print([type(h).__name__ for h in logger.handlers])
        print(len(logging.getLogger().handlers))
        done = oak.shutdown(timeout=0.1)
        if inspect.isawaitable(done):
            asyncio.run(done)
        """
    )
    done = run_python(script, client_class.__name__)
    assert done.returncode == 0, done.stderr
    handlers, root_handlers = done.stdout.splitlines()
    # None at all: with nothing configured, logging.lastResort prints our warnings, and
    # any configuration of the app's takes over (see _log).
    assert handlers == "[]"
    assert root_handlers == "0"


def test_repeated_drop_warnings_are_summarized_not_one_per_event(
    make_client, caplog: pytest.LogCaptureFixture
):
    caplog.set_level(logging.DEBUG, logger="oakdata")
    oak = make_client()
    for _ in range(200):
        oak.capture("", "invalid")
    warnings = [
        r for r in caplog.records if r.name.startswith("oakdata") and r.levelno >= logging.WARNING
    ]
    assert 1 <= len(warnings) <= 3, [r.getMessage() for r in warnings]
    assert oak.stats().dropped["invalid_input"] == 200


def test_a_drop_warning_names_the_reason(make_client, caplog: pytest.LogCaptureFixture):
    caplog.set_level(logging.WARNING, logger="oakdata")
    oak = make_client()
    oak.capture("u", "big", {"blob": "x" * (300 * 1024)})
    messages = [r.getMessage() for r in caplog.records if r.name.startswith("oakdata")]
    assert any("too_large" in m or "too large" in m for m in messages), messages


def test_repr_of_the_client_and_its_stats_never_show_the_secret_key(make_client):
    oak = make_client(debug=True)
    oak.capture("u", "e")
    assert KEY_BODY not in repr(oak)
    assert KEY_BODY not in repr(oak.stats())
    client = sdk_client(oak)
    assert KEY_BODY not in repr(vars(client)) if hasattr(client, "__dict__") else True
