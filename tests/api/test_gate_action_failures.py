"""A guard's 关闸, 常开 or 取消常开 on a gate whose device does not answer: found probing a
Modbus gate whose PLC was down. A failed 开闸 said "gate main-in: open failed: …", which the
console shows as “开闸”失败，道闸没有按指令动作… with the device's words; a failed 关闸 answered
with the driver's words alone ("modbus://127.0.0.1:…/1: cannot connect"), which the console
showed as they were, in English, without saying that the close failed. Every action now fails
as an open does."""

from __future__ import annotations

from typing import Any

import pytest

from api.console.error_texts import explain_message
from tests.api.test_console import add_staff
from tests.conftest import services_of, wait_until
from tests.hardware.rigs import free_port


def community(port: int) -> dict[str, Any]:
    # A Modbus PLC nothing listens for: every request is refused at once (connection refused).
    barrier = {"driver": "modbus", "host": "127.0.0.1", "port": port, "open_channel": 0,
               "command_timeout_s": 0.3, "retries": 1, "retry_delay_s": 0.05,
               "poll_interval_s": 0.1}
    return {
        "name": "dead-plc-test",
        "zones": [{"id": "A", "capacity": 40}],
        "gates": [{"id": "main-in", "kind": "vehicle", "direction": "in", "zone": "A",
                   "barrier": barrier}],
    }


@pytest.mark.parametrize(
    ("action", "zh_action", "advice"),
    # A failed 关闸 leaves the arm up: lowered by hand, not a car let through by hand.
    [("close", "关闸", "手动方式落杆并报修"), ("hold_open", "常开", "手动方式放行并报修"),
     ("open", "开闸", "手动方式放行并报修")],
)
def test_a_failed_action_says_which_action_failed(
    app_factory: Any, action: str, zh_action: str, advice: str
) -> None:
    client = app_factory(community=community(free_port()))
    guard = add_staff(services_of(client), "guard", "guard")
    barrier = services_of(client).barriers["main-in"]
    wait_until(lambda: str(barrier.state) == "fault", 10.0, "the gate's fault")

    answer = client.post("/api/v1/gates/main-in/actions", headers=guard,
                         json={"action": action, "reason": "测试原因"})

    assert answer.status_code == 503, answer.text
    detail = answer.json()["detail"]
    assert detail.startswith(f"gate main-in: {action} failed: modbus://127.0.0.1:"), detail
    assert "cannot connect" in detail
    shown = explain_message("zh", detail)
    assert shown.startswith(f"main-in：“{zh_action}”失败，道闸没有按指令动作"), shown
    assert advice in shown, shown
