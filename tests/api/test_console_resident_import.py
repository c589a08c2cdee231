"""批量导入 on the console: 预览 shows the counts, the rows in error and the changes to what is
on file, 导入 applies the file kept from the preview, the template downloads as Excel reads
it; admins only."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import func, select

from models.vehicles import Vehicle
from services.resident_import_file import read_table
from tests.api.test_console import add_user, cookie_login
from tests.api.test_resident_import import CHANGED, FIRST, ROWS, SHEET, csv_bytes, on_file

PAGE = "/console/admin/households/import"
TOKEN = re.compile(r'name="token" value="([^"]*)"')


def preview(client: Any, csrf: str, data: bytes, name: str = "住户.csv") -> Any:
    return client.post(PAGE, data={"csrf_token": csrf}, files={"file": (name, data, "text/csv")})


def admin_csrf(client: Any) -> str:
    add_user(client, "admin", "admin")
    return cookie_login(client, "admin", "admin")


def vehicles(client: Any) -> int:
    with client.app.state.services.sessions() as session:
        return int(session.scalar(select(func.count()).select_from(Vehicle)) or 0)


def test_preview_then_import_from_the_page(client: Any) -> None:
    csrf = admin_csrf(client)
    assert 'href="/console/admin/households/import"' in client.get(
        "/console/admin/households").text

    shown = preview(client, csrf, csv_bytes(ROWS, encoding="gb18030"))

    assert shown.status_code == 200, shown.text
    assert "预览：住户.csv" in shown.text and "共 4 行数据" in shown.text
    counts = re.search(r'<table class="grid" id="import-counts">.*?</table>', shown.text, re.S)
    assert counts and re.sub(r"\s+", "", counts.group(0)).count("<td>3</td>") == 2
    assert vehicles(client) == 0  # a preview writes nothing
    token = TOKEN.search(shown.text)
    assert token is not None

    services = client.app.state.services
    asked: list[bool] = []
    real = services.access_changed

    def access_changed() -> None:  # the offline snapshot
        asked.append(True)
        real()

    services.access_changed = access_changed

    done = client.post(f"{PAGE}/apply", data={"csrf_token": csrf, "token": token.group(1)})

    assert done.status_code == 200 and asked == [True]
    assert "导入完成：新建住户 2 户、成员 3 人、车辆 3 辆" in done.text
    assert vehicles(client) == 3
    again = client.post(f"{PAGE}/apply", data={"csrf_token": csrf, "token": token.group(1)})
    assert "预览已过期或已导入" in again.text and vehicles(client) == 3

    # The same file imported again: nothing changes, nothing is logged, and the page says so.
    token = TOKEN.search(preview(client, csrf, csv_bytes(ROWS, encoding="gb18030")).text)
    assert token is not None
    asked.clear()
    same = client.post(f"{PAGE}/apply", data={"csrf_token": csrf, "token": token.group(1)})
    assert same.status_code == 200 and asked == []
    assert "没有任何改动，也不记入操作日志" in same.text and "导入完成" not in same.text


def test_rows_in_error_are_tabled_and_there_is_no_import_button(client: Any) -> None:
    csrf = admin_csrf(client)
    shown = preview(client, csrf, csv_bytes([*ROWS, "6栋,1,赵六,,闽A12345,,"]))
    assert "1 行有问题，什么都没有导入" in shown.text
    table = re.search(r'<table class="grid" id="import-errors">.*?</table>', shown.text, re.S)
    assert table is not None
    assert "<td>6</td>" in table.group(0) and "在第 2 行已经有了" in table.group(0)
    assert TOKEN.search(shown.text) is None and 'id="import-apply"' not in shown.text


def test_a_bad_file_is_said_in_chinese_on_the_page(client: Any) -> None:
    csrf = admin_csrf(client)
    shown = preview(client, csrf, b"PK\x03\x04zip", name="住户.xlsx")
    assert shown.status_code == 200
    assert "这是 Excel 工作簿，不是 CSV 文件" in shown.text
    missing = preview(client, csrf, "姓名\r\n张伟\r\n".encode())
    assert "第一行（表头）缺少列：楼栋、房号" in missing.text
    none = client.post(PAGE, data={"csrf_token": csrf}, files={"file": ("", b"", "text/csv")})
    assert "请先选择文件" in none.text


def test_the_template_opens_in_excel_and_imports_as_it_is(client: Any) -> None:
    admin_csrf(client)
    response = client.get(f"{PAGE}/template.csv")
    assert response.status_code == 200
    assert "attachment" in response.headers["content-disposition"]
    assert response.content.startswith(b"\xef\xbb\xbf")
    table = read_table(response.content)
    assert set(table.columns) >= {"building", "unit", "name", "phone", "plate", "plate_color"}
    assert len(table.rows) == 2


def test_guards_and_forged_posts_are_refused(client: Any) -> None:
    add_user(client, "guard", "guard")
    guard_csrf = cookie_login(client, "guard", "guard")
    assert client.get(PAGE).status_code == 403
    assert client.get(f"{PAGE}/template.csv").status_code == 403
    assert preview(client, guard_csrf, csv_bytes(ROWS)).status_code == 403
    admin_csrf(client)
    forged = preview(client, "not-the-token", csv_bytes(ROWS))
    assert forged.status_code == 403 and vehicles(client) == 0


def test_the_preview_says_the_title_row_above_the_header_is_not_imported(client: Any) -> None:
    csrf = admin_csrf(client)
    data = csv_bytes(["楼栋,房号,姓名,电话,车牌,车牌颜色,备注", *ROWS], header="阳光花园业主表,,,")

    shown = preview(client, csrf, data)

    assert "表头在第 2 行，它上面的行（标题等）没有导入" in shown.text
    assert TOKEN.search(shown.text) is not None  # nothing in error: 导入 is offered


def test_the_preview_says_which_rows_have_a_colour_but_no_plate(client: Any) -> None:
    csrf = admin_csrf(client)
    shown = preview(client, csrf, csv_bytes([*ROWS, "6栋,101,赵六,,,蓝,", "6栋,102,钱七,,,绿,"]))

    assert "2 行填了车牌颜色但没有车牌，颜色没有导入（第 6 行起）" in shown.text
    assert TOKEN.search(shown.text) is not None  # not an error: 导入 is offered


def test_a_re_import_previews_each_change_old_to_new_then_applies_it(client: Any) -> None:
    csrf = admin_csrf(client)
    first = preview(client, csrf, csv_bytes(FIRST, header=SHEET))
    token = TOKEN.search(first.text)
    assert token is not None
    client.post(f"{PAGE}/apply", data={"csrf_token": csrf, "token": token.group(1)})

    shown = preview(client, csrf, csv_bytes(CHANGED, header=SHEET))

    table = re.search(r'<table class="grid" id="import-changes">.*?</table>', shown.text, re.S)
    assert table is not None, shown.text
    cells = re.findall(r"<tr><td>(\d+)</td><td>([^<]*)</td><td>([^<]*)</td></tr>",
                       table.group(0))
    assert cells == [("2", "3栋 1201", "车位数 1 → 2"),
                     ("2", "3栋 1201 张伟", "电话 13800138000 → 13800138001"),
                     ("4", "5栋 601", "备注 （空） → 租户")]
    assert "以下 3 处与系统中登记的不同，导入时以表格为准更新" in shown.text
    assert on_file(client)["张伟"] == "13800138000"  # a preview writes nothing
    token = TOKEN.search(shown.text)
    assert token is not None

    done = client.post(f"{PAGE}/apply", data={"csrf_token": csrf, "token": token.group(1)})

    assert "新建住户 0 户、成员 0 人、车辆 0 辆；更新住户 2 户、成员 1 人" in done.text
    assert "已按表格更新 3 处" in done.text
    counted = re.search(r'<table class="grid" id="import-counts">.*?</table>', done.text, re.S)
    assert counted is not None
    assert re.findall(r"<td>([^<]*)</td>", counted.group(0)) == [
        "住户", "0", "2", "0", "住户成员", "0", "1", "2", "车辆", "0", "—", "1"]
    assert on_file(client)["张伟"] == "13800138001"
    again = preview(client, csrf, csv_bytes(CHANGED[:1], header=SHEET))
    assert 'id="import-changes"' not in again.text
    assert "系统中有 1 户不在表格中（未删除，保持原样）" in again.text
