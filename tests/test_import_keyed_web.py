"""The import page onto existing records: choose update or upsert and the key field, the
preview's table of what changes per row (in the reader's language), the run's counts."""

from __future__ import annotations

import time

from test_import_web import _clients, settled, upload
from test_web_support import make_record

pytest_plugins = ["test_web_support"]

EDITED = "手机,姓名,来源\n13800000001,张三丰,Walk-in\n13800000002,李四,\n13800000009,王五,\n"


def _started(signed_in, client, url):
    job_id = int(url.rsplit("/", 1)[1])
    signed_in.post(f"/imports/{job_id}/start")
    for _ in range(200):
        page = client.get(url).text
        if "Updated" in page or "更新了" in page or "Nothing was imported" in page:
            return page
        time.sleep(0.1)
    return page


def test_update_by_phone_shows_the_changes_and_applies_them(client, signed_in, run):
    make_record(run, "client", name="张三", phone="13800000001", source="referral")
    make_record(run, "client", name="李四", phone="13800000002")
    url = upload(signed_in, data=EDITED.encode("utf-8")).headers["Location"]
    settled(client, url)
    signed_in.hx("POST", url, data={"op": "update", "key": "phone", "mode": "valid",
                                    "map": ["phone", "name", "source"]})
    page = settled(client, url).text
    assert ("3 rows: 1 records will change, 0 will be created, 1 rows change nothing, "
            "1 will be refused.") in page
    changes = page.split('class="grid import-changes"')[1].split("</table>")[0]
    assert "<td>2</td>" in changes and "张三 → 张三丰" in changes
    assert "Referral" in changes and "Walk-in" in changes
    assert "13800000009" in page.split("Rows that will be refused")[1]
    client.get("/locale/zh")
    zh = client.get(url).text
    assert "1 条记录将被修改" in zh and "到访" in zh
    client.get("/locale/en")
    done = _started(signed_in, client, url)
    assert "Updated 1 records and created 0." in done and "1 row(s) were refused." in done
    rows = sorted((r["name"], r["source"]) for r in _clients(run))
    assert rows == [("张三丰", "walk_in"), ("李四", None)]


def test_upsert_creates_what_it_does_not_find(client, signed_in, run):
    make_record(run, "client", name="张三", phone="13800000001")
    url = upload(signed_in, data=EDITED.encode("utf-8")).headers["Location"]
    settled(client, url)
    signed_in.hx("POST", url, data={"op": "upsert", "key": "phone", "mode": "all",
                                    "map": ["phone", "name", "source"]})
    page = settled(client, url).text
    assert "1 records will change, 2 will be created" in page and "A new record" in page
    done = _started(signed_in, client, url)
    assert "Updated 1 records and created 2." in done
    assert sorted(r["name"] for r in _clients(run)) == ["张三丰", "李四", "王五"]


def test_a_key_that_cannot_find_records_falls_back_to_id(client, signed_in, run):
    rec = make_record(run, "client", name="张三", phone="13800000001")
    data = f"ID,姓名\n{rec['id']},张三三\n".encode()
    url = upload(signed_in, data=data).headers["Location"]
    settled(client, url)
    signed_in.hx("POST", url, data={"op": "update", "key": "source", "mode": "all"})
    page = settled(client, url).text
    assert 'value="id" selected' in page and "1 records will change" in page
    assert "Updated 1 records" in _started(signed_in, client, url)
    assert [r["name"] for r in _clients(run)] == ["张三三"]
