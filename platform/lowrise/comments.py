"""Comments on a record, by people and by rules, with @mentions of staff.

A comment is stored raw in `lr_comments` (the table the rules' "comment" action writes too);
its mentions go to `lr_comment_mentions` (who, where in the text) and every edit or delete
keeps the text it replaced in `lr_comment_trail`. All three are system tables (rules/tables.py),
created by `lowrise migrate`.

Permissions (docs/permissions.md#comments): reading and adding comments need read access to
the record (its row in the actor's scope); a person edits or deletes only their own comments
(admins any). A mentioned person is notified in the in-app inbox only when they have an
active account and may read the record; the others are reported back to the author.

No Flask here: the web layer and tests make the same calls.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

import sqlalchemy as sa

from lowrise import access
from lowrise.accounts import Accounts
from lowrise.actor import Actor
from lowrise.errors import FilterError, Forbidden, LowriseError, NotFound
from lowrise.live import feed as live_feed
from lowrise.storage import query
from lowrise.storage.db import write_transaction
from lowrise.storage.records import Records

MAX_LENGTH = 5000

class CommentError(LowriseError):
    """A comment was refused; `code` says why (empty, too_long, not_text), for the web layer
    to word in the person's language; the message says it in English."""

    def __init__(self, code: str, message: str):
        self.code = code
        super().__init__(message)


# -- mentions ---------------------------------------------------------------------------------

# An "@" that starts a mention: not inside a Latin word or an e-mail address (so "ann@x.com"
# in a sentence mentions nobody); Chinese runs on without spaces ("请@王芳看看").
_AT = re.compile(r"(?<![A-Za-z0-9_.+\-@])@")
_EMAIL = re.compile(r"[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+")
# What follows "@" up to a space or punctuation: the name typed, as reported when unknown.
_WORD = re.compile(r"[^\s@,，。;；:：!！?？、()（）\[\]【】<>《》\"'“”‘’]+")


@dataclass(frozen=True)
class Person:
    """A record of the users type as a mention sees it."""

    id: int
    name: str
    email: str | None = None


@dataclass(frozen=True)
class Mention:
    """One "@name" in a comment's text: who, and where (body[start:end] is "@name")."""

    staff_id: int
    name: str
    start: int
    end: int


@dataclass(frozen=True)
class Mentions:
    """What a text mentions: every resolved occurrence, and the names no person matched."""

    found: tuple[Mention, ...] = ()
    unknown: tuple[str, ...] = ()

    @property
    def people(self) -> list[int]:
        """The mentioned people, each once, in order of first mention."""
        return list(dict.fromkeys(m.staff_id for m in self.found))


def _ascii_word_char(c: str) -> bool:
    return c.isascii() and (c.isalnum() or c == "_")


def _ends_there(name: str, rest: str) -> bool:
    """Whether a name that `rest` starts with is a whole name there: "@Amy" is not "@Amyra";
    Chinese runs on without spaces, so "@王芳你好" mentions 王芳."""
    after = rest[len(name):len(name) + 1]
    return not after or not (_ascii_word_char(after) and _ascii_word_char(name[-1]))


def parse_mentions(text: str, lookup: Callable[[str], Iterable[Person]],
                   by_email: Callable[[str], Person | None]) -> Mentions:
    """The mentions in `text`. `lookup(prefix)` returns the people whose name starts with
    `prefix` (case aside); `by_email(address)` the person with that address. Of names that
    fit, the longest wins ("@Amy An" is Amy An, not Amy)."""
    found: list[Mention] = []
    unknown: list[str] = []
    for at in _AT.finditer(text):
        i = at.start()
        rest = text[i + 1:]
        email = _EMAIL.match(rest)
        if email:
            person = by_email(email.group())
            if person is not None:
                found.append(Mention(person.id, person.name, i, i + 1 + email.end()))
            else:
                unknown.append(email.group())
            continue
        word = _WORD.match(rest)
        if not word:
            continue  # a lone "@"
        folded = rest.casefold()
        best = None
        for p in lookup(word.group()[:2]):
            name = p.name.strip()
            if name and folded.startswith(name.casefold()) and _ends_there(name, rest) and \
                    (best is None or len(name) > len(best.name)):
                best = Person(p.id, name, p.email)
        if best is None:
            unknown.append(word.group())
        else:
            found.append(Mention(best.id, best.name, i, i + 1 + len(best.name)))
    return Mentions(tuple(found), tuple(dict.fromkeys(unknown)))


def segments(body: str, mentions: Sequence[Mention]) -> list[tuple[str, Mention | None]]:
    """The text cut into plain runs and mentions, for a page to show mentions as chips."""
    out: list[tuple[str, Mention | None]] = []
    pos = 0
    for m in sorted(mentions, key=lambda m: m.start):
        if m.start < pos or body[m.start:m.start + 1] != "@" or m.end > len(body):
            continue  # offsets from another text: show it plain
        if m.start > pos:
            out.append((body[pos:m.start], None))
        out.append((body[m.start:m.end], m))
        pos = m.end
    if pos < len(body):
        out.append((body[pos:], None))
    return out


# -- comments ---------------------------------------------------------------------------------

@dataclass(frozen=True)
class Comment:
    """A comment as a page shows it."""

    id: int
    record_type: str
    record_id: int
    body: str
    author: int | None  # the author's record of the users type (None: a rule, an admin)
    author_name: str
    rule: str | None
    created_at: datetime
    mentions: tuple[Mention, ...] = ()
    edited: bool = False


@dataclass(frozen=True)
class Posted:
    """What adding (or editing) a comment did: who was notified and who was not, and why."""

    comment: Comment
    notified: tuple[Mention, ...] = ()
    no_account: tuple[Mention, ...] = ()  # mentioned people who cannot sign in
    no_access: tuple[Mention, ...] = ()  # mentioned people who may not read the record
    unknown: tuple[str, ...] = ()  # "@names" that matched nobody the author may see


class Comments:
    """Add, list, edit and delete comments on records, as an actor."""

    def __init__(self, records: Records, accounts: Accounts | None = None):
        self.records = records
        self.engine = records.engine
        self.schema = records.schema
        self.ws = records.schema.workspace
        self.accounts = accounts or Accounts(records.engine)
        self.table = records.schema.system["lr_comments"]
        self.notifications = records.schema.system["lr_notifications"]
        self.mentions_table = records.schema.system["lr_comment_mentions"]
        self.trail_table = records.schema.system["lr_comment_trail"]
        self._ready = False

    def ensure_tables(self) -> None:
        """Make sure the accounts table exists (the comments' own tables are migrated)."""
        if not self._ready:
            self.accounts.ensure_table()
            self._ready = True

    # -- people ---------------------------------------------------------------------------
    def people(self, prefix: str, actor: Actor | None, *, limit: int = 8) -> list[Person]:
        """People of the users type whose name starts with `prefix`, among those `actor` may
        see (every one when the actor is None), by name."""
        users = self.ws.users_type
        if not users or not prefix.strip():
            return []
        rt = self.ws.type(users)
        title = rt.title_field
        email = self._email_field()
        cond = {"field": title, "op": "starts_with", "value": prefix.strip()}
        try:
            with self.engine.connect() as conn:
                rows = query.list_records(conn, self.schema, users, filter=cond,
                                          fields=[title] + ([email] if email else []),
                                          sort=[title], limit=limit, ctx=actor).rows
        except (Forbidden, FilterError):  # a role that may not read staff mentions nobody
            return []
        return [Person(r["id"], str(r.get(title) or ""), r.get(email) if email else None)
                for r in rows]

    def _email_field(self) -> str | None:
        rt = self.ws.type(self.ws.users_type)
        return next((f.name for f in rt.fields.values() if f.kind.email_address), None)

    def _by_email(self, address: str, actor: Actor | None) -> Person | None:
        """The person with this e-mail (their record's, or their account's), if the actor
        may see them."""
        users = self.ws.users_type
        rt = self.ws.type(users)
        address = address.strip().lower()
        ids: list[int] = []
        email = self._email_field()
        with self.engine.connect() as conn:
            if email:
                t = self.schema.table(users)
                ids += conn.execute(sa.select(t.c.id).where(
                    sa.func.lower(t.c[email]) == address).limit(5)).scalars().all()
            u = self.accounts.table
            ids += conn.execute(sa.select(u.c.staff_id).where(
                u.c.email == address, u.c.staff_id.is_not(None))).scalars().all()
            pol = access.policy(self.ws, actor)
            if pol is not None:
                try:
                    pol.require("read", users)
                except Forbidden:
                    return None
                seen = pol.ids_in_scope(conn, self.schema, users, ids)
                ids = [i for i in ids if i in seen]
            if not ids:
                return None
            t = self.schema.table(users)
            name = conn.execute(sa.select(t.c[rt.title_field]).where(t.c.id == ids[0])
                                ).scalar_one_or_none()
        return Person(ids[0], str(name or address), address)

    def mentions(self, text: str, actor: Actor | None) -> Mentions:
        """The people `text` mentions, among those `actor` may see."""
        if not self.ws.users_type:
            return Mentions()
        self.ensure_tables()
        return parse_mentions(text, lambda prefix: self.people(prefix, actor, limit=200),
                              lambda address: self._by_email(address, actor))

    # -- reading --------------------------------------------------------------------------
    def _readable(self, type_name: str, record_id: int, actor: Actor) -> dict[str, Any]:
        """The record as the actor sees it: Forbidden / NotFound as for the record itself."""
        return self.records.get(type_name, record_id, actor=actor)

    def list(self, type_name: str, record_id: int, actor: Actor) -> list[Comment]:
        """The record's comments, oldest first (people's and rules'), if `actor` may read it."""
        self._readable(type_name, record_id, actor)
        return self._list(type_name, record_id)

    def _list(self, type_name: str, record_id: int, ids: Iterable[int] | None = None
              ) -> list[Comment]:
        self.ensure_tables()
        c, m = self.table, self.mentions_table
        stmt = sa.select(c).where(c.c.record_type == type_name, c.c.record_id == record_id)
        if ids is not None:
            stmt = stmt.where(c.c.id.in_(list(ids)))
        with self.engine.connect() as conn:
            rows = conn.execute(stmt.order_by(c.c.id)).mappings().all()
            found = [r["id"] for r in rows]
            by_comment: dict[int, list[Mention]] = {}
            edited: set[int] = set()
            if found:
                for r in conn.execute(sa.select(m).where(m.c.comment_id.in_(found))
                                      .order_by(m.c.start)).mappings():
                    by_comment.setdefault(r["comment_id"], []).append(
                        Mention(r["staff_id"], r["name"], r["start"], r["end"]))
                t = self.trail_table
                edited = set(conn.execute(sa.select(t.c.comment_id).where(
                    t.c.record_type == type_name, t.c.record_id == record_id,
                    t.c.action == "edited")).scalars())
        return [Comment(r["id"], r["record_type"], r["record_id"], r["body"], r["author"],
                        r["author_name"] or "", r["rule"], r["created_at"],
                        tuple(by_comment.get(r["id"], ())), r["id"] in edited) for r in rows]

    def get(self, comment_id: int, actor: Actor) -> Comment:
        """One comment, if `actor` may read its record; NotFound otherwise."""
        c = self.table
        with self.engine.connect() as conn:
            row = conn.execute(sa.select(c.c.record_type, c.c.record_id)
                               .where(c.c.id == comment_id)).first()
        if row is None:
            raise NotFound(f"comment #{comment_id} does not exist")
        self._readable(row.record_type, row.record_id, actor)
        return self._list(row.record_type, row.record_id, [comment_id])[0]

    def trail(self, type_name: str, record_id: int, actor: Actor) -> list[dict[str, Any]]:
        """What edits and deletes replaced, newest first, if `actor` may read the record."""
        self._readable(type_name, record_id, actor)
        self.ensure_tables()
        t = self.trail_table
        with self.engine.connect() as conn:
            return [dict(r) for r in conn.execute(sa.select(t).where(
                t.c.record_type == type_name, t.c.record_id == record_id)
                .order_by(t.c.id.desc())).mappings()]

    # -- writing --------------------------------------------------------------------------
    @staticmethod
    def check_text(body: str | None) -> str:
        """The text to store (as typed, trailing blanks trimmed), or CommentError."""
        text = (body or "").rstrip()
        if not text.strip():
            raise CommentError("empty", "write something before sending the comment")
        if len(text) > MAX_LENGTH:
            raise CommentError("too_long", f"a comment has at most {MAX_LENGTH} characters; "
                                           f"this one has {len(text)}")
        if "\x00" in text:
            raise CommentError("not_text", "the comment holds a NUL character; remove it")
        return text

    def add(self, type_name: str, record_id: int, body: str, actor: Actor, *,
            notice: Callable[[Comment], str] | None = None) -> Posted:
        """Add a comment as `actor` (who must be able to read the record) and notify the
        people it mentions who may read the record. `notice(comment)` words the inbox title."""
        text = self.check_text(body)
        self._readable(type_name, record_id, actor)
        self.ensure_tables()
        found = self.mentions(text, actor)
        now = actor.now()
        c = self.table
        with write_transaction(self.engine) as conn:
            cid = conn.execute(c.insert().values(
                record_type=type_name, record_id=record_id, body=text, author=actor.user,
                author_name=actor.name, rule=None, created_at=now).returning(c.c.id)
            ).scalar_one()
            comment = Comment(cid, type_name, record_id, text, actor.user, actor.name, None,
                              now, found.found)
            posted = self._mention(conn, comment, found, actor, notice, set())
        return posted

    def _mention(self, conn: sa.Connection, comment: Comment, found: Mentions, actor: Actor,
                 notice: Callable[[Comment], str] | None, already: set[int]) -> Posted:
        """Store the comment's mentions and notify the readers among them (not the author,
        nor those in `already`, notified by an earlier version of the comment)."""
        now = actor.now()
        people = [p for p in found.people if p != actor.user]
        readers, no_account, no_access = self._readers(conn, comment.record_type,
                                                        comment.record_id, people)
        to_notify = [p for p in readers if p not in already]
        title = (notice(comment) if notice else
                 f"{comment.author_name} mentioned you in a comment")[:255]
        live_feed.note(conn, comment.record_type, comment.record_id, "comment", actor)
        if to_notify:
            live_feed.note_notices(conn, to_notify)
            conn.execute(self.notifications.insert(), [
                dict(user_id=p, rule=None, record_type=comment.record_type,
                     record_id=comment.record_id, title=title, body=comment.body,
                     created_at=now)
                for p in to_notify])
        if found.found:
            conn.execute(self.mentions_table.insert(), [
                dict(comment_id=comment.id, staff_id=m.staff_id, name=m.name, start=m.start,
                     end=m.end, notified=m.staff_id in readers) for m in found.found])

        def once(ids: Iterable[int]) -> tuple[Mention, ...]:
            """The first mention of each of these people."""
            wanted, out = set(ids), []
            for m in found.found:
                if m.staff_id in wanted:
                    out.append(m)
                    wanted.discard(m.staff_id)
            return tuple(out)

        return Posted(comment, once(to_notify), once(no_account), once(no_access),
                      found.unknown)

    def audience(self, type_name: str, record_id: int, people: Sequence[int]
                 ) -> dict[int, str]:
        """How a mention would reach each of these people: "reader" (notified), "no_account"
        or "no_access" (may not read the record)."""
        self.ensure_tables()
        with self.engine.connect() as conn:
            readers, no_account, no_access = self._readers(conn, type_name, record_id, people)
        return {**{p: "reader" for p in readers}, **{p: "no_account" for p in no_account},
                **{p: "no_access" for p in no_access}}

    def _readers(self, conn: sa.Connection, type_name: str, record_id: int,
                 people: Sequence[int]) -> tuple[list[int], list[int], list[int]]:
        """Of these people: those with an active account who may read the record, those
        without an account, and those whose roles may not read it."""
        if not people:
            return [], [], []
        u = self.accounts.table
        accounts: dict[int, list] = {}
        for row in conn.execute(sa.select(u.c.staff_id, u.c.name, u.c.roles).where(
                u.c.staff_id.in_(list(people)), u.c.active.is_(True))).mappings():
            accounts.setdefault(row["staff_id"], []).append(row)
        readers, no_account, no_access = [], [], []
        for p in people:
            if p not in accounts:
                no_account.append(p)
            elif any(self._may_read(conn, Actor(user=p, name=a["name"],
                                                roles=frozenset(a["roles"] or ())),
                                    type_name, record_id) for a in accounts[p]):
                readers.append(p)
            else:
                no_access.append(p)
        return readers, no_account, no_access

    def _may_read(self, conn: sa.Connection, who: Actor, type_name: str, record_id: int
                  ) -> bool:
        pol = access.policy(self.ws, who)
        if pol is None:
            return True
        return pol.may("read", type_name) and record_id in pol.ids_in_scope(
            conn, self.schema, type_name, [record_id])

    def _own(self, comment_id: int, actor: Actor, *, admins: bool) -> Comment:
        """The comment, if `actor` wrote it (or, with `admins`, is an admin) and may still
        read its record."""
        comment = self.get(comment_id, actor)
        if not (self.may_delete if admins else self.may_edit)(comment, actor):
            raise Forbidden("you may change only your own comments")
        return comment

    def may_edit(self, comment: Comment, actor: Actor) -> bool:
        """Whether `actor` may change the text of this comment (its author only)."""
        return comment.rule is None and actor.user is not None and comment.author == actor.user

    def may_delete(self, comment: Comment, actor: Actor) -> bool:
        """Whether `actor` may delete this comment (its author, or an admin)."""
        return self.may_edit(comment, actor) or access.policy(self.ws, actor) is None

    def edit(self, comment_id: int, body: str, actor: Actor, *,
             notice: Callable[[Comment], str] | None = None) -> Posted:
        """Change the text of one's own comment (nobody else's, not even an admin's); the old
        text goes to the trail. People newly mentioned are notified, not those before."""
        text = self.check_text(body)
        old = self._own(comment_id, actor, admins=False)
        found = self.mentions(text, actor)
        with write_transaction(self.engine) as conn:
            self._keep(conn, old, "edited", actor)
            conn.execute(self.table.update().where(self.table.c.id == comment_id)
                         .values(body=text))
            m = self.mentions_table
            before = set(conn.execute(sa.select(m.c.staff_id).where(
                m.c.comment_id == comment_id, m.c.notified.is_(True))).scalars())
            conn.execute(m.delete().where(m.c.comment_id == comment_id))
            comment = Comment(old.id, old.record_type, old.record_id, text, old.author,
                              old.author_name, None, old.created_at, found.found, True)
            return self._mention(conn, comment, found, actor, notice, before)

    def delete(self, comment_id: int, actor: Actor) -> Comment:
        """Delete one's own comment (admins: any); its text stays in the trail."""
        old = self._own(comment_id, actor, admins=True)
        with write_transaction(self.engine) as conn:
            self._keep(conn, old, "deleted", actor)
            m = self.mentions_table
            conn.execute(m.delete().where(m.c.comment_id == comment_id))
            conn.execute(self.table.delete().where(self.table.c.id == comment_id))
            live_feed.note(conn, old.record_type, old.record_id, "comment", actor)
        return old

    def _keep(self, conn: sa.Connection, old: Comment, action: str, actor: Actor) -> None:
        conn.execute(self.trail_table.insert().values(
            comment_id=old.id, record_type=old.record_type, record_id=old.record_id,
            action=action, body=old.body, actor=actor.user, actor_name=actor.name,
            at=actor.now()))
