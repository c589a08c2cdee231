"""A search a console list refuses says why, and no 共 0 条 under it.

Found on the guard's walk (docs/guard-guide.zh.md 6: dates picked the wrong way round are
said, "不会显示「共 0 条」让你以为车没来过"): 通行记录, 报警记录 and 场内 showed the notice and
共 0 条 below it, which a guard in a hurry reads as "no such car", "no such alarm".
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.test_console import add_staff, cookie_login


@pytest.fixture(scope="module")
def refusing_app(shared_client: Any) -> Any:
    """One app per database with guard1: these requests only read."""
    add_staff(shared_client.app.state.services, "guard1", "guard")
    return shared_client


@pytest.mark.parametrize(
    ("path", "params", "total_id", "said"),
    [
        ("/console/history", {"since": "2026-11-29", "until": "2026-11-28"}, "history-total",
         "开始日期晚于结束日期，请重新选择日期"),
        ("/console/history", {"since_time": "08:20", "until_time": "07:50"}, "history-total",
         "开始时间晚于结束时间，请重新选择时间"),
        ("/console/history", {"plate": "A123", "similar": "1"}, "history-total",
         "查找相似车牌需要输入完整车牌"),
        ("/console/alarms", {"since": "2026-11-29", "until": "2026-11-28"},
         "alarm-history-total", "开始日期晚于结束日期"),
        ("/console/alarms", {"gate": "nope"}, "alarm-history-total", "没有编号为“nope”的出入口"),
        ("/console/presence", {"zone": "Z"}, "inside-total", "没有编号为“Z”的区域"),
    ],
)
def test_a_refused_search_says_why_without_a_count_of_none(
    refusing_app: Any, fresh_shared_client: Any, path: str, params: dict[str, str],
    total_id: str, said: str,
) -> None:
    cookie_login(fresh_shared_client, "guard1", "guard")
    refused = fresh_shared_client.get(path, params=params)
    assert refused.status_code == 422
    assert said in refused.text
    assert f'id="{total_id}"' not in refused.text
    assert "共 0 条" not in refused.text
    # A search that runs still counts what it found, none included.
    assert f'id="{total_id}">共 0 条<' in fresh_shared_client.get(path).text
