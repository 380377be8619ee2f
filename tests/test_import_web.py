"""The import pages: upload, the column mapping and preview (htmx), the choice of all or
nothing or only the valid rows, the background run with its progress, the refused rows; a
preview worked out once per mapping and kept; files that cannot be imported told on the
upload form; an import whose server stopped marked failed and tried again."""

from __future__ import annotations

import io
import re
import socket
import subprocess
import sys
import time

import pytest
import sqlalchemy as sa
from markupsafe import escape

from lowrise import importer, sheets

pytest_plugins = ["test_web_support"]

CSV = ("姓名,手机,来源,Extra\n张三,13800000001,转介绍,x\n李四,13800000002,Walk-in,y\n"
       "Bad,not-a-phone,,z\n").encode("gbk")
POLLING = 'hx-trigger="every 1s"'


def upload(auth, data=CSV, name="clients.csv"):
    return auth.post("/r/client/import", data={"file": (io.BytesIO(data), name)},
                     content_type="multipart/form-data")


def settled(client, url, *, seconds=60):
    """The import page once nothing is being worked out in the background any more."""
    deadline = time.monotonic() + seconds
    while True:
        page = client.get(url)
        if POLLING not in page.text or time.monotonic() > deadline:
            return page
        time.sleep(0.1)


def test_upload_preview_and_import_valid_rows(client, signed_in, run):
    resp = upload(signed_in)
    assert resp.status_code == 302
    url = resp.headers["Location"]
    page = settled(client, url).text
    assert "3 rows: 2 ready to import, 1 will be refused." in page
    assert "转介绍" in page or "Referral" in page          # stored as the option, shown by label
    assert "not-a-phone" not in page.split("Rows that will be refused")[0]
    assert re.search(r"<td>4</td><td>Mobile .*not-a-phone.* is not a phone", page)
    # re-map: skip the phone column -> every row valid (phone is optional)
    part = signed_in.hx("POST", url, data={"map": ["name", "", "source", ""], "mode": "valid",
                                           "run_hooks": "1"})
    assert part.status_code == 200 and 'id="import-job"' in part.text
    assert "<html" not in part.text
    assert "3 ready to import, 0 will be refused" in settled(client, url).text
    signed_in.hx("POST", url, data={"map": ["name", "phone", "source", ""], "mode": "valid"})
    assert "2 ready to import, 1 will be refused" in settled(client, url).text
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
    assert POLLING not in prog.text
    names = sorted(r["name"] for r in _clients(run))
    assert names == ["张三", "李四"]


def test_all_or_nothing_imports_nothing(client, signed_in, run):
    url = upload(signed_in).headers["Location"]
    settled(client, url)
    signed_in.post(url + "/start")
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
    page = settled(client, resp.headers["Location"]).text
    assert "no column matches a field" in page


def test_another_persons_import_is_not_found(client, signed_in, run):
    url = upload(signed_in).headers["Location"]
    run.accounts.add("bob@example.com", "correct horse battery", name="Bob")
    signed_in.logout()
    signed_in.login("bob@example.com")
    assert client.get(url).status_code == 404


# -- files that cannot be imported ------------------------------------------------------------

def _job(run, url):
    return run_jobs(run).get(int(url.rsplit("/", 1)[1]))


def run_jobs(run):
    from lowrise.importjobs import ImportJobs

    return ImportJobs(run.engine)


def _last_job(run):
    jobs = run_jobs(run)
    jobs.ensure_table()
    with run.engine.connect() as conn:
        jid = conn.execute(sa.select(sa.func.max(jobs.table.c.id))).scalar_one()
    return jobs.get(jid)


@pytest.mark.parametrize(("data", "name", "zh"), [
    (b"", "empty.csv", "文件中没有任何数据行"),
    (b"\n ,\n,,\n", "blank.csv", "文件中没有任何数据行"),
    (b"PK\x03\x04garbage", "damaged.xlsx", "该文件不是可读取的 Excel 工作簿（.xlsx）"),
])
def test_an_empty_or_damaged_file_is_told_on_the_upload_form(client, signed_in, run, data,
                                                             name, zh):
    client.get("/locale/zh")
    resp = upload(signed_in, data=data, name=name)
    assert resp.status_code == 400, resp.headers.get("Location")
    assert zh in resp.text and 'type="file" name="file"' in resp.text
    job = _last_job(run)
    assert job.status == "failed" and job.file_name == name
    assert client.get(f"/imports/{job.id}").status_code == 400  # the same, when looked again


def test_a_file_over_the_row_limit_fails_its_import_with_the_reason(client, signed_in, run,
                                                                   monkeypatch):
    monkeypatch.setattr(sheets, "MAX_ROWS", 5)
    rows = "".join(f"客户{i},1380000{i:04d}\n" for i in range(8))
    resp = upload(signed_in, data=("姓名,手机\n" + rows).encode())
    assert resp.status_code == 302  # its first rows are fine: the rest is read in the background
    url = resp.headers["Location"]
    client.get("/locale/zh")
    page = settled(client, url)
    assert page.status_code == 400
    assert "文件超过 5 行；一次最多导入 5 行" in page.text
    assert 'type="file" name="file"' in page.text
    assert _job(run, url).status == "failed"
    assert _clients(run) == []


# -- the preview: worked out once per mapping, kept, capped -----------------------------------

def test_the_preview_is_worked_out_once_per_mapping(client, signed_in, run, monkeypatch):
    reads = []
    real = importer.read_file

    def counting(path, **kw):
        reads.append(path)
        return real(path, **kw)

    monkeypatch.setattr(importer, "read_file", counting)
    body = "".join(f"客户{i},not-a-phone-{i}\n" for i in range(150))
    url = upload(signed_in, data=("姓名,手机\n" + body).encode()).headers["Location"]
    page = settled(client, url).text
    job_id = int(url.rsplit("/", 1)[1])
    for _ in range(3):
        assert "150 rows: 0 ready to import, 150 will be refused." in client.get(url).text
        assert client.get(f"/imports/{job_id}/refused.csv").status_code == 200
    assert len(reads) == 1
    # the page shows a sample; the counts and the downloadable rows are complete
    assert page.count("<tr><td>") == 100 and "and 50 more" in page
    csv_rows = client.get(f"/imports/{job_id}/refused.csv").get_data().decode("utf-8-sig")
    assert len(csv_rows.strip().splitlines()) == 151
    signed_in.hx("POST", url, data={"map": ["name", ""], "mode": "all"})
    assert "150 rows: 150 ready to import, 0 will be refused." in settled(client, url).text
    assert len(reads) == 2
    signed_in.hx("POST", url, data={"map": ["name", ""], "mode": "valid"})  # same mapping
    assert len(reads) == 2


def test_refused_rows_are_told_in_the_readers_language(client, signed_in):
    url = upload(signed_in).headers["Location"]
    settled(client, url)
    client.get("/locale/zh")
    page = client.get(url).text
    assert str(escape("手机：“not-a-phone”")) in page
    job_id = int(url.rsplit("/", 1)[1])
    text = client.get(f"/imports/{job_id}/refused.csv").get_data().decode("utf-8-sig")
    assert "手机：“not-a-phone”" in text
    client.get("/locale/en")
    text = client.get(f"/imports/{job_id}/refused.csv").get_data().decode("utf-8-sig")
    assert "Mobile 'not-a-phone' is not a phone number" in text


# -- an import whose server stopped -----------------------------------------------------------

def _dead_pid() -> int:
    proc = subprocess.Popen([sys.executable, "-c", "pass"])
    proc.wait()
    return proc.pid


def test_an_import_whose_server_stopped_is_failed_and_can_be_tried_again(client, signed_in,
                                                                        run):
    url = upload(signed_in).headers["Location"]
    settled(client, url)
    signed_in.post(url, data={"map": ["name", "phone", "source", ""], "mode": "valid",
                              "run_hooks": "1"})
    settled(client, url)
    job = _job(run, url)
    # as a server killed while writing leaves it: "writing", owned by a process now gone
    run_jobs(run).update(job.id, status="writing", total=3, done=2,
                         owner=f"{socket.gethostname()}:{_dead_pid()}:gone")
    client.get("/locale/zh")
    page = client.get(url).text
    assert "导入失败：导入过程中服务器停止了运行；没有写入任何记录" in page
    assert POLLING not in page and "再试一次" in page
    assert _job(run, url).status == "failed"
    assert signed_in.post(url + "/start").status_code == 302  # Start does nothing now
    assert _job(run, url).status == "failed"
    again = signed_in.post(url + "/retry")
    assert again.status_code == 302
    page = settled(client, url).text
    assert "共 3 行：2 行可以导入，1 行将被拒绝。" in page
    signed_in.post(url + "/start")
    for _ in range(100):
        if _job(run, url).finished:
            break
        time.sleep(0.1)
    assert _job(run, url).status == "done"
    assert sorted(r["name"] for r in _clients(run)) == ["张三", "李四"]


def _clients(run):
    t = run.schema.table("client")
    with run.engine.connect() as conn:
        return [dict(r) for r in conn.execute(sa.select(t)).mappings()]


# -- a real server, killed in the middle of an import -----------------------------------------

SERVER = """
import sys, time
sys.path[:0] = [{platform!r}, {tests!r}]
from werkzeug.serving import make_server
import test_web_support as support
from lowrise.actor import SYSTEM
from lowrise.web import create_app

ws = support.make_workspace()
app = create_app({{"TESTING": True, "SECRET_KEY": "test-secret", "LOWRISE_WORKSPACE": ws,
                  "DATABASE_URL": {url!r}, "LOWRISE_INSTANCE": {instance!r},
                  "LOWRISE_NULL_POOL": True}})
run = app.extensions["lowrise"]
if {first!r}:
    staff = run.records.create("staff", {{"name": "Ada Admin"}}, SYSTEM)
    run.accounts.add("ada@example.com", support.PASSWORD, name="Ada Admin", roles=["admin"],
                     staff_id=staff["id"])

    def stall(conn, change, actor, recs):  # the records are in, not yet committed
        open({marker!r}, "w").write("writing")
        time.sleep(600)

    run.records.hooks.append(stall)
srv = make_server("127.0.0.1", 0, app, threaded=True)
print(srv.server_port, flush=True)
srv.serve_forever()
"""


def _serve(tmp_path, db_url, *, first):
    from pathlib import Path

    code = SERVER.format(platform=str(Path(importer.__file__).parents[1]),
                         tests=str(Path(__file__).parent), url=db_url,
                         instance=str(tmp_path / "instance"), first=first,
                         marker=str(tmp_path / "writing"))
    proc = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    return proc, f"http://127.0.0.1:{proc.stdout.readline().strip()}"


def _until(http, url, words, *, seconds=120):
    deadline = time.monotonic() + seconds
    while True:
        page = http.get(url)
        if words in page.text or time.monotonic() > deadline:
            return page
        time.sleep(0.2)


def test_a_server_killed_during_an_import_leaves_it_failed_not_stuck(tmp_path, db_url):
    import requests

    from test_web_support import PASSWORD, csrf_of

    first, base = _serve(tmp_path, db_url, first=True)
    http = requests.Session()
    try:
        page = http.get(f"{base}/auth/login")
        http.post(f"{base}/auth/login", data={"email": "ada@example.com", "password": PASSWORD,
                                               "csrf_token": csrf_of(page.text)})
        token = csrf_of(http.get(f"{base}/r/client/import").text)
        resp = http.post(f"{base}/r/client/import", data={"csrf_token": token},
                         files={"file": ("clients.csv", CSV)}, allow_redirects=False)
        url = base + resp.headers["Location"]
        _until(http, url, "Start the import")
        http.post(url, data={"csrf_token": token, "map": ["name", "phone", "source", ""],
                             "mode": "valid", "run_hooks": "1"})
        http.post(f"{url}/start", data={"csrf_token": token})
        deadline = time.monotonic() + 120
        while not (tmp_path / "writing").exists():  # the server is in the middle of its write
            assert time.monotonic() < deadline and first.poll() is None
            time.sleep(0.05)
        assert POLLING in http.get(url).text  # "writing", the bar polling
    finally:
        first.kill()
        first.wait()
    second, base2 = _serve(tmp_path, db_url, first=False)  # the server comes back
    try:
        url = url.replace(base, base2)
        page = http.get(url)
        assert page.status_code == 200 and POLLING not in page.text
        assert ("The import failed: the server stopped during the import; nothing was written"
                in page.text)
        http.post(f"{url}/retry", data={"csrf_token": token})
        assert "3 rows: 2 ready to import, 1 will be refused." in _until(
            http, url, "Start the import").text
        http.post(f"{url}/start", data={"csrf_token": token})  # still only the valid rows
        assert "Imported 2 records." in _until(http, url, "Imported").text
    finally:
        second.terminate()
        second.wait()
    engine = sa.create_engine(db_url, poolclass=sa.pool.NullPool)
    try:
        with engine.connect() as conn:
            names = conn.execute(sa.text("select name from client order by name")).scalars()
            assert list(names) == ["张三", "李四"]
    finally:
        engine.dispose()
