"""Every code the decision core can put on a passage has a label in both languages.

The console shows a passage's reason and flags through ``code.<value>`` and falls back to
the raw code: ``not_recorded_inside`` and ``turn_head`` reached guards as English words that
way. The codes are read here from the source (the ``Reason`` enum, every ``flags`` and
``alarm`` value written in controllers/, models/ and services/), not from a hand list, so a
new flag without a label fails this test instead of reaching the booth screen.
"""

from __future__ import annotations

import ast
import functools
from pathlib import Path

import pytest

from api.console.i18n import LANGS, code, translate
from controllers.values import Reason
from hardware.registry import SafetyEventKind

ROOT = Path(__file__).resolve().parents[2]
# Where passages get their flags: the decisions (controllers), the runtime's offline mark,
# and the access store's "barrier did not open" mark.
SCANNED = ("controllers", "models", "services")


@functools.cache
def _sources() -> tuple[tuple[Path, ast.Module], ...]:
    # Parsed once: every xdist worker imports this module at collection, and four parses
    # of the three packages cost each worker over a second before its first test.
    return tuple(
        (path, ast.parse(path.read_text(encoding="utf-8"), str(path)))
        for package in SCANNED
        for path in sorted((ROOT / package).rglob("*.py"))
    )


def _string_constants() -> dict[str, str]:
    """Module-level NAME = "text" constants, so ``flags=[..., ADMISSION_UNDONE]`` counts."""
    constants: dict[str, str] = {}
    for _path, tree in _sources():
        for node in tree.body:
            if (isinstance(node, ast.Assign) and isinstance(node.value, ast.Constant)
                    and isinstance(node.value.value, str)):
                for target in node.targets:
                    if isinstance(target, ast.Name) and target.id.isupper():
                        constants[target.id] = node.value.value
    return constants


def _strings_in(expr: ast.AST, constants: dict[str, str]) -> set[str]:
    """The string values in ``expr``; a subscript's key (``decision["flags"]``) is not one."""
    if isinstance(expr, ast.Constant):
        return {expr.value} if isinstance(expr.value, str) else set()
    if isinstance(expr, ast.Name):
        return {constants[expr.id]} if expr.id in constants else set()
    if isinstance(expr, ast.Subscript):
        return _strings_in(expr.value, constants)
    found: set[str] = set()
    for child in ast.iter_child_nodes(expr):
        found |= _strings_in(child, constants)
    return found


def _is_named(target: ast.expr, name: str) -> bool:
    return (isinstance(target, ast.Name) and target.id == name) or (
        isinstance(target, ast.Attribute) and target.attr == name
    )


def _is_plain_value(expr: ast.expr) -> bool:
    """Literals, names and conditionals: ``alarm = Alarm(kind=…, message=f"…")`` builds a
    row, it does not name a code (its ``kind=`` is not what is scanned)."""
    return not any(isinstance(node, ast.Call) for node in ast.walk(expr))


def _value_written_as(node: ast.AST, name: str) -> ast.expr | None:
    """What ``node`` gives as ``name=…`` to a call, or assigns to ``name`` / ``x.name``."""
    if isinstance(node, ast.keyword) and node.arg == name:
        return node.value
    if (isinstance(node, ast.Assign) and _is_plain_value(node.value)
            and any(_is_named(target, name) for target in node.targets)):
        return node.value
    return None


def codes_written_as(name: str) -> set[str]:
    """Every string value written as ``name`` across the scanned packages."""
    constants = _string_constants()
    found: set[str] = set()
    for _path, tree in _sources():
        for node in ast.walk(tree):
            value = _value_written_as(node, name)
            if value is not None:
                found |= _strings_in(value, constants)
    return found


FLAGS = sorted(codes_written_as("flags"))
DECISION_ALARMS = sorted(codes_written_as("alarm"))


def test_the_scan_finds_the_flags_written_across_the_packages() -> None:
    """The scanner itself: it sees a decision's flags, the runtime's and the store's."""
    assert {"not_recorded_inside", "turn_head", "province_tolerated", "anti_passback",
            "offline", "admission_undone"} <= set(FLAGS)
    assert {"blocked_plate", "liveness_failed", "pin_locked"} <= set(DECISION_ALARMS)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize(
    "value", sorted({*FLAGS, *DECISION_ALARMS, *(str(r) for r in Reason)})
)
def test_every_flag_reason_and_alarm_code_has_a_label(lang: str, value: str) -> None:
    label = code(lang, value)  # type: ignore[arg-type]
    assert label and label != value, f"code.{value} has no {lang} label: shown as {value!r}"


# Safety events are stored as alarms of their own kind (services/container.py), except a
# barrier fault (one hardware_fault per gate, labelled above) and a recovery (no alarm).
SAFETY_ALARMS = sorted(
    str(k) for k in SafetyEventKind
    if k not in (SafetyEventKind.BARRIER_FAULT, SafetyEventKind.BARRIER_RECOVERED)
)


@pytest.mark.parametrize("lang", LANGS)
@pytest.mark.parametrize("kind", SAFETY_ALARMS)
def test_every_safety_alarm_has_a_label_and_a_hint(lang: str, kind: str) -> None:
    """The hardware layer's alarms (fire alarm, 异常抬杆) are not in the scan above."""
    label = code(lang, kind)  # type: ignore[arg-type]
    assert label and label != kind, f"code.{kind} has no {lang} label"
    hint_key = f"alarm.hint.{kind}"
    assert translate(lang, hint_key) != hint_key, f"{hint_key} has no {lang} text"  # type: ignore[arg-type]
