"""Argument types shared by the commands (main.py, backup, city-hub): a bad value is argparse's
one-line usage error and exit 2, in words, never a traceback nor argparse's "invalid
_private_function value" (it names the type function when one raises ValueError)."""

from __future__ import annotations

import argparse
from collections.abc import Callable


def whole_number(minimum: int, rule: str) -> Callable[[str], int]:
    """A whole number of at least ``minimum``; ``rule`` says so when it is not
    ("must be 1 or more")."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"expected a whole number, got {text!r}") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{rule}, got {text}")
        return value

    return parse


def positive_seconds(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number of seconds, got {text!r}") from None
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be above 0, got {text}")
    return value


def port(text: str) -> int:
    """A TCP port. Named ``port`` because argparse names the type in its error for a word
    ("invalid port value: 'abc'")."""
    value = int(text)
    if not 1 <= value <= 65535:
        raise argparse.ArgumentTypeError(f"a port is 1-65535, got {text}")
    return value
