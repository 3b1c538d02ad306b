"""The web chat does not promise announcements it cannot deliver (issue 17): no "🔔 Nhận
thông báo" button, and asking for them gets an honest line instead of a subscription."""
from __future__ import annotations

from support.env import sql_connect

SESSION = "web-announce-0123456789ab"


async def post(client, message_id: str, **body) -> list[dict]:
    response = await client.post("/api/chat", json={"session": SESSION, "id": message_id,
                                                    **body})
    assert response.status == 200
    return (await response.json())["messages"]


def choices(messages: list[dict]) -> list[str]:
    return [b["choice"] for m in messages for row in m["buttons"] for b in row]


async def test_no_announcement_offer_and_no_subscription_on_the_web_chat(client, settings):
    answer = await post(client, "wa000001", text="khi nào tắt sóng 2g")
    assert "Khi nào tắt sóng 2G" in answer[0]["text"] and "sub" not in choices(answer)
    for n, body in enumerate(({"choice": "sub"}, {"text": "Nhận thông báo"}), start=2):
        await post(client, f"wm00000{n}", choice="menu")
        said = await post(client, f"wa00000{n}", **body)
        assert "chưa gửi được thông báo qua trang web" in said[0]["text"]
        assert "sẽ gửi" not in said[0]["text"]
    # the commune can still be given (answers may depend on it), without a subscription
    noted = await post(client, "wa000004", text="cư m'gar")
    assert "Cư M'gar" in noted[0]["text"] and "chưa gửi được thông báo" in noted[0]["text"]
    assert "dừng" not in noted[0]["text"].lower()
    with sql_connect(settings) as db:
        subscribed, commune = db.execute("select subscribed, commune_code from contact"
                                         ).fetchone()
    assert not subscribed and commune
