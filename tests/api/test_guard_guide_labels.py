"""docs/guard-guide.zh.md promises that text in 「」 is exactly what the screen shows. These
tests hold the guide to the console where it lists what a guard sees: the menu (section 2)
and the alarms (4.1)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

from api.console.i18n import alarm_kinds, code, translate
from tests.api.test_console import add_staff, cookie_login

GUIDE = Path(__file__).resolve().parents[2] / "docs" / "guard-guide.zh.md"
NAV = re.compile(r'<nav class="nav">(.*?)</nav>', re.S)
LINK_TEXT = re.compile(r"<a [^>]*>([^<]+)</a>")
QUOTED = re.compile(r"「([^」]+)」")


def guide_line(starting: str) -> str:
    lines = [ln for ln in GUIDE.read_text(encoding="utf-8").splitlines() if ln.startswith(starting)]
    assert len(lines) == 1, starting
    return lines[0]


def test_the_guide_names_every_menu_entry_a_guard_sees(client: Any) -> None:
    """The menu gained 场内 (6.1) and the guide still said a guard saw only four entries."""
    add_staff(client.app.state.services, "guard", "guard")
    cookie_login(client, "guard", "guard")
    nav = NAV.search(client.get("/console").text)
    assert nav is not None
    on_screen = [text.strip() for text in LINK_TEXT.findall(nav.group(1))]
    promised = guide_line("保安能看到的菜单只有").split("。")[0]
    assert QUOTED.findall(promised) == on_screen


def test_the_guide_explains_every_alarm_a_guard_can_see() -> None:
    """Section 4.1's table gives each alarm's name and hint as the alarm band shows them;
    系统时间异常 and 系统时间可能超前 were missing, so a guard met them unexplained."""
    section = GUIDE.read_text(encoding="utf-8").split("### 4.1")[1].split("### 4.2")[0]
    missing = [
        kind for kind in alarm_kinds()
        if f"「{code('zh', kind)}」" not in section
        or f"「{translate('zh', f'alarm.hint.{kind}')}」" not in section
    ]
    assert missing == []
