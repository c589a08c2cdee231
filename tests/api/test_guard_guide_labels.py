"""docs/guard-guide.zh.md promises that text in 「」 is exactly what the screen shows. These
tests hold the guide to the console where it lists what a guard sees: the menu (section 2)."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

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
