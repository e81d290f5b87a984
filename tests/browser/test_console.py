"""The console in Chromium: sign-in, keys, persons, live events, the chart, and escaping."""

from __future__ import annotations

import uuid
from datetime import datetime, timezone
from typing import Any
from urllib.parse import quote

import httpx

from .conftest import Oak, Site, screenshot, sign_in

HOSTILE_EVENT = "<img src=x onerror=alert(1)>"
HOSTILE_ID = "<b id=injected>mallory</b>"
HOSTILE_PROPERTY = "<script>window.pwned = 1; alert(2)</script>"


def send(oak: Oak, *messages: dict[str, Any]) -> None:
    now = datetime.now(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.%fZ")
    batch = [{"uuid": str(uuid.uuid4()), "timestamp": now, **m} for m in messages]
    response = httpx.post(
        f"{oak.url}/api/oak/ingest",
        json={"batch": batch},
        headers={"Authorization": f"Bearer {oak.secret_key}"},
        timeout=10.0,
    )
    assert response.json()["accepted"] == len(batch), response.text


def capture(oak: Oak, distinct_id: str, event: str, **properties: Any) -> None:
    send(
        oak,
        {"type": "capture", "distinct_id": distinct_id, "event": event, "properties": properties},
    )


def assert_nothing_injected(page: Any) -> None:
    assert page.locator("main img").count() == 0
    assert page.locator("#injected").count() == 0
    assert page.locator("main script").count() == 0
    assert page.evaluate("window.pwned") is None


def test_signing_in_and_out(page: Any, oak: Oak) -> None:
    page.goto(f"{oak.url}/keys")
    assert page.url == f"{oak.url}/"  # signed out: the sign-in form
    screenshot(page, "sign-in")
    page.fill("input[name=token]", "not-the-admin-token")
    page.click("button[type=submit]")
    assert page.get_by_role("alert").inner_text() == "That is not the admin token."
    sign_in(page, oak)
    cookie = next(c for c in page.context.cookies() if c["name"] == "oak_console")
    assert cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"
    assert page.evaluate("document.cookie") == ""  # out of reach of any script
    page.click("text=Sign out")
    page.goto(f"{oak.url}/keys")
    assert page.url == f"{oak.url}/"


def test_a_public_key_made_in_the_console_is_shown_once_and_refused_once_revoked(
    page: Any, browser: Any, oak: Oak, site: Site
) -> None:
    sign_in(page, oak)
    page.context.grant_permissions(["clipboard-read", "clipboard-write"], origin=oak.url)
    page.goto(f"{oak.url}/keys")
    page.check("input[value=public]")
    page.fill("input[name=name]", "shop")
    page.fill("textarea[name=origins]", site.url)
    page.click("text=Create key")
    key = page.text_content("#new-key")
    assert key.startswith("oak_pub_")
    page.click("button[data-copy]")
    page.wait_for_selector("button[data-copy]:text('Copied')")
    assert page.evaluate("navigator.clipboard.readText()") == key
    screenshot(page, "keys-created")
    page.goto(f"{oak.url}/keys")
    assert key not in page.content()  # shown once; listed by its id only
    row = page.locator("tr", has_text=key[:16])
    assert "active" in row.inner_text()

    visitor = browser.new_context()
    try:
        shop = visitor.new_page()
        shop.goto(f"{site.url}/?key={key}&autocapture=0")
        anonymous_id = shop.evaluate("oak.get_distinct_id()")
        oak.wait_for_events("$pageview", lambda e: e.distinct_id == anonymous_id)

        row.get_by_role("button", name="Revoke").click()
        page.locator("tr", has_text=key[:16]).get_by_text("revoked").wait_for()
        screenshot(page, "keys-revoked")
        with shop.expect_console_message(lambda message: "(401)" in message.text):
            shop.evaluate("oak.capture('after_revoke'); oak.flush()")
    finally:
        visitor.close()
    assert oak.events("after_revoke") == []


def test_a_secret_key_is_shown_with_the_warning(page: Any, oak: Oak) -> None:
    sign_in(page, oak)
    page.goto(f"{oak.url}/keys")
    page.fill("input[name=name]", "billing")
    page.click("text=Create key")
    assert page.text_content("#new-key").startswith("oak_sec_")
    assert "never in templates or front-end bundles" in page.inner_text(".warning")


def test_live_events_show_a_new_capture_and_filter_by_name(page: Any, oak: Oak) -> None:
    sign_in(page, oak)  # lands on the live events
    capture(oak, "live-visitor", "live_check", plan="pro")
    page.locator("td.event-name", has_text="live_check").first.wait_for()
    capture(oak, "live-visitor", "other_event")
    page.locator("td.event-name", has_text="other_event").first.wait_for()
    screenshot(page, "events")
    page.fill("input[name=event]", "live_check")
    page.click("text=Filter")
    page.wait_for_url("**/events?event=live_check")
    names = set(page.locator("td.event-name").all_inner_texts())
    assert names == {"live_check"}


def test_the_persons_page_shows_every_id_and_each_event_s_source(page: Any, oak: Oak) -> None:
    capture(oak, "anon-person-page", "$pageview", **{"$lib": "oakdata-js"})
    send(
        oak,
        {
            "type": "identify",
            "distinct_id": "person-page-user",
            "properties": {"$anon_distinct_id": "anon-person-page", "email": "ada@example.com"},
        },
    )
    capture(oak, "person-page-user", "user_signed_up", **{"$lib": "oakdata-python"})
    sign_in(page, oak)
    page.goto(f"{oak.url}/persons?id=anon-person-page")
    assert page.locator(".ids li").all_inner_texts() == ["anon-person-page", "person-page-user"]
    rows = page.locator("table.timeline tbody tr").all_inner_texts()
    assert any("$pageview" in r and "browser" in r for r in rows)
    assert any("user_signed_up" in r and "server" in r for r in rows)
    assert "ada@example.com" in page.inner_text("main")
    screenshot(page, "persons")


def test_hostile_names_ids_and_properties_render_as_text(page: Any, oak: Oak) -> None:
    capture(oak, HOSTILE_ID, HOSTILE_EVENT, note=HOSTILE_PROPERTY, **{"$lib": HOSTILE_PROPERTY})
    send(
        oak,
        {"type": "identify", "distinct_id": HOSTILE_ID, "properties": {"name": HOSTILE_PROPERTY}},
    )
    sign_in(page, oak)
    pages = {
        "xss-events": "/events",
        "xss-events-filtered": f"/events?event={quote(HOSTILE_EVENT)}",
        "xss-persons": f"/persons?id={quote(HOSTILE_ID)}",
        "chart": "/chart",
    }
    for name, path in pages.items():
        page.goto(f"{oak.url}{path}")
        shown = page.locator("td.event-name", has_text=HOSTILE_EVENT).first
        assert shown.inner_text() == HOSTILE_EVENT
        assert_nothing_injected(page)
        screenshot(page, name)
    page.goto(f"{oak.url}/persons?id={quote(HOSTILE_ID)}")
    assert HOSTILE_PROPERTY in page.inner_text("main")
    # And through the live feed, whose rows are inserted by the page's script.
    page.goto(f"{oak.url}/events")
    capture(oak, HOSTILE_ID, f"{HOSTILE_EVENT} live")
    live = page.locator("td.event-name", has_text=f"{HOSTILE_EVENT} live")
    assert live.inner_text() == f"{HOSTILE_EVENT} live"
    assert_nothing_injected(page)
