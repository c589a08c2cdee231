"""The city spool's file: its lines, and what a start finds in it.

It is a log of JSON lines, appended as messages are queued and finished:

    {"seq": 12, "topic": "parkgate/demo/passages", "body": "{…}"}   queued
    {"done": 12}                                                    acknowledged or dropped
    {"late": 1, "topic": "parkgate/demo/passages", "body": "{…}"}   queued during the load

``late`` lines are those a start queues while it still reads the file (see
services/city_spool_load.py): ``late`` n stands for the number (highest before its ``late`` 1)
+ n, whichever start reads them. The spool itself is :class:`services.city_spool.CitySpool`.
"""

from __future__ import annotations

import json
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path


@dataclass(frozen=True, slots=True)
class Spooled:
    seq: int
    topic: str
    body: str

    def line(self) -> str:
        """The message as the file holds it, without the newline."""
        return json.dumps({"seq": self.seq, "topic": self.topic, "body": self.body},
                          ensure_ascii=False)


@dataclass(frozen=True, slots=True)
class FileRead:
    """The file as a start finds it."""

    left: list[Spooled]  # not done, oldest first, with ``rewrite_body`` applied
    next: int  # above every number the file holds
    finished: int  # queued lines whose message is done
    torn: int  # unreadable lines (cut short by a crash or a full disk)
    changed: bool  # ``rewrite_body`` changed a body: the file holds the old one


NOTHING_READ = FileRead([], 1, 0, 0, False)


def late_line(late: int, topic: str, body: str) -> str:
    return json.dumps({"late": late, "topic": topic, "body": body}, ensure_ascii=False)


def read_file(
    path: Path, limit: int | None, rewrite_body: Callable[[Spooled], str] | None
) -> FileRead:
    """The messages in ``path`` (its first ``limit`` bytes when given) not done yet. Pure
    apart from reading: the start runs it in a worker thread."""
    queued: dict[int, Spooled] = {}
    next_seq, late_base, lines, torn = 1, 0, 0, 0
    try:
        f = path.open("rb")
    except FileNotFoundError:
        return NOTHING_READ
    with f:
        remaining = limit
        for raw in f:
            if remaining is not None:
                if remaining <= 0:
                    break  # appended since the read began: the event loop holds those
                remaining -= len(raw)
            try:
                entry = json.loads(raw)
                if "done" in entry:
                    queued.pop(int(entry["done"]), None)
                    continue
                if "late" in entry:
                    late = int(entry["late"])
                    if late == 1:  # a start's first: its numbers go on from the file's highest
                        late_base = next_seq - 1
                    seq = late_base + late
                else:
                    seq = int(entry["seq"])
                message = Spooled(seq, str(entry["topic"]), str(entry["body"]))
            except (ValueError, KeyError, TypeError):
                torn += 1  # a line cut short by a crash or a full disk
                continue
            queued[seq] = message
            lines += 1
            next_seq = max(next_seq, seq + 1)
    left = sorted(queued.values(), key=lambda m: m.seq)
    changed = False
    if rewrite_body is not None:
        rewritten = []
        for message in left:
            body = rewrite_body(message)
            if body != message.body:
                changed = True
                message = Spooled(message.seq, message.topic, body)
            rewritten.append(message)
        left = rewritten
    return FileRead(left, next_seq, lines - len(left), torn, changed)
