"""The on_error notifier: off the caller's thread, bounded, and immune to its callback."""

from __future__ import annotations

import logging
import threading

import pytest

from oakdata._notify import MAX_PENDING_REPORTS, DropReport, Notifier
from oakdata._stats import Counters

WAIT_SECONDS = 10.0


class Recorder:
    def __init__(self) -> None:
        self.reports: list[DropReport] = []
        self.threads: set[str] = set()

    def __call__(self, report: DropReport) -> None:
        self.threads.add(threading.current_thread().name)
        self.reports.append(report)


def test_the_callback_runs_on_a_thread_of_its_own():
    recorder = Recorder()
    notifier = Notifier(recorder)
    notifier.notify(DropReport("invalid_input", 1, None, "capture: distinct_id is empty"))
    assert notifier.drain(WAIT_SECONDS)
    assert recorder.reports == [
        DropReport("invalid_input", 1, None, "capture: distinct_id is empty")
    ]
    assert threading.current_thread().name not in recorder.threads


def test_a_flood_of_one_kind_becomes_few_calls_that_add_up():
    release = threading.Event()
    calls: list[DropReport] = []

    def slow(report: DropReport) -> None:
        release.wait(WAIT_SECONDS)
        calls.append(report)

    notifier = Notifier(slow)
    for _ in range(10_000):
        notifier.notify(DropReport("queue_full", 1, None, "full"))
    release.set()
    assert notifier.drain(WAIT_SECONDS)
    assert sum(r.count for r in calls) == 10_000
    assert len(calls) <= 2  # the one being called when the flood began, and the rest merged


def test_alternating_reasons_stay_bounded_while_the_callback_is_stuck():
    release = threading.Event()
    calls: list[DropReport] = []

    def stuck(report: DropReport) -> None:
        release.wait(WAIT_SECONDS)
        calls.append(report)

    notifier = Notifier(stuck)
    for i in range(5 * MAX_PENDING_REPORTS):
        reason = "queue_full" if i % 2 else "invalid_input"
        notifier.notify(DropReport(reason, 1, None, "x"))
    assert len(notifier._pending) <= MAX_PENDING_REPORTS
    release.set()
    assert notifier.drain(WAIT_SECONDS)
    # Every drop is still counted under its own reason.
    for reason in ("queue_full", "invalid_input"):
        assert sum(r.count for r in calls if r.reason == reason) == 5 * MAX_PENDING_REPORTS // 2


def test_a_raising_callback_is_logged_once_and_later_reports_still_reach_it(
    caplog: pytest.LogCaptureFixture,
):
    caplog.set_level(logging.ERROR, logger="oakdata")
    seen: list[DropReport] = []

    def broken(report: DropReport) -> None:
        seen.append(report)
        raise RuntimeError("secret-ish detail from the app")

    notifier = Notifier(broken)
    for status in (401, 403, 404):
        notifier.notify(DropReport("client_error", 1, status, "refused"))
        assert notifier.drain(WAIT_SECONDS)
    assert [r.status for r in seen] == [401, 403, 404]
    errors = [r.getMessage() for r in caplog.records if r.name == "oakdata"]
    assert len(errors) == 1
    assert "RuntimeError" in errors[0]
    assert "secret-ish" not in errors[0]


def test_counters_report_each_drop_with_its_reason_count_and_status():
    recorder = Recorder()
    notifier = Notifier(recorder)
    counters = Counters(on_drop=notifier.notify)
    counters.captured_and_dropped("invalid_input", "capture: event is empty")
    assert notifier.drain(WAIT_SECONDS)
    counters.dropped("client_error", 20, "HTTP 401", status=401)
    assert notifier.drain(WAIT_SECONDS)
    assert [(r.reason, r.count, r.status) for r in recorder.reports] == [
        ("invalid_input", 1, None),
        ("client_error", 20, 401),
    ]
