"""「导出个人信息」 on the households page, clicked in Debian's chromium: the browser saves the
resident's JSON file under its own name, readable Chinese inside."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest

from tests.browser.conftest import LiveServer, enter_as
from tests.browser.test_console_admin_edit import seed

pytestmark = pytest.mark.browser


def test_export_button_downloads_the_residents_file(
    live_server: LiveServer, new_page: Any, tmp_path: Path
) -> None:
    ids = seed(live_server)
    rid = ids["resident"]
    page = new_page()
    enter_as(page, live_server, "admin", "admin")
    page.goto("/console/admin/households")
    button = page.get_by_role("link", name="导出 王芳 的个人信息（JSON 文件）")
    assert button.inner_text() == "导出个人信息"
    with page.expect_download() as info:
        button.click()
    download = info.value
    assert download.suggested_filename.startswith(f"resident-{rid}-personal-data-")
    assert download.suggested_filename.endswith(".json")
    saved = tmp_path / download.suggested_filename
    download.save_as(saved)
    raw = saved.read_bytes()
    assert "王芳".encode() in raw  # UTF-8 Chinese, not \u escapes
    document = json.loads(raw)
    assert document["resident"]["id"] == rid
    assert [v["plate"] for v in document["vehicles"]] == ["闽AD12345"]
    # The page stayed where it was: a download, not a page of JSON.
    assert page.url.endswith("/console/admin/households")
