"""Calendar feeds: each person's secret iCalendar URL of a calendar view holds their rows
with their masks, parses as calendar programs read it (the `icalendar` package), keeps its
UIDs, and answers 404 once revoked or its person deactivated; on SQLite and PostgreSQL."""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, timedelta

import icalendar

from lowrise.sharing.ical import Event, calendar, fold
from test_sharing_support import new_url, office_app
from test_web_support import SYSTEM_ACTOR

pytest_plugins = ["test_web_support"]

CALLS = """
type: calendar
record_type: client
label: {en: Calls, zh: 回访日历}
date_field: next_follow_up_at
title_field: phone
feed: {past_days: 1, future_days: 3, details: [name, id_number]}
"""
QUIET = """
type: calendar
record_type: case
label: {en: Quiet, zh: 内部日历}
date_field: viewing_arranged_at
feed: false
share: false
"""
SHARED_PHONE, SHARED_ID = "13733330003", "330101199303033456"


def at(days: float, hour: int = 6) -> datetime:
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0)
    return now.replace(hour=hour) + timedelta(days=days)


def feed_of(office, who: str, view: str, type_name: str = "case") -> str:
    c, auth = office.client(who)
    page = auth.post(f"/r/{type_name}/calendar/{view}/feed")
    assert page.status_code == 200
    return new_url(page.text, "new-feed")


def parse(resp) -> icalendar.Calendar:
    assert resp.status_code == 200 and resp.mimetype == "text/calendar"
    raw = resp.get_data()
    assert raw.endswith(b"\r\n") and all(len(line) <= 75 for line in raw.split(b"\r\n"))
    return icalendar.Calendar.from_ical(raw)


def events(cal) -> dict[str, icalendar.Event]:
    return {str(e["UID"]): e for e in cal.walk("VEVENT")}


def test_each_persons_feed_holds_their_viewings(tmp_path, db_url):
    office = office_app(tmp_path, db_url)
    run = office.run
    mk = lambda t, **v: run.records.create(t, v, SYSTEM_ACTOR)  # noqa: E731
    c_amy = mk("client", name="张三", phone="13811110001", consultant=office.amy["id"])
    c_ben = mk("client", name="Client-Ben-Only", phone="13922220002",
               consultant=office.ben["id"])
    case = dict(opened_on=date(2026, 3, 2), stage="viewing", next_action="带看样板间")
    k_amy = mk("case", client=c_amy["id"], consultant=office.amy["id"],
               viewing_arranged_at=at(2), **case)
    mk("case", client=c_amy["id"], consultant=office.amy["id"],
       viewing_arranged_at=at(-90), **case)  # before the 60 days back
    mk("case", client=c_amy["id"], consultant=office.amy["id"],
       viewing_arranged_at=at(400), **case)  # beyond the year ahead
    mk("case", client=c_amy["id"], consultant=office.amy["id"],
       viewing_arranged_at=at(3), **{**case, "stage": "lost", "lost_reason": "price"})  # not in the view
    k_ben = mk("case", client=c_ben["id"], consultant=office.ben["id"],
               viewing_arranged_at=at(3), **case)
    c, _ = office.client("consultant")
    assert "订阅" in c.get("/r/case/calendar/viewings_calendar").text
    url = feed_of(office, "consultant", "viewings_calendar")
    assert re.fullmatch(r"/feeds/[\w-]{43}\.ics", url)
    assert "带看日历" in c.get("/account/sharing").text and url not in \
        c.get("/account/sharing").text  # listed; the address itself is shown once
    anonymous = office.app.test_client()
    cal = parse(anonymous.get(url))
    assert cal["X-WR-TIMEZONE"] == "Asia/Shanghai" and cal["VERSION"] == "2.0"
    assert str(cal["X-WR-CALNAME"]).startswith("带看日历")
    uid = f"case-{k_amy['id']}.viewings_calendar.{run.workspace.name}@lowrise"
    found = events(cal)
    assert list(found) == [uid]
    e = found[uid]
    assert str(e["SUMMARY"]) == "张三"
    assert e.decoded("DTSTART") == at(2) and e.decoded("DTSTART").tzinfo is not None
    assert e.decoded("DTEND") - e.decoded("DTSTART") == timedelta(hours=1)
    assert "阶段：带看" in str(e["DESCRIPTION"]) and "下一步行动：带看样板间" in \
        str(e["DESCRIPTION"])
    assert str(e["URL"]).endswith(f"/r/case/{k_amy['id']}")
    assert "Client-Ben-Only" not in anonymous.get(url).text
    assert list(events(parse(anonymous.get(url)))) == [uid]  # the UID stays
    en = parse(anonymous.get(url + "?lang=en"))
    assert "Stage: Site viewing" in str(events(en)[uid]["DESCRIPTION"])
    # the manager's feed: their team's; the admin's: everyone's
    assert set(events(parse(anonymous.get(feed_of(office, "manager", "viewings_calendar"))))) \
        == {uid}
    admin = events(parse(anonymous.get(feed_of(office, "admin", "viewings_calendar"))))
    assert len(admin) == 2 and any(f"case-{k_ben['id']}." in u for u in admin)
    # another feed of the same view revokes the first; revoking answers 404
    second = feed_of(office, "consultant", "viewings_calendar")
    assert anonymous.get(url).status_code == 404
    assert anonymous.get(second).status_code == 200
    feed_id = office.sharing.feeds.list(office.accounts["consultant"].id)[0].id
    _, auth = office.client("consultant")
    assert auth.post(f"/account/feeds/{feed_id}/revoke").status_code == 302
    assert anonymous.get(second).status_code == 404
    assert f'class="muted" data-feed="{feed_id}"' in c.get("/account/sharing").text
    # someone else's feed cannot be revoked; a deactivated account's feed answers 404
    boss_feed = feed_of(office, "manager", "viewings_calendar")
    boss_id = office.sharing.feeds.list(office.accounts["manager"].id)[0].id
    assert auth.post(f"/account/feeds/{boss_id}/revoke").status_code == 302
    assert anonymous.get(boss_feed).status_code == 200
    run.accounts.set_active(office.accounts["manager"].id, False)
    assert anonymous.get(boss_feed).status_code == 404
    assert anonymous.get("/feeds/" + "A" * 43 + ".ics").status_code == 404


def test_masked_values_stay_masked_and_the_window_is_the_views(tmp_path, db_url):
    office = office_app(tmp_path, db_url, {"views/calls.yaml": CALLS,
                                           "views/quiet.yaml": QUIET})
    run = office.run
    mk = lambda t, **v: run.records.create(t, v, SYSTEM_ACTOR)  # noqa: E731
    own = mk("client", name="Own", phone="13811110001", consultant=office.amy["id"],
             next_follow_up_at=at(1), id_number="11010119900101123X")
    shared = mk("client", name="Shared", phone=SHARED_PHONE, id_number=SHARED_ID,
                consultant=office.ben["id"], next_follow_up_at=at(2))
    mk("client", name="Later", phone="13811110002", consultant=office.amy["id"],
       next_follow_up_at=at(5))  # past the 3 days ahead
    mk("case", client=shared["id"], consultant=office.amy["id"], opened_on=date(2026, 3, 2))
    anonymous = office.app.test_client()
    found = events(parse(anonymous.get(feed_of(office, "consultant", "calls", "client"))))
    titles = {str(e["SUMMARY"]): str(e["DESCRIPTION"]) for e in found.values()}
    assert set(titles) == {"13811110001", "137****0003"}  # her client plainly, Ben's masked
    assert "身份证号：330***********3456" in titles["137****0003"]
    assert SHARED_PHONE not in anonymous.get(feed_of(office, "consultant", "calls",
                                                     "client")).text
    assert {u.split(".")[0] for u in found} == {f"client-{own['id']}",
                                                f"client-{shared['id']}"}
    # a calendar given `feed: false` later: its feeds open nothing
    token = feed_of(office, "consultant", "calls", "client").split("/")[-1][:-4]
    feeds = office.sharing.feeds
    assert feeds.open(run.workspace, token, "zh") is not None
    assert feeds.open(_without_feed(run.workspace), token, "zh") is None
    # `feed: false`: no button, no feed
    c, auth = office.client("consultant")
    page = c.get("/r/case/calendar/quiet").text
    assert "/quiet/feed" not in page and "/share/quiet" not in page
    assert auth.post("/r/case/calendar/quiet/feed").status_code == 404
    assert c.get("/r/case/share/quiet").status_code == 404


def _without_feed(ws):
    """The same workspace with its calls calendar's feed turned off."""
    import dataclasses

    calls = ws.views["calls"]
    view = dataclasses.replace(calls, config={**calls.config, "feed": False})
    return dataclasses.replace(ws, views={**ws.views, "calls": view})


def test_ical_text_is_escaped_folded_and_timed():
    long = "看房：" + "，".join(["三居室; 南北通透\\朝向"] * 12)
    text = calendar([
        Event("a@x", datetime(2026, 12, 8, 2, tzinfo=UTC), long, description="第一行\n第二行"),
        Event("b@x", date(2026, 12, 9), "全天", end=date(2026, 12, 10)),
        Event("c@x", datetime(2026, 12, 8, 2, tzinfo=UTC), "ends",
              end=datetime(2026, 12, 8, 5, tzinfo=UTC))],
        name="日历, 名", timezone="Asia/Shanghai", now=datetime(2026, 12, 7, tzinfo=UTC))
    raw = text.encode()
    assert all(len(line) <= 75 for line in raw.split(b"\r\n"))
    cal = icalendar.Calendar.from_ical(raw)
    a, b, c = cal.walk("VEVENT")
    assert str(a["SUMMARY"]) == long and str(a["DESCRIPTION"]) == "第一行\n第二行"
    assert "DTSTART:20261208T020000Z" in text
    assert b.decoded("DTSTART") == date(2026, 12, 9) and b.decoded("DTEND") == date(2026, 12, 11)
    assert c.decoded("DTEND") == datetime(2026, 12, 8, 5, tzinfo=UTC)
    assert "X-WR-CALNAME:日历\\, 名\r\n" in text  # TEXT, escaped as RFC 5545 says
    assert fold("x" * 75) == "x" * 75 and fold("x" * 76) == "x" * 75 + "\r\n x"
