"""Live updates: every committed write becomes an event that other people's pages receive.

- feed.py: writes note what they changed on their connection; at commit the notes become
  rows of `lr_changes` (the change log, ids in commit order) and, on PostgreSQL, a NOTIFY.
- broker.py: one per process: waits for new change-log rows (LISTEN on PostgreSQL, a
  short poll plus an in-process nudge on SQLite) and hands them to the process's
  subscriptions, within bounds per person and per process.
- seen.py: what one subscriber may be told of those rows, decided with its own Actor: ids
  only, and only of records it may read now.

The web's stream (web/live.py) sends what seen.py lets through as server-sent events; the
page then re-reads what changed through its ordinary routes, as that person.
"""

from .broker import Broker, Busy, Subscription
from .feed import latest_id, note, note_notices, read_since

__all__ = ["Broker", "Busy", "Subscription", "latest_id", "note", "note_notices",
           "read_since"]
