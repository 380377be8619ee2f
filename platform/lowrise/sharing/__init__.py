"""Sharing outside the app: public forms that capture leads without a sign-in, per-person
iCalendar feeds of calendar views, and read-only links to a view (docs/sharing.md).

Each holds the permissions model: a public form writes only the fields its YAML declares,
through Records.create as its own actor, so the rules treat its records as any other; a feed
reads as its owner's Actor, a share link as its sharer's (their roles at the time of reading,
narrowed to one of them when the sharer chose), masks and all. No Flask here: the web layer
(web/public_forms.py, web/shared.py, web/sharing.py) only parses requests and renders.
"""
