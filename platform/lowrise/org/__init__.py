"""The org chart: departments as a tree of records, the people in each, and their heads.

Declared in workspace.yaml under `org:` (see docs/org.md); the departments are records of a
record type, so administrators add, rename and move departments in the app. The access layer
builds the `department` and `department_and_below` row scopes from it; approvals and rules
ask `heads_of` / `chain` who leads a person. No Flask here.
"""

from __future__ import annotations

from .model import DEPTH, Level, Org, chain, departments_of, heads_of, org_of, problems
from .sql import below, my_departments, people_in

__all__ = ["DEPTH", "Level", "Org", "below", "chain", "departments_of", "heads_of",
           "my_departments", "org_of", "people_in", "problems"]
