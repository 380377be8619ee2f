"""Approval chains (审批流程) declared in approvals/<name>.yaml (see docs/approvals.md).

    model.py    the YAML as typed data: start, steps, locked fields, outcomes
    checks.py   what `lowrise check` says about an approval's YAML
    tables.py   lr_approvals (rounds), lr_approval_tasks (the queues), lr_approval_trail
    resolve.py  who an approver spec names: a person, a role, the requester's managers
    engine.py   the Records hook (start, lock, restart) and the approvers' actions
    queue.py    reads: an approver's queue and its count, a record's rounds and trail

The rules engine installs the hook beside itself (rules.engine.install) when the workspace
declares approvals; the worker escalates the steps whose timeout passed.
"""
