"""The wrong PIN that locks the keypad says so at the gate.

The 5th wrong PIN in 10 minutes locks the resident's PIN (admin guide 4, guard guide 9: 「10 分钟
内输错 5 次，已锁定，同时报警」), and the 密码已锁定 alarm is raised with it; but the screen
answered that try with 密码错误 请重试, so the resident tried again with the right PIN and
was refused as locked. That try now reads 密码错误，已锁定 请联系保安 on the screen and 已锁定
beside 密码错误 on the guard's history row."""

from __future__ import annotations

from typing import Any

from tests.api.test_credentials import present, resident_with_pin
from tests.conftest import wait_until


def screen_lines(client: Any, passage_id: int) -> tuple[str, ...]:
    lane = client.app.state.services.screens.lanes["ped-1"]
    wait_until(lambda: lane.showing_passage(passage_id) is not None, 5,
               f"ped-1's screen to answer passage {passage_id}")
    message = lane.showing_passage(passage_id)
    assert message is not None
    return tuple(message.lines)


def test_the_locking_wrong_pin_is_told_it_locked(
    client: Any, admin_headers: dict[str, str]
) -> None:
    rid = resident_with_pin(client, admin_headers)
    wrong = {"kind": "pin", "resident_id": rid, "pin": "000001"}
    answers, shown = [], []
    for _ in range(5):
        answers.append(present(client, wrong).json())
        shown.append(screen_lines(client, answers[-1]["passage_id"]))
    assert [a["reason"] for a in answers] == ["pin_wrong"] * 5
    assert shown == [("密码错误", "请重试")] * 4 + [("密码错误，已锁定", "请联系保安")]

    rows = [client.get(f"/api/v1/passages/{a['passage_id']}", headers=admin_headers).json()
            for a in answers]
    assert [row["flags"] for row in rows] == [[], [], [], [], ["now_locked"]]
    alarms = client.get("/api/v1/alarms", headers=admin_headers).json()["items"]
    assert [(a["kind"], a["passage_id"]) for a in alarms] == [
        ("pin_locked", answers[4]["passage_id"])
    ]

    locked = present(client, {"kind": "pin", "resident_id": rid, "pin": "482913"}).json()
    assert locked["reason"] == "pin_locked"
    assert screen_lines(client, locked["passage_id"]) == ("密码已锁定", "请联系保安")
