"""A pass's audit entries (登记 / 修改 / 删除访客通行证, and 搬离's) label every detail the pass
records: the log is all that is left of a deleted pass, and a raw field name (walk_in：否)
is not what the office reads."""

from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from api.console.audit_texts import audit_details
from api.console.i18n import Lang
from models.vehicles import VisitorPass


@pytest.mark.parametrize(("lang", "walk_in"), [("zh", ("步行访客", "否")),
                                               ("en", ("Visitor on foot", "no"))])
def test_every_detail_of_a_pass_has_a_label(lang: Lang, walk_in: tuple[str, str]) -> None:
    at = datetime(2026, 12, 1, 2, 0, tzinfo=UTC)
    grant = VisitorPass(plate="粤B88888", host_household_id=1, valid_from=at, valid_to=at,
                        max_uses=1, weekdays="mon", hours_from="08:00",
                        hours_to="18:00").grant()
    shown = audit_details(lang, {**grant, "changes": {"walk_in": [False, True]}},
                          {1: "3栋 1201"}, ZoneInfo("Asia/Shanghai"))
    labels = [label for label, _ in shown]
    assert not set(labels) & set(grant), shown
    assert walk_in in shown
    assert "walk_in" not in dict(shown)[labels[-1]], shown  # a pass edit's changes too
