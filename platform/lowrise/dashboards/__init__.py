"""Dashboards: widgets declared in a view's `widgets`, computed through the query layer.

A dashboard view (`type: dashboard`) lists widgets; each counts or measures the records of
one record type, optionally grouped (a select, link, user or boolean field, or a date
bucket such as `opened_on:month`). `load()` turns the view into typed data; `compute()`
asks `lowrise.storage.query` for every number, passing the Actor, so that the row scope
of the person looking applies to every aggregate. Every bar, slice, funnel step and cell
carries a `Drill`: the conditions, in the filter language, that select exactly the records
it counts, which the web layer turns into a table view's URL.

Nothing here imports Flask; the words shown in charts come from the workspace's labels.
"""

from __future__ import annotations

from .cache import ResultCache, data_version
from .compute import Figure, Pivot, Point, WidgetData, compute, compute_widget
from .model import (
    CHARTS,
    KINDS,
    Control,
    Dashboard,
    Drill,
    Measure,
    Selection,
    Widget,
    dashboard_views,
    drill_view,
    load,
    select,
)
from .periods import PRESETS, Range, resolve_range

__all__ = ["CHARTS", "KINDS", "PRESETS", "Control", "Dashboard", "Drill", "Figure", "Measure",
           "Pivot", "Point", "Range", "ResultCache", "Selection", "Widget", "WidgetData",
           "compute", "compute_widget", "dashboard_views", "data_version", "drill_view", "load",
           "resolve_range", "select"]
