"""The city feed's passages and alarms kept on disk until the broker has acknowledged them.

The city publisher's queue is in memory; this file makes it survive a restart or a crash during
a broker outage. It is a log of JSON lines, appended as messages are queued and finished:

    {"seq": 12, "topic": "parkgate/demo/passages", "body": "{…}"}   queued
    {"done": 12}                                                    acknowledged or dropped

What is queued and not done is sent again at the next start, in ``seq`` order, before anything
new: at least once, so a hub de-duplicates passages and alarms by ``id`` and ``at``
(docs/mqtt.md asks that already, for QoS 1). Every line is written through to the operating
system at once, which keeps it across a crash of the process; :meth:`CitySpool.sync` (run off
the event loop by the publisher, a moment later) puts queued lines on the disk against a power
cut. ``done`` lines are never synced on their own: losing one costs a duplicate, never a
message. When nothing is left to send the file is emptied; while a long outage keeps messages
waiting it is rewritten with only those once the finished lines far outnumber them. The rewrite
runs on the event loop (it must not race the appends), so it is kept rare and small: at most
once while a backlog of any size drains, and then of under a fifth of it.

Retained topics (availability, gate states) are not kept: the controller publishes the current
values again at start, and an old one would overwrite a newer one.

A disk that refuses a write stops the file, not the feed: it is logged once and the queue goes
on in memory as before.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import IO

from services.passage_journal import private_opener, replace_durably

logger = logging.getLogger(__name__)

# The file is rewritten once its finished lines outnumber COMPACT_SLACK + COMPACT_RATIO times
# the live ones: a dropping outage stays bounded, a drain after one rewrites only its tail.
COMPACT_SLACK = 1000
COMPACT_RATIO = 4


@dataclass(frozen=True, slots=True)
class Spooled:
    seq: int
    topic: str
    body: str

    def line(self) -> str:
        """The message as the file holds it, without the newline."""
        return json.dumps({"seq": self.seq, "topic": self.topic, "body": self.body},
                          ensure_ascii=False)


class CitySpool:
    """Append-only record of the event messages not yet acknowledged by the city broker."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._live: dict[int, Spooled] = {}
        self._finished_lines = 0  # queued lines in the file whose message is done
        self._next = 1
        self._out: IO[bytes] | None = None
        self._broken = False

    def load(self, rewrite_body: Callable[[Spooled], str] | None = None) -> list[Spooled]:
        """The messages a previous run left unsent, oldest first; the file is rewritten with
        only those (``rewrite_body`` may change a body first, e.g. mask a plate that an earlier
        setting published in full)."""
        queued: dict[int, Spooled] = {}
        torn = 0
        try:
            with self.path.open("rb") as f:
                for raw in f:
                    try:
                        entry = json.loads(raw)
                        if "done" in entry:
                            queued.pop(int(entry["done"]), None)
                        else:
                            message = Spooled(
                                int(entry["seq"]), str(entry["topic"]), str(entry["body"])
                            )
                            queued[message.seq] = message
                            self._next = max(self._next, message.seq + 1)
                    except (ValueError, KeyError, TypeError):
                        torn += 1  # a line cut short by a crash or a full disk
        except FileNotFoundError:
            pass
        except OSError as err:
            self._stop_writing("reading", err)
            return []
        if torn:
            logger.warning("city MQTT spool %s: %d unreadable line(s) skipped", self.path, torn)
        left = sorted(queued.values(), key=lambda m: m.seq)
        if rewrite_body is not None:
            left = [Spooled(m.seq, m.topic, rewrite_body(m)) for m in left]
        self._live = {m.seq: m for m in left}
        self._rewrite()
        return left

    def __len__(self) -> int:
        return len(self._live)

    def add(self, topic: str, body: str) -> int | None:
        """Keep a message until :meth:`done`; its sequence number, or None when the file is
        out of use (the message then lives in memory only)."""
        if self._broken:
            return None
        message = Spooled(self._next, topic, body)
        self._next += 1
        if not self._append(message.line()):
            return None
        self._live[message.seq] = message
        return message.seq

    def done(self, seq: int) -> None:
        """``seq`` was acknowledged by the broker, or dropped from a full queue."""
        if self._live.pop(seq, None) is None or self._broken:
            return
        self._finished_lines += 1
        if not self._live:
            self._empty()
        elif self._finished_lines > COMPACT_SLACK + COMPACT_RATIO * len(self._live):
            self._rewrite()
        else:
            self._append(json.dumps({"done": seq}))

    def sync(self) -> None:
        """fsync what was appended; safe from another thread (the file may be closed or
        replaced meanwhile: then the replacement was synced by the rewrite)."""
        out = self._out
        if out is None:
            return
        with contextlib.suppress(OSError, ValueError):
            os.fsync(out.fileno())

    def close(self) -> None:
        out, self._out = self._out, None
        if out is not None:
            out.close()

    # -- the file --------------------------------------------------------------------------
    def _file(self) -> IO[bytes]:
        if self._out is None:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._out = open(self.path, "ab", opener=private_opener)  # noqa: SIM115
        return self._out

    def _append(self, line: str) -> bool:
        try:
            out = self._file()
            out.write(line.encode("utf-8") + b"\n")
            out.flush()
        except OSError as err:
            self._stop_writing("writing", err)
            return False
        return True

    def _empty(self) -> None:
        """Nothing left to send. Not synced: a power cut that brings the old lines back costs
        duplicates the hub drops, and this runs once per acknowledged passage."""
        try:
            self._file().truncate(0)
        except OSError as err:
            self._stop_writing("emptying", err)
            return
        self._finished_lines = 0

    def _rewrite(self) -> None:
        """The file replaced by the live messages alone (empty when none)."""
        if self._broken:
            return
        self.close()
        lines = [m.line() + "\n" for m in self._live.values()]
        try:
            if lines or self.path.exists():
                self.path.parent.mkdir(parents=True, exist_ok=True)
                replace_durably(self.path, lines)
        except OSError as err:
            self._stop_writing("rewriting", err)
            return
        self._finished_lines = 0

    def _stop_writing(self, doing: str, err: OSError) -> None:
        self._broken = True
        # Closing flushes what the full disk refused again, and fails again: the file is
        # closed all the same, and the message must still reach the queue in memory.
        with contextlib.suppress(OSError):
            self.close()
        logger.error(
            "city MQTT spool %s failed %s (%s): from now on passages and alarms waiting for the "
            "broker are kept in memory only, and a restart during a broker outage loses them",
            self.path, doing, err,
        )


SPOOL_FILE = "city_mqtt.jsonl"


def open_city_spool(journal_dir: Path, *, durable: bool) -> CitySpool | None:
    """The spool in ``journal_dir``, or None with ``mqtt.durable_queue`` off (a file an earlier
    setting left is removed then: its messages would never be sent)."""
    path = journal_dir / SPOOL_FILE
    if durable:
        return CitySpool(path)
    try:
        path.unlink()
    except FileNotFoundError:
        return None
    except OSError as err:
        logger.error("cannot remove city MQTT spool %s: %s", path, err)
        return None
    logger.warning(
        "mqtt.durable_queue is off: removed %s with the passages and alarms an earlier run had "
        "not sent to the city broker", path,
    )
    return None
