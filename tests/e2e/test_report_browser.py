"""The run form and the report page in a real browser (Debian chromium via Playwright) against
the real Loa app: an officer logs an offline run with a photo, gets a clear message for wrong
input without losing anything, submits the month, corrects it as an amendment; the province
sees the unit's status and the chart. Set LOA_SCREENSHOTS=1 to keep screenshots."""
from __future__ import annotations

import os
import struct
import zlib
from pathlib import Path

import pytest
from playwright.async_api import Page, expect
from support.browser import open_as  # noqa: F401

from bot.features.outreach import service as outreach
from bot.features.outreach.reports import forms

# What a browser shows and does is the subject here, not the database: these run on SQLite
# only (the pages' database work runs on both in tests/integration).
pytestmark = pytest.mark.sqlite_only

CHROMIUM = "/usr/bin/chromium"
ARGS = ["--no-sandbox", "--disable-gpu", "--disable-background-networking",
        "--disable-component-update", "--disable-sync", "--no-first-run"]
ARTIFACTS = Path(__file__).resolve().parents[1] / "artifacts"
expect.set_options(timeout=15_000)




def png(path: Path) -> Path:
    """A real 2x2 PNG photo."""
    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(
            ">I", zlib.crc32(kind + data))
    raw = b"".join(b"\x00" + b"\xff\x00\x00" * 2 for _ in range(2))
    path.write_bytes(b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", struct.pack(">IIBBBBB", 2, 2, 8, 2,
                                                                      0, 0, 0))
                     + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b""))
    return path




async def shot(page: Page, name: str) -> None:
    if os.environ.get("LOA_SCREENSHOTS"):
        ARTIFACTS.mkdir(exist_ok=True)
        await page.screenshot(path=str(ARTIFACTS / f"{name}.png"), full_page=True)


async def test_officer_logs_a_run_submits_and_amends(browser, live_server, settings,
                                                     tmp_path):
    last = forms.shift_month(forms.month_of(outreach.today_vn()), -1)
    label = forms.month_label(last)
    page = await open_as(browser, live_server, settings, "xa-24175", "editor",
                         viewport={"width": 390, "height": 844})      # a phone
    await page.get_by_role("link", name="Ghi nhận hoạt động").click()
    await expect(page.get_by_role("heading", name="Ghi nhận hoạt động")).to_be_visible()
    await page.get_by_label("Ngày", exact=True).fill(f"{last}-05")
    await page.get_by_label("Hình thức truyền thông").select_option(label="Loa truyền thanh cơ sở")
    await page.get_by_label("Phương tiện truyền thông").fill("Loa truyền thanh xã")
    await page.get_by_label("Số lượt thực hiện").fill("-1")
    await page.get_by_label("Số người tiếp cận (nếu biết)").fill("450")
    # A commune officer is offered their own commune alone, already ticked (issue 17).
    own = page.get_by_role("checkbox", name="Xã Hòa Phú")
    await expect(own).to_be_checked()
    await expect(page.locator("#communes input")).to_have_count(1)
    await page.get_by_label("Tiếng Ê Đê").check()
    await page.get_by_label("Ghi chú").fill("Phát 2 buổi")
    await page.get_by_label("Ảnh hoặc tệp minh chứng").set_input_files(png(tmp_path / "loa.png"))
    assert await page.evaluate("document.documentElement.scrollWidth <= window.innerWidth")
    await page.get_by_role("button", name="Lưu").click()

    alert = page.get_by_role("alert")
    await expect(alert).to_contain_text("Số lượt thực hiện phải từ 1 trở lên.")
    await expect(alert).to_contain_text("những gì bạn đã nhập vẫn được giữ nguyên")
    await expect(page.get_by_label("Phương tiện truyền thông")).to_have_value("Loa truyền thanh xã")
    await expect(page.get_by_label("Số lượt thực hiện")).to_have_attribute("aria-invalid", "true")
    await expect(page.get_by_label("Tiếng Ê Đê")).to_be_checked()
    await expect(page.get_by_label("Ghi chú")).to_have_value("Phát 2 buổi")
    await expect(page.get_by_role("checkbox", name="Xã Hòa Phú")).to_be_checked()
    await expect(page.locator("#kept-evidence")).to_have_text("Giữ lại từ lần gửi trước: loa.png")
    await shot(page, "report-form-error")
    await page.get_by_label("Số lượt thực hiện").fill("3")
    await page.get_by_role("button", name="Lưu").click()

    await expect(page.get_by_role("status")).to_have_text("Đã ghi nhận hoạt động.")
    official = page.locator("#official")
    row = official.locator("tr", has_text="Loa truyền thanh cơ sở")
    await expect(row.locator("td")).to_have_text(["1", "Loa truyền thanh cơ sở", "3",
                                                  "Loa truyền thanh xã", "450", "Phát 2 buổi"])
    entry = page.locator("#entries tr[data-entry]")
    await expect(entry).to_have_count(1)
    await expect(entry).to_contain_text("Xã Hòa Phú")
    await expect(entry).to_contain_text("Tiếng Việt, Tiếng Ê Đê")
    await expect(entry.get_by_role("link", name="minh chứng: loa.png")).to_be_visible()

    await page.get_by_role("button", name=f"Nộp báo cáo tháng {label}").click()
    # it asks first, naming what submitting does (the month is locked)
    await expect(page.locator("#what-happens")).to_contain_text("bị khóa")
    await page.get_by_role("button", name="Đồng ý, nộp báo cáo").click()
    await expect(page.get_by_role("status")).to_contain_text("Đã nộp báo cáo.")
    await expect(page.locator("#status")).to_contain_text("nộp lúc")
    await expect(page.get_by_role("button", name=f"Nộp báo cáo tháng {label}")).to_have_count(0)

    await entry.get_by_role("link", name="Sửa").click()
    await expect(page.locator("#locked")).to_contain_text("sẽ được lưu thành điều chỉnh")
    await page.get_by_label("Số lượt thực hiện").fill("4")
    await page.get_by_role("button", name="Lưu").click()    # the reason is missing
    await expect(page.get_by_role("alert")).to_contain_text(f"Báo cáo tháng {label} đã nộp")
    await expect(page.get_by_label("Số lượt thực hiện")).to_have_value("4")
    await page.get_by_label("Lý do điều chỉnh").fill("Biên bản ghi thêm 1 buổi")
    await page.get_by_role("button", name="Lưu").click()
    await expect(page.get_by_role("status")).to_have_text("Đã sửa mục ghi nhận.")
    await expect(page.locator("#amendments")).to_contain_text("Biên bản ghi thêm 1 buổi")
    await expect(row.locator("td").nth(2)).to_have_text("4")
    await shot(page, "report-unit")
    assert not page.errors  # type: ignore[attr-defined]

    province = await open_as(browser, live_server, settings, "tinh", "viewer")
    await province.get_by_role("link", name="Báo cáo tháng").click()
    await province.get_by_label("Tháng").select_option(last)
    await province.get_by_role("button", name="Xem").click()
    hoa_phu = province.locator("#statuses tr", has_text="Xã Hòa Phú")
    await expect(hoa_phu.locator("td").nth(2)).to_have_text(["Đã nộp", "Nộp muộn"][
        outreach.today_vn() >= forms.deadline(last, settings.report_deadline_day)])
    await expect(hoa_phu.locator("td").nth(4)).to_have_text("1")       # one amendment
    await expect(province.locator("#statuses tr[data-status]")).to_have_count(103)
    await expect(province.locator("#official")).to_contain_text("Loa truyền thanh cơ sở")
    chart = province.locator("img[src^='/admin/reports/export.png']")
    await expect(chart).to_be_visible()
    await province.wait_for_function("""() => {
        const img = document.querySelector("img[src^='/admin/reports/export.png']");
        return img.complete && img.naturalWidth > 500; }""")
    await province.get_by_label("Đơn vị").select_option(label="Xã Hòa Phú")
    await province.get_by_role("button", name="Xem").click()
    await expect(province.locator("#entries tr[data-entry]")).to_have_count(1)
    await expect(province.get_by_role("link", name="Sửa")).to_have_count(0)
    await shot(province, "report-province")
    assert not province.errors  # type: ignore[attr-defined]
