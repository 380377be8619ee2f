"""Builders for the sharing tests: the flagship app with a small sales office (a manager,
two consultants in two teams, the admin), signing in as each, filling in a public form as a
visitor would (its page read, its CSRF token and opening time posted back), and reading the
new-token boxes of the sharing pages."""

from __future__ import annotations

import re
import time
from pathlib import Path

from itsdangerous import TimestampSigner, URLSafeTimedSerializer

from lowrise.web import public_forms
from test_web_support import PASSWORD, SYSTEM_ACTOR, AuthActions, build_app

ROOT = Path(__file__).resolve().parents[1]


class Office:
    """The flagship app with Boss (manager of team A), Amy (consultant, team A), Ben
    (consultant, team B, the only other active consultant) and Ada (admin)."""

    def __init__(self, app):
        self.app = app
        self.run = run = app.extensions["lowrise"]
        mk = lambda t, **v: run.records.create(t, v, SYSTEM_ACTOR)  # noqa: E731
        ada = run.accounts.by_email("ada@example.com")
        run.records.update("staff", ada.staff_id, {"role": "admin"}, SYSTEM_ACTOR)
        self.boss = mk("staff", name="Boss Bai", role="manager", team="team_a",
                       employee_no="M-01")
        self.amy = mk("staff", name="Amy An", role="consultant", team="team_a",
                      manager=self.boss["id"], employee_no="C-01")
        self.ben = mk("staff", name="Ben Bo", role="consultant", team="team_b",
                      employee_no="C-02")
        for consultant in (self.amy, self.ben):  # through onboarding: they get leads
            mk("training", staff=consultant["id"], kind="onboarding", course="楼盘及户型知识",
               date="2026-11-02", passed=True)
        self.accounts = {"admin": ada}
        for role, staff in (("manager", self.boss), ("consultant", self.amy),
                            ("other", self.ben)):
            self.accounts[role] = run.accounts.add(
                f"{role}@example.com", PASSWORD, name=staff["name"], staff_id=staff["id"],
                roles=["consultant" if role == "other" else role])

    @property
    def sharing(self):
        return self.app.extensions["lowrise_sharing"]

    def client(self, who: str, locale: str = "zh"):
        """A signed-in test client (and its AuthActions) of one of the office's accounts."""
        c = self.app.test_client()
        auth = AuthActions(c)
        assert auth.login(email=self.accounts[who].email).status_code == 302
        c.get(f"/locale/{locale}")
        return c, auth


def office_app(tmp_path, db_url, extra: dict[str, str] | None = None, **config):
    """The office on the flagship (with `extra` workspace files, {path: YAML}, added)."""
    from lowrise.templates import workspace_files
    from lowrise.workspace import load_workspace, load_workspace_from_texts

    if not extra:
        return Office(build_app(tmp_path, db_url, load_workspace(ROOT), **config))
    texts = {rel: data.decode("utf-8") for rel, data in workspace_files(ROOT).items()
             if rel.endswith((".yaml", ".yml"))}
    ws = load_workspace_from_texts({**texts, **extra}, root=ROOT)
    return Office(build_app(tmp_path, db_url, ws, **config))


def opened_ago(app, view: str, seconds: float) -> str:
    """The signed opening time of a public form's page, `seconds` ago."""
    class Past(TimestampSigner):
        def get_timestamp(self) -> int:
            return int(time.time() - seconds)

    return URLSafeTimedSerializer(app.config["SECRET_KEY"], salt=public_forms.SALT,
                                  signer=Past).dumps(view)


def hidden(html: str, name: str) -> str:
    m = re.search(rf'name="{name}"[^>]*value="([^"]*)"', html) or \
        re.search(rf'value="([^"]*)"[^>]*name="{name}"', html)
    assert m, f"no {name} on the page"
    return m.group(1)


def fill(app, client, url: str, values: dict, *, after: float | None = 10,
         addr: str = "127.0.0.1", **extra):
    """Open a public form's page and send it with `values` ({path: value}) from address
    `addr`, as if the visitor took `after` seconds (None: as the page says, i.e. at once);
    returns the response to the post."""
    env = {"REMOTE_ADDR": addr}
    page = client.get(url, environ_base=env)
    assert page.status_code == 200, page.status_code
    data = {"csrf_token": hidden(page.text, "csrf_token"), **extra}
    data["opened"] = (opened_ago(app, form_name(app, url), after) if after is not None
                      else hidden(page.text, "opened"))
    data.update({"f_" + k.replace(".", "__"): v for k, v in values.items()})
    return client.post(url, data=data, environ_base=env)


def form_name(app, url: str) -> str:
    token = url.split("/f/", 1)[1].split("?")[0].split("/")[0]
    run = app.extensions["lowrise"]
    with app.app_context():
        return app.extensions["lowrise_sharing"].forms.form_of(run.workspace, token).name


def new_url(html: str, box: str) -> str:
    """The URL a sharing page shows once, in the box with this id."""
    m = re.search(rf'id="{box}">([^<]+)<', html)
    assert m, f"no {box} on the page"
    return m.group(1).replace("http://localhost", "")


VIEWING = {"client.name": "王五", "client.phone": "13912345678", "client.desired_layout": "3br",
           "viewing_preferred_at": "2026-12-20T10:00", "notes": "周末带家人来"}
