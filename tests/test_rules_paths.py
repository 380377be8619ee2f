"""Action expressions read linked records' fields (`item.rate`, `owner.manager.name`): paths are
checked when the workspace loads, read as the system when the rule runs (in a worker's batch,
in one query per step for all the timers)."""

from __future__ import annotations

import pytest

from lowrise.rules.parse import paths_in
from lowrise.workspace import WorkspaceError
from test_rules_support import BASE, T0, make_env, staff, workspace

ITEM = {"schemas/item.yaml": BASE["schemas/item.yaml"] + "  rate: {type: integer}\n"}

PRICED = """
record_type: ticket
trigger: {kind: created}
actions:
  - set_fields:
      count: {expr: "coalesce(x, 1) * item.rate"}
      note: {expr: "concat('a.b: ', item.name, ' for ', owner.manager.name)"}
"""


def test_a_set_fields_expression_reads_linked_records(engine):
    env = make_env(engine, {"priced": PRICED}, extra=ITEM)
    p = staff(env)
    item = env.create("item", name="Sink", rate=7)
    t = env.create("ticket", title="t", item=item["id"], owner=p["ann"], x=3)
    assert (t["count"], t["note"]) == (21, "a.b: Sink for Boss")
    # an empty link on the way is an empty value, not an error
    bare = env.create("ticket", title="bare")
    assert (bare["count"], bare["note"]) == (None, "a.b:  for")  # (text is stored trimmed)


def test_timer_rules_read_linked_records_in_the_worker_batch(engine):
    env = make_env(engine, {"later": """
record_type: ticket
trigger: {kind: time, field: requested_at, after: 1h}
actions:
  - set_fields: {count: {expr: "item.rate * 2"}, note: {expr: "owner.manager.name"}}
"""}, extra=ITEM)
    p = staff(env)
    items = [env.create("item", name=f"i{i}", rate=i)["id"] for i in range(4)]
    made = [env.create("ticket", title=f"t{i}", item=items[i], owner=p["ann"], requested_at=T0)
            for i in range(4)]
    env.advance(hours=2)
    assert env.worker().fire_due_timers() == 4
    assert [(env.get("ticket", t["id"])["count"], env.get("ticket", t["id"])["note"])
            for t in made] == [(0, "Boss"), (2, "Boss"), (4, "Boss"), (6, "Boss")]
    env.advance(hours=1)
    assert env.worker().fire_due_timers() == 0


@pytest.mark.parametrize("expr,message", [
    ("item.nope + 1", "'item.nope' in 'item.nope + 1': item has no field 'nope'"),
    ("title.size", "'title' is not a link, so '.size' cannot follow it"),
    ("nothing.rate", "ticket has no field 'nothing'"),
])
def test_a_bad_path_is_refused_when_the_workspace_loads(expr, message):
    with pytest.raises(WorkspaceError) as info:
        workspace({"bad": f"""
record_type: ticket
trigger: {{kind: created}}
actions:
  - set_fields: {{count: {{expr: "{expr}"}}}}
"""}, ITEM)
    assert message in str(info.value), str(info.value)


def test_paths_are_renamed_outside_quoted_text_only():
    text, paths = paths_in("concat(\"x.y\", a.b, 'c.d', a.b.c, f(x), 1.5)")
    assert text == "concat(\"x.y\", P_a_D_b, 'c.d', P_a_D_b_D_c, f(x), 1.5)"
    assert paths == {"P_a_D_b": ("a", "b"), "P_a_D_b_D_c": ("a", "b", "c")}
