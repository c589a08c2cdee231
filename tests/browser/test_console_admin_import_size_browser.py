"""批量导入 of a file past its limit, in a real browser (admin guide 2.4 限制: 最大 2 MB, split
it): the office read the body limit's English, "body of 3000044 bytes exceeds the limit of
2065536", under the Chinese page, for any file much over 2 MB."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import expect

from services.resident_import_file import MAX_BYTES
from tests.browser.conftest import LiveServer, enter_as, screenshot

pytestmark = pytest.mark.browser


def test_a_file_far_over_the_limit_is_refused_in_chinese(
    live_server: LiveServer, new_page: Any, tmp_path: Path
) -> None:
    sheet = tmp_path / "全体业主.csv"
    rows = "".join(f"3栋,{n},业主{n},13800138000,,,,{'备注' * 40}\n" for n in range(11_000))
    sheet.write_text("楼栋,房号,姓名,电话,车牌,车牌颜色,车位数,备注\n" + rows, encoding="utf-8")
    assert sheet.stat().st_size > MAX_BYTES + 64 * 1024  # past the form's slack too
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    page.goto("/console/admin/households/import")
    page.set_input_files('input[type="file"]', str(sheet))
    page.get_by_role("button", name="预览").click()

    problem = page.locator(".error, [role=alert]").filter(has_text="文件太大")
    expect(problem).to_have_text(f"文件太大（最多 {MAX_BYTES} 字节），请分成几个文件导入")
    screenshot(page, "62-import-too-large")
    assert "exceeds" not in page.inner_text("body")
