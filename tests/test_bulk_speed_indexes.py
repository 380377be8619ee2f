"""The index set: a dashboard widget's index rides on a view's index that begins with its
lead (one index fewer for every new record), and every widget still finds an index that
begins with what it narrows by and holds every column it reads."""

from __future__ import annotations

from pathlib import Path

import pytest

from lowrise.dashboards.indexes import widget_indexes
from lowrise.storage.tables import build_schema
from lowrise.workspace import load_workspace

ROOT = Path(__file__).resolve().parent.parent
WORKSPACES = [ROOT, *sorted(p for p in (ROOT / "templates").iterdir() if p.is_dir()
                             and (p / "workspace.yaml").exists())]


@pytest.fixture(scope="module")
def flagship():
    ws = load_workspace(ROOT)
    return ws, build_schema(ws)


def test_the_new_leads_index_rides_on_the_cases_view_index(flagship):
    _, schema = flagship
    specs = {s.columns: s for s in schema.indexes["case"]}
    merged = specs[("opened_on", "created_at", "id", "consultant", "stage")]
    assert "view cases" in merged.why and "widget new_leads" in merged.why
    assert ("opened_on", "consultant", "stage") not in specs
    assert ("opened_on", "created_at", "id") not in specs
    assert len(specs) == 18  # the two lookups a case shows (client_source, client_budget) filter and sort by index
    table = schema.table("case")
    assert "ix_case_opened_on_created_at_id_consultant_stage" in {ix.name for ix in table.indexes}


@pytest.mark.parametrize("folder", WORKSPACES, ids=lambda p: p.name)
def test_every_widget_and_view_keeps_an_index_that_serves_it(folder):
    ws = load_workspace(folder)
    schema = build_schema(ws)
    for rt in ws.record_types.values():
        have = [s.columns for s in schema.indexes[rt.name]]
        for cols, why, lead in widget_indexes(ws, rt):
            assert any(h[:lead] == cols[:lead] and set(cols) <= set(h) for h in have), why
        for view in ws.views_of(rt.name):
            from lowrise.storage.tables import view_index

            spec = view_index(rt, view)
            if spec is not None:
                assert any(h[:len(spec.columns)] == spec.columns for h in have), view.name


def test_a_list_widget_reads_its_matches_off_its_date_index(flagship):
    """The late viewings list counts and reads this month's matches (ids and sort keys) off
    the index that begins with its date: on PostgreSQL only an index with `id` as a column
    holds the ids (182 ms reading them from the table, 40 ms off the index, on a million)."""
    _, schema = flagship
    specs = {s.columns: s for s in schema.indexes["case"]}
    late = specs[("viewing_requested_at", "viewing_response_hours", "consultant", "id")]
    assert "widget late_viewings" in late.why
    # widgets that are not lists keep their indexes without it
    assert ("stage", "opened_on", "consultant") in specs
