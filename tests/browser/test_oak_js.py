"""oak.js in Chromium, on a site of another origin, against a real oakdata server."""

from __future__ import annotations

import re
from typing import Any

import oakdata

from .conftest import Oak, Site, wait_until

UUID_V7 = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-7[0-9a-f]{3}-[89ab][0-9a-f]{3}-[0-9a-f]{12}")


def test_a_pageview_and_a_click_arrive_and_a_reload_keeps_the_anonymous_id(
    page: Any, oak: Oak, site: Site
) -> None:
    page.goto(f"{site.url}/")
    anonymous_id = page.evaluate("oak.get_distinct_id()")
    assert UUID_V7.fullmatch(anonymous_id)
    [pageview] = oak.wait_for_events("$pageview", lambda e: e.distinct_id == anonymous_id)
    assert UUID_V7.fullmatch(pageview.uuid)
    assert pageview.properties["$lib"] == "oakdata-js"
    assert pageview.properties["$lib_version"] == oakdata.__version__
    assert pageview.properties["$current_url"] == f"{site.url}/"

    page.fill("#card", "4111 1111 1111 1111")
    page.click("#card")  # an input: never captured, and its value never sent
    page.click("#buy b")  # inside the button: the button is what was clicked
    [click] = oak.wait_for_events("$autocapture", lambda e: e.distinct_id == anonymous_id)
    assert click.properties["$tag"] == "button"
    assert click.properties["$text"] == "Buy now"
    page.click("#pricing")
    [link] = oak.wait_for_events(
        "$autocapture", lambda e: e.distinct_id == anonymous_id and e.properties["$tag"] == "a"
    )
    assert link.properties["$href"] == f"{site.url}/#pricing"
    everything = str([e.properties for e in oak.events() if e.distinct_id == anonymous_id])
    assert "4111" not in everything
    assert "4242" not in everything

    page.reload()
    assert page.evaluate("oak.get_distinct_id()") == anonymous_id
    oak.wait_for_events("$pageview", lambda e: e.distinct_id == anonymous_id, count=2)


def test_the_es_module_sends_a_pageview_too(page: Any, oak: Oak, site: Site) -> None:
    page.goto(f"{site.url}/?module=1")
    anonymous_id = wait_until(
        lambda: page.evaluate("window.moduleOak && window.moduleOak.get_distinct_id()"),
        "the module to load",
    )
    assert page.evaluate("typeof window.oak") == "undefined"  # a module defines no global
    oak.wait_for_events("$pageview", lambda e: e.distinct_id == anonymous_id)


def test_browser_and_back_end_events_are_one_timeline_after_identify(
    page: Any, oak: Oak, site: Site
) -> None:
    page.goto(f"{site.url}/")
    anonymous_id = page.evaluate("oak.get_distinct_id()")
    page.click("#signup")
    user_id = wait_until(lambda: page.evaluate("window.signedUp"), "the sign-up")
    assert page.evaluate("oak.get_distinct_id()") == user_id
    page.evaluate("oak.capture('opened_dashboard'); oak.flush()")
    oak.wait_for_events("opened_dashboard", lambda e: e.distinct_id == user_id)

    def stitched() -> Any:
        names = [e["event"] for e in oak.timeline(anonymous_id)["events"]]
        return {"$pageview", "user_signed_up", "opened_dashboard"} <= set(names)

    wait_until(stitched, "the identify to link the anonymous id")
    by_anonymous_id = oak.timeline(anonymous_id)
    by_user_id = oak.timeline(user_id)
    assert by_anonymous_id["events"] == by_user_id["events"]
    assert set(by_user_id["distinct_ids"]) == {anonymous_id, user_id}
    assert by_user_id["properties"]["name"] == "Ada"
    sources = {e["event"]: e["properties"].get("$lib") for e in by_user_id["events"]}
    assert sources["$pageview"] == "oakdata-js"
    assert sources["user_signed_up"] == "oakdata-python"


def test_a_capture_right_before_leaving_the_page_is_delivered_by_a_beacon(
    page: Any, oak: Oak, site: Site
) -> None:
    # A minute's flush interval: nothing but the pagehide beacon can send it in time, and the
    # next page (another origin) cannot send it again from storage.
    page.goto(f"{site.url}/?flush_interval=60&autocapture=0")
    anonymous_id = page.evaluate("oak.get_distinct_id()")
    page.evaluate("oak.capture('left_in_a_hurry', {step: 3})")
    page.goto("about:blank")
    [event] = oak.wait_for_events("left_in_a_hurry", lambda e: e.distinct_id == anonymous_id)
    assert event.properties["step"] == 3
    oak.wait_for_events("$pageview", lambda e: e.distinct_id == anonymous_id)


def test_events_captured_while_the_server_is_down_arrive_once_it_is_back(
    page: Any, oak: Oak, site: Site
) -> None:
    page.goto(f"{site.url}/?retry_initial_delay=0.5&autocapture=0")
    anonymous_id = page.evaluate("oak.get_distinct_id()")
    oak.wait_for_events("$pageview", lambda e: e.distinct_id == anonymous_id)
    oak.stop()
    try:
        with page.expect_console_message(lambda message: "retrying" in message.text):
            page.evaluate("for (var i = 0; i < 5; i++) oak.capture('during_outage', {n: i})")
    finally:
        oak.start_again()
    events = oak.wait_for_events("during_outage", lambda e: e.distinct_id == anonymous_id, count=5)
    assert sorted(e.properties["n"] for e in events) == [0, 1, 2, 3, 4]


def test_reset_makes_a_fresh_anonymous_id(page: Any, site: Site) -> None:
    page.goto(f"{site.url}/?autocapture=0")
    first = page.evaluate("oak.get_distinct_id()")
    page.evaluate("oak.identify('user_reset_test')")
    assert page.evaluate("oak.get_distinct_id()") == "user_reset_test"
    page.evaluate("oak.reset()")
    fresh = page.evaluate("oak.get_distinct_id()")
    assert UUID_V7.fullmatch(fresh)
    assert fresh != first


def test_opting_out_is_kept_across_pages_and_sends_nothing(page: Any, oak: Oak, site: Site) -> None:
    page.goto(f"{site.url}/?autocapture=0")
    anonymous_id = page.evaluate("oak.get_distinct_id()")
    oak.wait_for_events("$pageview", lambda e: e.distinct_id == anonymous_id)
    page.evaluate("oak.opt_out()")
    page.reload()  # its $pageview is not sent
    assert page.evaluate("oak.has_opted_out()") is True
    page.evaluate("oak.capture('while_opted_out'); oak.flush()")
    page.evaluate("oak.opt_in(); oak.capture('after_opting_in'); oak.flush()")
    oak.wait_for_events("after_opting_in", lambda e: e.distinct_id == anonymous_id)
    # One request after the other from one page: had they been sent, they would be stored.
    assert oak.events("while_opted_out") == []
    pageviews = [e for e in oak.events("$pageview") if e.distinct_id == anonymous_id]
    assert len(pageviews) == 1


def test_without_local_storage_a_cookie_keeps_the_anonymous_id(
    page: Any, oak: Oak, site: Site
) -> None:
    # Some browsers refuse localStorage (privacy modes, storage disabled): it throws on access.
    page.add_init_script(
        "Object.defineProperty(window, 'localStorage', {get: function () {"
        " throw new Error('denied'); }})"
    )
    page.goto(f"{site.url}/?autocapture=0")
    anonymous_id = page.evaluate("oak.get_distinct_id()")
    assert f"oak_anon_id={anonymous_id}" in page.evaluate("document.cookie")
    page.reload()
    assert page.evaluate("oak.get_distinct_id()") == anonymous_id
    oak.wait_for_events("$pageview", lambda e: e.distinct_id == anonymous_id, count=2)
