"""Each constructor option, each construction error, and the environment fallbacks."""

from __future__ import annotations

import gzip
import inspect
import json
from pathlib import Path

import pytest

from httpbed import HttpBed, Reply
from oakdata import AsyncOakClient, OakClient
from oakdata._batching import build_body
from oakdata._compression import MIN_GZIP_BYTES
from oakdata._config import MIN_SPOOL_MAX_BYTES, OPTION_NAMES, Config

from ._support import SECRET_KEY, WAIT_SECONDS, sdk_client

PUBLIC_KEY = "oak_pub_Vis1bleButNotForServers_1234"


def test_construction_without_a_key_raises_value_error(new_client):
    with pytest.raises(ValueError, match=r"(?i)key"):
        new_client()


def test_construction_with_an_empty_key_raises_value_error(new_client):
    with pytest.raises(ValueError, match=r"(?i)key"):
        new_client("")


def test_construction_with_a_public_key_raises_value_error_without_echoing_it(new_client):
    with pytest.raises(ValueError, match=r"(?i)public") as excinfo:
        new_client(PUBLIC_KEY)
    assert PUBLIC_KEY not in str(excinfo.value)
    assert "Vis1bleButNotForServers" not in repr(excinfo.value)


@pytest.mark.parametrize("flush_at", [0, -1])
def test_flush_at_below_one_raises_value_error(bed: HttpBed, flush_at: int, new_client):
    with pytest.raises(ValueError, match="flush_at"):
        new_client(SECRET_KEY, host=bed.url, flush_at=flush_at)


@pytest.mark.parametrize("option", ["flush_interval", "request_timeout", "retry_initial_delay"])
def test_a_negative_duration_raises_value_error(bed: HttpBed, option: str, new_client):
    with pytest.raises(ValueError, match=option):
        new_client(SECRET_KEY, host=bed.url, **{option: -1.0})


@pytest.mark.parametrize(
    "host", ["ftp://example.com", "example.com", "", "http://", "localhost:8000"]
)
def test_a_host_that_is_not_an_http_url_raises_value_error(host: str, new_client):
    with pytest.raises(ValueError, match="host") as excinfo:
        new_client(SECRET_KEY, host=host)
    assert SECRET_KEY not in str(excinfo.value)


def test_construction_errors_never_contain_the_secret_key(new_client):
    for options in ({"flush_at": 0}, {"flush_interval": -1}, {"host": "nope"}, {"max_retries": -1}):
        with pytest.raises(ValueError, match=r".") as excinfo:
            new_client(SECRET_KEY, **options)
        assert SECRET_KEY not in str(excinfo.value)
        assert SECRET_KEY not in repr(excinfo.value)


def test_repr_of_a_client_does_not_contain_the_secret_key(bed: HttpBed, make_client):
    oak = make_client()
    assert SECRET_KEY not in repr(oak)
    assert SECRET_KEY not in str(oak)
    assert "T0pS3cretValue" not in repr(oak)


def test_the_secret_key_falls_back_to_oak_secret_key(bed: HttpBed, monkeypatch, new_client):
    monkeypatch.setenv("OAK_SECRET_KEY", SECRET_KEY)
    with new_client(host=bed.url, flush_interval=0) as oak:
        oak.capture("u", "e")
    (request,) = bed.requests
    assert request.header("Authorization") == f"Bearer {SECRET_KEY}"


def test_the_host_falls_back_to_oak_host(bed: HttpBed, monkeypatch, new_client):
    monkeypatch.setenv("OAK_HOST", bed.url)
    with new_client(SECRET_KEY, flush_interval=0) as oak:
        uuid = oak.capture("u", "e")
    assert bed.uuids() == [uuid]


def test_explicit_arguments_win_over_the_environment(
    bed: HttpBed, refused_url, monkeypatch, new_client
):
    monkeypatch.setenv("OAK_HOST", refused_url)
    monkeypatch.setenv("OAK_SECRET_KEY", "oak_sec_from_the_environment")
    with new_client(SECRET_KEY, host=bed.url, flush_interval=0) as oak:
        oak.capture("u", "e")
    (request,) = bed.requests
    assert request.header("Authorization") == f"Bearer {SECRET_KEY}"


def test_a_public_key_in_the_environment_is_refused(monkeypatch, new_client):
    monkeypatch.setenv("OAK_SECRET_KEY", PUBLIC_KEY)
    with pytest.raises(ValueError, match=r"(?i)public") as excinfo:
        new_client()
    assert PUBLIC_KEY not in str(excinfo.value)


def test_a_trailing_slash_on_the_host_does_not_double_the_slash(bed: HttpBed, new_client):
    with new_client(SECRET_KEY, host=bed.url + "/", flush_interval=0) as oak:
        oak.capture("u", "e")
    assert [r.path for r in bed.requests] == ["/api/oak/ingest"]


def test_ingest_path_changes_the_path_posted_to(bed: HttpBed, make_client):
    oak = make_client(ingest_path="/proxy/oak/in")
    oak.capture("u", "e")
    assert oak.flush(timeout=WAIT_SECONDS) is True
    assert [(r.method, r.path) for r in bed.requests] == [("POST", "/proxy/oak/in")]


def test_gzip_is_on_by_default(bed: HttpBed, make_client):
    oak = make_client()
    oak.capture("u", "e", {"text": "x" * MIN_GZIP_BYTES})
    oak.flush(timeout=WAIT_SECONDS)
    (request,) = bed.requests
    assert request.header("Content-Encoding") == "gzip"
    assert json.loads(gzip.decompress(request.raw_body))["batch"][0]["event"] == "e"


@pytest.mark.parametrize("size", [MIN_GZIP_BYTES - 1, MIN_GZIP_BYTES])
def test_only_a_body_of_min_gzip_bytes_or_more_is_compressed(bed: HttpBed, make_client, size):
    oak = make_client()
    envelope = len(build_body([b""], "2026-01-01T00:00:00.000000Z"))
    oak.capture("u", "e")  # the message's own size, to pad it to the body size wanted
    oak.flush(timeout=WAIT_SECONDS)
    message = len(bed.requests[0].raw_body) - envelope
    padding = size - envelope - message - len(',"p":""')
    oak.capture("u", "e", {"p": "x" * padding})
    oak.flush(timeout=WAIT_SECONDS)
    request = bed.requests[1]
    assert len(request.body) == size
    compressed = request.header("Content-Encoding") == "gzip"
    assert compressed is (size >= MIN_GZIP_BYTES)


def test_gzip_false_sends_plain_json(bed: HttpBed, make_client):
    oak = make_client(gzip=False)
    oak.capture("u", "e")
    oak.flush(timeout=WAIT_SECONDS)
    (request,) = bed.requests
    assert request.header("Content-Encoding") in (None, "identity")
    assert json.loads(request.raw_body)["batch"][0]["event"] == "e"


def test_max_retries_zero_sends_once(bed: HttpBed, make_client):
    bed.script(Reply(500))
    oak = make_client(max_retries=0)
    oak.capture("u", "e")
    assert oak.flush(timeout=WAIT_SECONDS) is False
    assert len(bed.requests) == 1
    assert oak.stats().dropped["retries_exhausted"] == 1


def test_flush_at_batches_that_many_events_per_request(bed: HttpBed, make_client):
    oak = make_client(flush_at=2)
    first = [oak.capture("u", f"e{i}") for i in range(2)]
    bed.wait_for_requests(1)
    second = [oak.capture("u", f"e{i}") for i in range(2, 4)]
    bed.wait_for_requests(2)
    assert [[m["uuid"] for m in r.messages] for r in bed.requests] == [first, second]


def test_debug_true_logs_queueing_and_flushing_at_debug_level(bed: HttpBed, make_client, caplog):
    # The logger is left at its default level: debug=True itself must let DEBUG records out.
    oak = make_client(debug=True)
    oak.capture("u", "e")
    oak.flush(timeout=WAIT_SECONDS)
    assert [r for r in caplog.records if r.name.startswith("oakdata") and r.levelname == "DEBUG"]


@pytest.mark.parametrize("option", ["flush_at", "max_queue_size"])
def test_a_non_integer_count_raises_value_error(bed: HttpBed, option: str, new_client):
    with pytest.raises(ValueError, match=option):
        new_client(SECRET_KEY, host=bed.url, **{option: "20"})


def test_the_threaded_client_refuses_an_async_transport_at_construction():
    from oakdata.transports.async_http import AsyncHttpTransport

    with pytest.raises(ValueError, match="use AsyncOakClient"):
        OakClient(SECRET_KEY, transport=AsyncHttpTransport())


# -- the one declaration --------------------------------------------------------------------

# A value other than the default for each option, and one each option must refuse.
NON_DEFAULT = {
    "secret_key": "oak_sec_another",
    "host": "http://127.0.0.1:1",
    "flush_at": 7,
    "flush_interval": 2.5,
    "request_timeout": 3.5,
    "max_retries": 9,
    "retry_initial_delay": 0.25,
    "disabled": True,
    "debug": True,
    "ingest_path": "/in",
    "max_queue_size": 11,
    "gzip": False,
    "spool_path": "SPOOL",  # made a directory of the test's own below
    "spool_max_bytes": 2 * MIN_SPOOL_MAX_BYTES,
    "on_error": print,
    "on_queue_full": "block",
    "block_timeout": 1.5,
    "before_send": dict,
    "super_properties": {"plan": "pro"},
}
REFUSED = {
    "secret_key": 42,
    "host": "ftp://example.com",
    "flush_at": 0,
    "flush_interval": float("nan"),
    "request_timeout": 0,
    "max_retries": -1,
    "retry_initial_delay": "0.5",
    "disabled": "no",
    "debug": 1,
    "ingest_path": "in",
    "max_queue_size": 2.0,
    "gzip": None,
    "spool_path": "  ",
    "spool_max_bytes": MIN_SPOOL_MAX_BYTES - 1,
    "on_error": "print",
    "on_queue_full": "wait",
    "block_timeout": 0,
    "before_send": "scrub",
    "super_properties": ["plan", "pro"],
}


def test_the_tables_here_name_every_option():
    assert set(NON_DEFAULT) == set(REFUSED) == set(OPTION_NAMES)


@pytest.mark.parametrize("client_class", [OakClient, AsyncOakClient])
def test_the_constructors_take_exactly_the_declared_options_and_defaults(client_class):
    # The signature is the options' only other spelling (for IDEs and type checkers).
    parameters = dict(inspect.signature(client_class).parameters)
    assert parameters.pop("transport").default is None
    assert tuple(parameters) == OPTION_NAMES
    declared = {name: vars(Config)[name].default for name in OPTION_NAMES}
    assert {name: p.default for name, p in parameters.items()} == declared
    assert all(p.annotation != inspect.Parameter.empty for p in parameters.values())


@pytest.mark.parametrize("option", OPTION_NAMES)
def test_each_option_given_to_the_constructor_reaches_the_client(
    option: str, new_client, client_kind: str, tmp_path: Path
):
    value = str(tmp_path) if option == "spool_path" else NON_DEFAULT[option]
    options = {"secret_key": SECRET_KEY, option: value}
    if option == "on_queue_full" and client_kind == "asyncio":
        pytest.skip("AsyncOakClient refuses to block its loop (test_losses_reported.py)")
    client = sdk_client(new_client(**options))
    assert getattr(client._config, option) == value


@pytest.mark.parametrize("option", OPTION_NAMES)
def test_each_option_refuses_a_wrong_value_with_one_sentence_naming_it(option: str, new_client):
    options = {"secret_key": SECRET_KEY, option: REFUSED[option]}
    with pytest.raises(ValueError, match=option) as excinfo:
        new_client(**options)
    message = str(excinfo.value)
    assert message.endswith(".")
    assert ". " not in message
    assert SECRET_KEY not in message


def test_a_key_of_only_spaces_is_no_key(new_client):
    with pytest.raises(ValueError, match="No secret key"):
        new_client("   ")


def test_the_config_is_frozen_and_its_repr_leaves_out_the_key():
    config = Config(secret_key=SECRET_KEY)
    with pytest.raises(AttributeError):
        config.flush_at = 1  # type: ignore[misc]
    assert SECRET_KEY not in repr(config)
    assert "flush_at=20" in repr(config)


def test_the_config_refuses_a_name_that_is_no_option():
    with pytest.raises(TypeError, match="flushAt"):
        Config(secret_key=SECRET_KEY, flushAt=1)
