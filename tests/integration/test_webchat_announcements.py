"""The web chat does not promise announcements it cannot deliver (issue 17): no "🔔 Nhận
thông báo" or "nhận tin chung" button, no subscription wording; asking for them says where
news is told instead, and "xóa dữ liệu" names only what is really kept (review finding F4)."""
from __future__ import annotations

from support.env import sql_connect

SESSION = "web-announce-0123456789ab"


async def post(client, message_id: str, session: str = SESSION, **body) -> list[dict]:
    response = await client.post("/api/chat", json={"session": session, "id": message_id,
                                                    **body})
    assert response.status == 200
    return (await response.json())["messages"]


def choices(messages: list[dict]) -> list[str]:
    return [b["choice"] for m in messages for row in m["buttons"] for b in row]


def labels(messages: list[dict]) -> str:
    return "\n".join(b["label"] for m in messages for row in m["buttons"] for b in row)


NO_PROMISE = ("sẽ gửi", "nhận tin chung", "Không chọn xã", "đăng ký", "cho Loa biết xã",
              "chưa gửi được")     # "chưa": not yet, i.e. some day: a half promise


async def test_no_announcement_offer_and_no_subscription_on_the_web_chat(client, settings):
    answer = await post(client, "wa000001", text="khi nào tắt sóng 2g")
    assert "Khi nào tắt sóng 2G" in answer[0]["text"] and "sub" not in choices(answer)
    asked = [{"choice": "sub"}, {"text": "Nhận thông báo"}, {"text": "nhận thông báo"},
             {"text": "nhan thong bao"}, {"text": "đăng ký nhận tin"}]
    for n, body in enumerate(asked, start=2):
        await post(client, f"wm00000{n}", choice="menu")
        said = await post(client, f"wa00000{n}", **body)
        text = said[0]["text"]
        assert "Loa không gửi được thông báo qua trang web này" in text, body
        assert "loa truyền thanh của xã, phường" in text and "UBND xã, phường" in text
        for promise in NO_PROMISE:
            assert promise not in text and promise not in labels(said), (body, promise)
        assert choices(said) == ["menu"], body
    # what follows is a question as any other, not a commune for announcements
    after = await post(client, "wa000009", text="hòa phú")
    assert "ghi nhận" not in after[0]["text"] and "Hòa Phú" not in after[0]["text"]
    with sql_connect(settings) as db:
        subscribed, commune = db.execute("select subscribed, commune_code from contact"
                                         ).fetchone()
    assert not subscribed and commune is None
    # erasing lists only what is kept: no subscription, no commune, no language was chosen
    erase = await post(client, "wa000010", text="xóa dữ liệu")
    assert erase[0]["text"].startswith("Xóa mọi thông tin Loa lưu về bạn (câu hỏi)?")
    assert "thông báo" not in erase[0]["text"]


async def test_the_erase_confirmation_names_what_is_kept(client, settings):
    """A session that chose a language and (from an older button) a commune: both are named,
    announcements still not (the web chat never subscribes)."""
    session = "web-announce-kept-456789ab"
    await post(client, "wk000001", session, choice="lang:vi")
    noted = await post(client, "wk000002", session, choice="sub:commune:24175")
    assert "Loa không gửi được thông báo" in noted[0]["text"]
    assert "nhận tin chung" not in labels(noted)
    erase = await post(client, "wk000003", session, text="/xoadulieu")
    assert erase[0]["text"].startswith("Xóa mọi thông tin Loa lưu về bạn (ngôn ngữ, xã/phường, "
                                       "câu hỏi)?"), erase[0]["text"]
    with sql_connect(settings) as db:
        assert db.execute("select subscribed from contact").fetchone()[0] in (0, False)
