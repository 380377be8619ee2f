"""The import pages: upload, the column mapping and preview (htmx), the choice of all or
nothing or only the valid rows, the background run with its progress, the refused rows."""

from __future__ import annotations

import io
import re
import time

import pytest

pytest_plugins = ["test_web_support"]

CSV = ("姓名,手机,来源,Extra\n张三,13800000001,转介绍,x\n李四,13800000002,Walk-in,y\n"
       "Bad,not-a-phone,,z\n").encode("gbk")


def upload(auth, data=CSV, name="clients.csv"):
    return auth.post("/r/client/import", data={"file": (io.BytesIO(data), name)},
                     content_type="multipart/form-data")


def test_upload_preview_and_import_valid_rows(client, signed_in, run):
    resp = upload(signed_in)
    assert resp.status_code == 302
    url = resp.headers["Location"]
    page = client.get(url).text
    assert "3 rows: 2 ready to import, 1 will be refused." in page
    assert "转介绍" in page or "Referral" in page          # stored as the option, shown by label
    assert "not-a-phone" not in page.split("Rows that will be refused")[0]
    assert re.search(r"<td>4</td><td>Mobile: .*not a phone", page)
    # re-map: skip the phone column -> every row valid (phone is optional)
    part = signed_in.hx("POST", url, data={"map": ["name", "", "source", ""], "mode": "valid",
                                           "run_hooks": "1"})
    assert part.status_code == 200 and 'id="import-preview"' in part.text
    assert "<html" not in part.text and "3 ready to import, 0 will be refused" in part.text
    signed_in.hx("POST", url, data={"map": ["name", "phone", "source", ""], "mode": "valid"})
    job_id = int(url.rsplit("/", 1)[1])
    refused = client.get(f"/imports/{job_id}/refused.csv")
    assert "not-a-phone" in refused.get_data().decode("utf-8-sig")
    started = signed_in.post(f"/imports/{job_id}/start")
    assert started.status_code == 302
    for _ in range(100):
        prog = signed_in.hx("GET", url)
        if "Imported" in prog.text:
            break
        assert "<progress" in prog.text
        time.sleep(0.1)
    assert "Imported 2 records." in prog.text and "1 row(s) were refused." in prog.text
    assert 'hx-trigger="every 1s"' not in prog.text
    names = sorted(r["name"] for r in _clients(run))
    assert names == ["张三", "李四"]


def test_all_or_nothing_imports_nothing(client, signed_in, run):
    url = upload(signed_in).headers["Location"]
    signed_in.post(url.rsplit("/", 1)[0] + "/" + url.rsplit("/", 1)[1] + "/start")
    for _ in range(100):
        page = client.get(url).text
        if "Nothing was imported" in page:
            break
        time.sleep(0.1)
    assert "Nothing was imported: 1 row(s) were refused." in page
    assert _clients(run) == []


def test_uploads_are_checked(client, signed_in):
    assert upload(signed_in, name="clients.pdf").status_code == 400
    resp = upload(signed_in, data=b"a,b\n1,2\n")
    page = client.get(resp.headers["Location"]).text
    assert "no column matches a field" in page


def test_another_persons_import_is_not_found(client, signed_in, run):
    url = upload(signed_in).headers["Location"]
    run.accounts.add("bob@example.com", "correct horse battery", name="Bob")
    signed_in.logout()
    signed_in.login("bob@example.com")
    assert client.get(url).status_code == 404


def _clients(run):
    import sqlalchemy as sa

    t = run.schema.table("client")
    with run.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(t)).mappings()]


@pytest.fixture(autouse=True)
def _quiet_rules(app):
    yield
