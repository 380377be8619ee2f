"""The YAML of sharing, as `lowrise check` and the loader see it: what a public form may ask
a visitor, set and match on (file:line:column for each refusal), the calendar feed's fields;
and the rate limit of public forms counted in the database, window by window."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from lowrise.sharing.limits import FormLimit
from lowrise.sharing.spec import feed_spec, public_form, public_forms, shareable
from lowrise.storage.tables import build_schema
from lowrise.workspace import WorkspaceError, load_workspace_from_texts
from test_web_support import SMALL

BAD_FORM = """type: form
record_type: deal
label: Lead
public:
  fields:
    - title
    - client.name
    - client.phone
    - client.photo
    - owner
    - number
    - title
    - stage.x
    - client.nope
  set:
    amount: lots
    client.phone: "13800000000"
    double: 1
    closes_on: today
  match: [client.email]
  managed_by: [boss]
"""
UNCOVERED = """type: form
record_type: deal
label: Lead
public:
  fields: [client.phone, {field: client.email, label: Mail}]
  match: client.phone
"""
FEED = """type: calendar
record_type: deal
label: Closing
date_field: closes_on
feed: {past_days: 5, future_days: 10, details: [amount, nope]}
"""


def problems(**views: str) -> list[str]:
    files = {**SMALL, **{f"views/{name}.yaml": text for name, text in views.items()}}
    with pytest.raises(WorkspaceError) as info:
        load_workspace_from_texts(files)
    return [str(p) for p in info.value.problems]


def test_what_a_public_form_may_ask_set_and_match():
    cannot = ", which a visitor cannot fill in (a public form asks for text, long_text, " \
             "integer, decimal, currency, percent, boolean, date, datetime, duration, select, " \
             "multi_select, email, phone, url, rating fields; set others under set:)"
    assert problems(lead=BAD_FORM) == [
        "views/lead.yaml:6:5: public.fields: 'client.phone' must be unique, and refusing a "
        "value already taken would tell a visitor it exists; name it under match: to find the "
        "known record instead",
        "views/lead.yaml:9:7: public.fields[3]: 'client.photo' is an attachment field" + cannot,
        "views/lead.yaml:10:7: public.fields[4]: 'owner' is a user field" + cannot,
        "views/lead.yaml:11:7: public.fields[5]: 'number' is an autonumber field" + cannot,
        "views/lead.yaml:12:7: public.fields[6]: 'title' is asked for twice",
        "views/lead.yaml:13:7: public.fields[7]: 'stage' is a select field; a public form "
        "reaches another record through a link field",
        "views/lead.yaml:14:7: public.fields[8]: 'nope' is not a field of client; did you mean "
        "'notes'?",
        "views/lead.yaml:16:13: public.set.amount: the value does not fit amount: 'lots' is "
        "not a number",
        "views/lead.yaml:17:5: public.set.client.phone: 'client.phone' is asked for and set: "
        "keep one",
        "views/lead.yaml:18:5: public.set.double: 'double' is a formula field, which a form "
        "cannot set",
        "views/lead.yaml:20:11: public.match[0]: 'client.email' is not among the fields the "
        "form asks for; a known record is matched by what the visitor typed",
        "views/lead.yaml:21:16: public.managed_by[0]: 'boss' is not a role (roles: admin)",
    ]


def test_every_required_field_is_asked_for_or_set_and_feeds_name_fields():
    assert problems(lead=UNCOVERED, closing=FEED) == [
        "views/closing.yaml:5:57: feed.details[1]: 'nope' is not a field of deal (fields: "
        "title, number, client, stage, amount, closes_on, owner, double, and the system fields)",
        "views/lead.yaml:5:11: public.fields: deal requires 'title': ask for 'title' under "
        "fields: or give it under set:",
        "views/lead.yaml:5:11: public.fields: client requires 'name': ask for 'client.name' "
        "under fields: or give it under set:",
    ]
    one_number = UNCOVERED.replace("[client.phone,", "[title, client.name,").replace(
        "  match: client.phone", "  set: {client.phone: '13800000000'}")
    assert problems(lead=one_number) == [
        "views/lead.yaml:6:9: public.set.client.phone: 'client.phone' must be unique: one "
        "value set on every submission would refuse all but the first"]


def test_the_options_as_the_engine_reads_them():
    ws = load_workspace_from_texts({
        **SMALL, "views/closing.yaml": FEED.replace(", nope", ""),
        "views/lead.yaml": UNCOVERED.replace("[client.phone,", "[title, client.name, "
                                                               "client.phone,"),
        "views/quiet.yaml": "type: table\nrecord_type: deal\nshare: false\n"})
    form = public_form(ws, ws.views["lead"])
    assert [f.path for f in form.fields] == ["title", "client.name", "client.phone",
                                             "client.email"]
    assert form.match == {"client": "phone"} and form.links == ("client",)
    assert form.fields[3].shown_label().get() == "Mail" and form.fields[0].must
    assert (form.per_client, form.per_form, form.window, form.min_seconds) == (5, 200, 3600, 3)
    assert [f.name for f in public_forms(ws)] == ["lead"]
    spec = feed_spec(ws.views["closing"])
    assert (spec.past_days, spec.future_days, spec.details) == (5, 10, ("amount",))
    assert feed_spec(ws.views["deals"]) is None  # not a calendar
    assert shareable(ws.views["deals"]) and not shareable(ws.views["quiet"])
    assert not shareable(ws.views["lead"])  # forms are published, not shared


def test_the_rate_limit_counts_per_address_and_per_form_within_its_window(engine):
    ws = load_workspace_from_texts({**SMALL, "views/lead.yaml": UNCOVERED.replace(
        "match: client.phone", "match: client.phone\n  limits: {per_client: 2, per_form: 3, "
        "window: 60}").replace("[client.phone,", "[title, client.name, client.phone,")})
    form = public_form(ws, ws.views["lead"])
    table = build_schema(ws).system["lr_form_posts"]
    table.create(engine)
    now = [1000.0]
    limit = FormLimit(engine, table, clock=lambda: now[0])
    assert limit.reserve(form, "a").post_id and limit.reserve(form, "a").post_id
    refused = limit.reserve(form, "a")
    assert refused.post_id is None and 1 <= refused.wait <= 61  # per address
    assert limit.reserve(form, "b").post_id  # the third from anyone
    assert limit.reserve(form, "c").wait  # per form
    now[0] += 61  # the window moved on
    held = limit.reserve(form, "a")
    assert held.post_id and not held.wait
    limit.settle(held.post_id, "created", 7)
    assert limit.figures("lead") == {"posted": 3, "created": 1}
    now[0] += 31 * 86400  # posts are kept 30 days for the figures, then deleted
    limit.reserve(form, "d")
    with engine.connect() as conn:
        assert conn.execute(sa.select(sa.func.count()).select_from(table)).scalar() == 1
