"""Privacy: the notice at first contact, and "xóa dữ liệu" erasing a citizen's data."""
from __future__ import annotations

from support.env import sql_connect

SESSION = "privacy-session-0123456789"


async def post(client, message_id: str, **body):
    response = await client.post("/api/chat", json={"session": SESSION, "id": message_id,
                                                    **body})
    assert response.status == 200
    return (await response.json())["messages"]


async def test_notice_once_then_erase_keeps_only_anonymous_counts(client, settings):
    first = await post(client, "pv000001", text="khi nao tat song 2g")
    assert "mã ẩn danh" in first[0]["text"] and "xóa dữ liệu" in first[0]["text"]
    second = await post(client, "pv000002", text="1")
    assert "mã ẩn danh" not in second[0]["text"]
    await post(client, "pv000003", choice="sub")
    await post(client, "pv000004", text="hoa phu")
    await post(client, "pv000005", text="thoi tiet hom nay the nao")   # kept for review
    with sql_connect(settings) as db:
        pseudonym = db.execute("select pseudonym from contact").fetchone()[0]
        assert db.execute("select count(*) from question").fetchone()[0] >= 1
    ask = await post(client, "pv000006", text="xóa dữ liệu")
    assert [b["choice"] for row in ask[0]["buttons"] for b in row] == ["forget:yes", "forget:no"]
    done = await post(client, "pv000007", choice="forget:yes")
    assert "Đã xóa" in done[0]["text"]
    with sql_connect(settings) as db:
        dump = "\n".join(db.iterdump())
        runs = db.execute("select count(*) from run").fetchone()[0]
        contact = db.execute("select subscribed, commune_code, state, address from contact "
                             "order by id limit 1").fetchone()
    assert pseudonym not in dump and SESSION not in dump
    assert "thoi tiet" not in dump and "thời tiết" not in dump
    assert contact == (0, None, "{}", "")
    assert runs >= 5                     # the anonymous counts stay for the report
    again = await post(client, "pv000008", text="1")      # starts afresh, notice again
    assert "mã ẩn danh" in again[0]["text"]


async def test_saying_no_erases_nothing(client, settings):
    await post(client, "pn000001", text="1")
    await post(client, "pn000002", command="start")
    await post(client, "pn000003", text="xoa du lieu")
    kept = await post(client, "pn000004", choice="forget:no")
    assert "Không xóa" in kept[0]["text"]
    with sql_connect(settings) as db:
        assert db.execute("select count(*) from contact where address != ''").fetchone()[0] == 1
