"""A recurring visitor pass's weekdays and hours as the console words them.

``周一至周五 08:00–12:00``, ``周六、周日 全天``, ``每天 22:00–次日02:00``, and ``不限`` for a
pass that admits on any day at any time of its window (every pass made before schedules).
"""

from __future__ import annotations

from api.console.i18n import Lang, translate
from controllers.schedule import WEEKDAYS


def _day_runs(days: list[int]) -> list[list[int]]:
    runs: list[list[int]] = []
    for day in days:
        if runs and runs[-1][-1] == day - 1:
            runs[-1].append(day)
        else:
            runs.append([day])
    return runs


def weekdays_text(lang: Lang, weekdays: str | None) -> str:
    """Runs of three days or more as 周一至周五; others one by one (周六、周日)."""
    if weekdays is None:
        return translate(lang, "pass.every_day")
    days = sorted(WEEKDAYS.index(day) for day in weekdays.split(","))
    if len(days) == len(WEEKDAYS):
        return translate(lang, "pass.every_day")
    name = [translate(lang, f"weekday.{day}") for day in WEEKDAYS]
    parts: list[str] = []
    for run in _day_runs(days):
        if len(run) >= 3:
            parts.append(translate(lang, "pass.day_range", first=name[run[0]], last=name[run[-1]]))
        else:
            parts.extend(name[day] for day in run)
    return translate(lang, "pass.day_sep").join(parts)


def hours_text(lang: Lang, hours_from: str | None, hours_to: str | None) -> str:
    if hours_from is None or hours_to is None:
        return translate(lang, "pass.all_day")
    if hours_to < hours_from:  # HH:MM compares as text: past midnight, into the next morning
        return f"{hours_from}–{translate(lang, 'pass.next_day')}{hours_to}"
    return f"{hours_from}–{hours_to}"


def schedule_text(
    lang: Lang, weekdays: str | None, hours_from: str | None, hours_to: str | None
) -> str:
    """The pass's days and hours in one phrase; 不限 when it has neither."""
    if weekdays is None and hours_from is None:
        return translate(lang, "pass.any_time")
    return f"{weekdays_text(lang, weekdays)} {hours_text(lang, hours_from, hours_to)}"
