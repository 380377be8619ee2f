"""Links that point nowhere: a check of a restored (or any) database.

A link or user field may name a record in the trash (restoring it brings the link back), but
never a record that exists nowhere: that is what a backup read outside one snapshot gives (a
case whose client was created after the clients were read).
"""

from __future__ import annotations

import sqlalchemy as sa

from lowrise.workspace.model import Workspace


def dangling_links(conn: sa.Connection, ws: Workspace) -> list[str]:
    """One line for each link field with values that name no record (and none in the trash)."""
    live = set(sa.inspect(conn).get_table_names())
    trash = sa.table("lr_trash", sa.column("record_type"), sa.column("record_id"))
    out = []
    for rt in ws.record_types.values():
        if rt.name not in live:
            continue
        for f in rt.fields.values():
            if not f.kind.links or f.target not in ws.record_types or \
                    f.target not in live:
                continue
            src = sa.table(rt.name, sa.column("id"), sa.column(f.name)).alias("src")
            dst = sa.table(f.target, sa.column("id")).alias("dst")
            value = src.c[f.name]
            missing = sa.select(sa.func.count(), sa.func.min(src.c.id)).where(
                value.is_not(None),
                ~sa.exists().where(dst.c.id == value),
                ~sa.exists().where(trash.c.record_type == f.target, trash.c.record_id == value))
            n, first = conn.execute(missing).one()
            if n:
                out.append(f"{rt.name}.{f.name}: {n:,} record(s) point at a {f.target} that "
                           f"does not exist (the first: {rt.name} #{first})")
    return out
