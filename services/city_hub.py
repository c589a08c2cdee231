"""``python main.py city-hub``: the reference consumer of the city feed (docs/mqtt.md).

A city platform runs its own hub; this one shows what docs/mqtt.md asks of it, and is what
parkgate's tests aggregate several communities with:

- a persistent MQTT 5 session (``clean_start`` false, no expiry) subscribed with QoS 1 to
  ``<prefix>/+/#``, so passages sent while the hub was away arrive when it is back;
- passages and alarms de-duplicated by ``(community, id, at)`` (QoS 1 is at least once, and a
  controller re-sends what the broker had not acknowledged when it restarted: the same message,
  ``at`` included); ``at`` is in the key because a controller restored from a backup numbers
  its next passages from the backup's ids again; an alarm without an id (raised during a
  database outage) is always new;
- an unknown major version of a schema refused (once logged per community and schema), unknown
  fields ignored;
- the latest availability, status and gate state of every community kept, and the city's
  totals from them; each community's from its first controller (``controller``), a second
  one under the same name refused, its status too (named by the status's ``controller`` user
  property; a status without one, from a controller older than it, is refused while a second
  controller is heard).

Accepted passages and alarms may be appended to a JSON-lines file (``--out``): the hub's own
record, one object per line with the topic's community. A summary of the city is logged every
``--every`` seconds.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import logging
import re
import signal
import threading
import time
from collections import OrderedDict
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO, Any

from cli_arguments import port, positive_seconds

logger = logging.getLogger(__name__)

SUPPORTED_MAJOR = 1
CONTROLLER_ID = re.compile(r"[0-9a-f]{12}")
# Ids remembered per community for de-duplication: far more than a broker re-sends at once.
SEEN_PER_COMMUNITY = 10_000
# Distinct refusals (community, why) each logged once: a "why" quotes the message's own schema,
# so a publisher sending ever-new ones must not grow the hub (nor its log) for ever; past this
# many, new ones are only counted (``refused``).
REFUSALS_LOGGED = 1_000
# A community's messages come from one controller (its ``controller`` id). Another id while
# the first was heard within this long is a second controller under the same community name,
# refused; after it, a replacement box, taken. Availability is sent on every change and gates
# report their state, so a working controller is heard far more often than this.
CONTROLLER_QUIET_S = 600.0


@dataclass
class Community:
    name: str
    online: bool | None = None  # None: no status message seen yet
    availability: dict[str, Any] | None = None
    gates: dict[str, dict[str, Any]] = field(default_factory=dict)
    passages: int = 0
    alarms: int = 0
    repeats: int = 0  # passages and alarms dropped as already seen
    controller: str | None = None  # the id of the controller publishing it (None: unknown)
    controller_heard: float = 0.0  # when it was last heard (the hub's monotonic clock)
    clashes: int = 0  # messages refused as another controller's under this name
    # The last controller refused under this name, and when it was heard: while it is heard,
    # a status message without an id (an older controller's) may be its own.
    rival: str | None = None
    rival_heard: float = 0.0
    seen: OrderedDict[tuple[str, int, str], None] = field(default_factory=OrderedDict)

    def first_time(self, kind: str, ident: int, at: str) -> bool:
        key = (kind, ident, at)
        if key in self.seen:
            self.seen.move_to_end(key)
            self.repeats += 1
            return False
        self.remember(key)
        return True

    def remember(self, key: tuple[str, int, str]) -> None:
        self.seen[key] = None
        if len(self.seen) > SEEN_PER_COMMUNITY:
            self.seen.popitem(last=False)


@dataclass(frozen=True, slots=True)
class Accepted:
    """A passage or alarm taken for the first time."""

    community: str
    kind: str  # "passage" or "alarm"
    payload: dict[str, Any]


def record_line(accepted: Accepted) -> str:
    """The ``--out`` line of ``accepted``: the message as received (its ``schema`` says
    passage or alarm, its ``community`` is the topic's: ``_problem`` refuses another).
    No field is added: an alarm's own ``kind`` (blocked_plate…) is one of its fields."""
    return json.dumps(accepted.payload, ensure_ascii=False) + "\n"


class CityHub:
    """The city's picture, fed one MQTT message at a time (no network in here)."""

    def __init__(
        self, prefix: str = "parkgate", *, clock: Callable[[], float] = time.monotonic
    ) -> None:
        self.prefix = prefix.rstrip("/")
        self._clock = clock
        self.communities: dict[str, Community] = {}
        self.refused = 0
        self._refusals_logged: set[tuple[str, str]] = set()
        self._refusals_full = False

    def take(
        self, topic: str, payload: bytes, *, controller: str | None = None
    ) -> Accepted | None:
        """Fold one message in; returns it when it is a passage or alarm seen for the first
        time. ``controller``: the id a status message names in its MQTT 5 user property."""
        parts = topic.split("/")
        head = self.prefix.split("/")
        if parts[: len(head)] != head or len(parts) < len(head) + 2 or not parts[len(head)]:
            return None
        name, rest = parts[len(head)], parts[len(head) + 1 :]
        kind = (
            {"availability": "availability", "passages": "passage", "alarms": "alarm"}.get(rest[0])
            if len(rest) == 1
            else ("gate" if len(rest) == 3 and rest[0] == "gates" and rest[2] == "state" else None)
        )
        if kind is None and rest != ["status"]:
            # Not the feed's (a free-space board's parkgate/display/<zone>, a lane screen's
            # parkgate/screens/<gate> on the same broker): no community of that name, which
            # the summary counted and listed as one with no status or availability.
            return None
        community = self.communities.setdefault(name, Community(name))
        if rest == ["status"]:
            if controller is None:
                if not self._status_is_its_controllers(community):
                    return None
            elif not CONTROLLER_ID.fullmatch(controller):
                self._refuse(name, "status", "controller id not 12 hex digits")
                return None
            elif not self._from_its_controller(community, "status", controller):
                return None
            text = payload.decode("utf-8", errors="replace")
            community.online = {"online": True, "offline": False}.get(text, community.online)
            return None
        if kind is None:
            return None
        body = self._body(name, kind, payload)
        if body is None or not self._from_its_controller(community, kind, body.get("controller")):
            return None
        if kind == "availability":
            community.availability = body
        elif kind == "gate":
            community.gates[rest[1]] = body
        else:
            ident = body.get("id")
            if ident is not None and not community.first_time(kind, ident, body["at"]):
                return None
            if kind == "passage":
                community.passages += 1
            else:
                community.alarms += 1
            return Accepted(name, kind, body)
        return None

    def _from_its_controller(self, community: Community, kind: str, who: object) -> bool:
        """Whether a message naming controller ``who`` comes from the controller publishing
        ``community`` (messages of controllers older than the ``controller`` field are taken
        as they come)."""
        if not isinstance(who, str):
            return True
        now = self._clock()
        current = community.controller
        if current is not None and who != current:
            quiet = now - community.controller_heard
            if quiet < CONTROLLER_QUIET_S:
                community.clashes += 1
                community.rival, community.rival_heard = who, now
                self._refuse(
                    community.name, kind,
                    f"controller {who} publishes as this community while controller {current} "
                    "does: two controllers share one community.name; give one of them another",
                )
                return False
            logger.info("city hub: %s is now published by controller %s (controller %s quiet "
                        "for %.0f s: a replaced box)", community.name, who, current, quiet)
        community.controller, community.controller_heard = who, now
        if community.rival == who:
            community.rival = None  # the refused one took over: no longer another's
        return True

    def _status_is_its_controllers(self, community: Community) -> bool:
        """Whether a status message naming no controller (one older than the status's
        ``controller`` property, or on MQTT 3.1.1) can be taken as the community's
        controller's: not while another controller under the name
        was heard in the last CONTROLLER_QUIET_S, since it may be that one's (its stop, its
        last will), and would show the community offline, or online, for it. Refused then
        and counted as that controller's, the community keeping the status it had."""
        rival = community.rival
        if rival is None or self._clock() - community.rival_heard >= CONTROLLER_QUIET_S:
            return True
        community.clashes += 1
        self._refuse(
            community.name, "status",
            f"controller {rival} publishes as this community while controller "
            f"{community.controller} does, and a status names neither: not taken until one "
            "of them has been quiet for "
            f"{CONTROLLER_QUIET_S:.0f} s; give one of them another community.name",
        )
        return False

    def remember(self, record_file: Path) -> int:
        """Take the ids of a record an earlier run wrote (``--out``) as seen, so a restarted
        hub does not append a passage or alarm a second time; returns how many were read."""
        read = 0
        try:
            with record_file.open(encoding="utf-8") as f:
                for line in f:
                    try:
                        entry = json.loads(line)
                        name, ident = entry["community"], entry["id"]
                        # The message's own schema says passage or alarm (an alarm's "kind"
                        # is blocked_plate…; older records also put "passage" there).
                        kind = str(entry["schema"]).partition("/")[0].removeprefix("parkgate.")
                        at = str(entry.get("at"))
                    except (ValueError, KeyError, TypeError, RecursionError):
                        continue  # a line cut short when the last run stopped
                    if isinstance(ident, int) and kind in ("passage", "alarm"):
                        self.communities.setdefault(name, Community(name)).remember(
                            (kind, ident, at)
                        )
                        read += 1
        except FileNotFoundError:
            return 0
        return read

    def _body(self, community: str, kind: str, payload: bytes) -> dict[str, Any] | None:
        why: str | None
        try:
            body = json.loads(payload)
        except (ValueError, RecursionError):  # RecursionError: nested deeper than Python goes
            body, why = None, "not JSON"
        else:
            why = _problem(community, kind, body)
        if why is not None:
            self._refuse(community, kind, why)
            return None
        return body

    def _refuse(self, community: str, kind: str, why: str) -> None:
        self.refused += 1
        if (community, why) in self._refusals_logged:
            return
        if len(self._refusals_logged) >= REFUSALS_LOGGED:
            if not self._refusals_full:
                self._refusals_full = True
                logger.warning(
                    "city hub: %d different kinds of refused message logged; further new "
                    "kinds are counted without a word (from %s now: %s)",
                    REFUSALS_LOGGED, community, why,
                )
            return
        self._refusals_logged.add((community, why))
        logger.warning(
            "city hub: %s message from %s refused (%s); later ones like it are "
            "refused without a word",
            kind,
            community,
            why,
        )

    def totals(self) -> dict[str, Any]:
        """The city's free spaces over the communities whose availability is known."""
        # Each one's totals are integers: _body refuses an availability without them.
        known = [c.availability for c in self.communities.values() if c.availability is not None]
        return {
            "communities": len(self.communities),
            "online": sum(1 for c in self.communities.values() if c.online),
            "total_capacity": sum(a["total_capacity"] for a in known),
            "total_free": sum(a["total_free"] for a in known),
            "passages": sum(c.passages for c in self.communities.values()),
            "alarms": sum(c.alarms for c in self.communities.values()),
            "repeats_dropped": sum(c.repeats for c in self.communities.values()),
            "refused": self.refused,
            "controller_clashes": sum(c.clashes for c in self.communities.values()),
            "gates_in_fault": sorted(
                f"{c.name}/{gate}"
                for c in self.communities.values()
                for gate, state in c.gates.items()
                if state.get("state") == "fault"
            ),
        }

    def summary_lines(self) -> list[str]:
        lines = []
        for c in sorted(self.communities.values(), key=lambda c: c.name):
            a = c.availability
            free = f"{a['total_free']}/{a['total_capacity']} free" if a else "availability unknown"
            state = {True: "online", False: "OFFLINE", None: "status unknown"}[c.online]
            line = f"{c.name}: {state}, {free}, {c.passages} passages, {c.alarms} alarms"
            if c.clashes:
                line += (f", {c.clashes} message(s) of a second controller under this name "
                         "refused")
            lines.append(line)
        return lines


def _count(value: Any) -> bool:
    """An integer of the schemas' ``minimum: 0`` (JSON true is not one, though Python's bool
    is an int)."""
    return isinstance(value, int) and not isinstance(value, bool) and value >= 0


def _problem(community: str, kind: str, body: Any) -> str | None:
    """Why a decoded ``kind`` message on ``community``'s topic is refused; None when the hub
    can read it. Only what the hub's picture rests on is checked (another publisher on the
    same topic tree must not skew the city's numbers); other fields are passed on as sent."""
    if not isinstance(body, dict):
        return "not a JSON object"
    name, _, version = str(body.get("schema", "")).partition("/")
    if name != f"parkgate.{kind}":
        return f"schema {body.get('schema')!r}"
    major = version.split(".")[0]
    if not major.isdigit() or int(major) != SUPPORTED_MAJOR:
        return f"schema {body['schema']!r}: this hub reads version {SUPPORTED_MAJOR}"
    ident = body.get("id")
    if kind == "passage" and not (_count(ident) and ident):
        return "passage without an id"
    if kind == "alarm" and not (ident is None or (_count(ident) and ident)):
        return "alarm id neither a positive integer nor null"
    if kind in ("passage", "alarm") and not isinstance(body.get("at"), str):
        return f"{kind} without its time of emission (at)"  # half of the de-duplication key
    if kind == "availability" and not all(
        _count(body.get(key)) for key in ("total_capacity", "total_free")
    ):
        # The city's totals add these up on the hub's main loop: a bad one would end it.
        return "availability without its totals"
    if kind == "gate" and not isinstance(body.get("state"), str):
        return "gate message without a state"
    controller = body.get("controller")
    if controller is not None and not (
        isinstance(controller, str) and CONTROLLER_ID.fullmatch(controller)
    ):
        # The hub keeps a community's controller by it: anything else would be a new one.
        return "controller id not 12 hex digits"
    if body.get("community") != community:
        # The record and the de-duplication key name the topic's community.
        return "its community is not the topic's"
    return None


def run_hub(
    hub: CityHub,
    host: str,
    port: int,
    *,
    client_id: str,
    out: IO[str] | None,
    every_s: float,
    stop: threading.Event,
    subscribed: threading.Event | None = None,
) -> bool:
    """Subscribe and fold messages into ``hub`` until ``stop`` is set (``subscribed`` is set
    once the broker has confirmed the subscription). Returns False when it stopped because
    ``out`` could not be written: a message is acknowledged to the broker only once it is in
    ``out``, so the one that failed, and those after it, wait in the session for the next
    run."""
    import paho.mqtt.client as mqtt
    from paho.mqtt.packettypes import PacketTypes
    from paho.mqtt.properties import Properties

    lock = threading.Lock()
    # MQTT 5: a status names its controller only in a user property, which 3.1.1 drops.
    client = mqtt.Client(
        mqtt.CallbackAPIVersion.VERSION2, client_id=client_id, protocol=mqtt.MQTTv5,
        manual_ack=True,
    )
    # The persistent session of 3.1.1's clean_session false: resumed at every connect and
    # kept by the broker while the hub is away (no expiry).
    session = Properties(PacketTypes.CONNECT)
    session.SessionExpiryInterval = 0xFFFFFFFF
    record_failed = threading.Event()

    def on_connect(c: mqtt.Client, _u: Any, flags: Any, reason: Any, _p: Any) -> None:
        if getattr(reason, "is_failure", False):
            logger.warning("city hub: broker %s:%d refused the connection: %s", host, port, reason)
            return
        logger.info(
            "city hub connected to %s:%d (session %s)",
            host,
            port,
            "resumed" if flags.session_present else "new",
        )
        # Subscribing again on a resumed session is harmless and covers a broker that lost it.
        c.subscribe(f"{hub.prefix}/+/#", qos=1)

    def on_message(c: mqtt.Client, _u: Any, m: mqtt.MQTTMessage) -> None:
        with lock:
            if record_failed.is_set():
                return  # not acknowledged: the broker hands it to the next run
            try:
                accepted = hub.take(  # payload typed bytes | bytearray
                    m.topic, bytes(m.payload), controller=_named_controller(m)
                )
            except Exception:
                # Whatever a message does to the hub, it must not end the client's network
                # thread (the hub would go on logging a frozen picture), nor come back from
                # the session at every start: it is logged, counted and acknowledged.
                logger.exception("city hub: message on %s could not be read; dropped", m.topic)
                hub.refused += 1
                accepted = None
            if accepted is not None and out is not None:
                try:
                    out.write(record_line(accepted))
                    out.flush()
                except OSError as err:
                    record_failed.set()
                    stop.set()
                    logger.error(
                        "city hub: cannot write the record (%s); stopping, and the "
                        "broker keeps this message and the next ones for the next "
                        "run",
                        err,
                    )
                    return
        c.ack(m.mid, m.qos)

    unreachable_logged = threading.Event()

    def on_connect_fail(_c: Any, _u: Any) -> None:
        if not unreachable_logged.is_set():
            unreachable_logged.set()
            logger.warning("city hub: broker %s:%d unreachable; retrying", host, port)

    def on_disconnect(_c: Any, _u: Any, _f: Any, reason: Any, _p: Any) -> None:
        if not stop.is_set():
            unreachable_logged.clear()
            logger.warning("city hub: link to %s:%d lost (%s); reconnecting", host, port, reason)

    def on_subscribe(_c: Any, _u: Any, _mid: int, reasons: Any, _p: Any) -> None:
        if any(getattr(r, "is_failure", False) for r in reasons):
            logger.error(
                "city hub: the broker refused the subscription to %s/+/#: %s", hub.prefix, reasons
            )
            return
        logger.info("city hub subscribed to %s/+/#", hub.prefix)
        if subscribed is not None:
            subscribed.set()

    client.on_connect = on_connect
    client.on_subscribe = on_subscribe
    client.on_connect_fail = on_connect_fail
    client.on_disconnect = on_disconnect
    client.on_message = on_message
    client.reconnect_delay_set(min_delay=1, max_delay=30)
    client.connect_async(host, port, keepalive=30, clean_start=False, properties=session)
    client.loop_start()
    try:
        next_summary = time.monotonic() + every_s
        while not stop.wait(min(0.2, every_s)):
            if time.monotonic() >= next_summary:
                next_summary += every_s
                _log_summary(hub, lock)
    finally:
        client.disconnect()
        client.loop_stop()
        _log_summary(hub, lock)
    return not record_failed.is_set()


def _named_controller(message: Any) -> str | None:
    """The controller id a message names in its ``controller`` user property (a status from
    a controller that has it), or None."""
    properties = getattr(message, "properties", None)
    for key, value in getattr(properties, "UserProperty", None) or ():
        if key == "controller":
            return str(value)
    return None


def _log_summary(hub: CityHub, lock: threading.Lock) -> None:
    with lock:
        totals, lines = hub.totals(), hub.summary_lines()
    logger.info(
        "city: %d communities (%d online), %d/%d spaces free, %d passages, %d alarms "
        "(%d repeats dropped, %d refused)%s",
        totals["communities"],
        totals["online"],
        totals["total_free"],
        totals["total_capacity"],
        totals["passages"],
        totals["alarms"],
        totals["repeats_dropped"],
        totals["refused"],
        f"; gates in fault: {', '.join(totals['gates_in_fault'])}"
        if totals["gates_in_fault"]
        else "",
    )
    for line in lines:
        logger.info("  %s", line)


def cmd_city_hub(args: argparse.Namespace) -> int:
    hub = CityHub(args.prefix)
    if args.out:
        known = hub.remember(args.out)
        if known:
            logger.info(
                "city hub: %d passages and alarms already in %s will not be appended again",
                known,
                args.out,
            )
    stop = threading.Event()
    # Ctrl-C and systemd's stop (SIGTERM) end the hub cleanly, with a last summary; set
    # explicitly, since a parent that ignores SIGINT would otherwise pass that on.
    for signum in (signal.SIGINT, signal.SIGTERM):
        signal.signal(signum, lambda *_: stop.set())
    if args.duration is not None:
        timer = threading.Timer(args.duration, stop.set)
        timer.daemon = True
        timer.start()
    out = _open_record(args.out) if args.out else None
    try:
        recorded = run_hub(
            hub,
            args.host,
            args.port,
            client_id=args.client_id,
            out=out,
            every_s=args.every,
            stop=stop,
        )
    finally:
        if out is not None:
            with contextlib.suppress(OSError):  # the disk that failed the record
                out.close()
    return 0 if recorded else 2


def _open_record(path: Path) -> IO[str]:
    """``path`` for appending, on a line of its own (a stop mid-line must not join the next
    record to the torn one)."""
    torn = False
    if path.exists() and path.stat().st_size > 0:
        with path.open("rb") as f:
            f.seek(-1, 2)
            torn = f.read(1) != b"\n"
    out = open(path, "a", encoding="utf-8")  # noqa: SIM115
    if torn:
        out.write("\n")
    return out


def register(sub: Any) -> None:
    parser = sub.add_parser(
        "city-hub",
        help="Aggregate many communities' MQTT feeds (the reference city hub of docs/mqtt.md).",
    )
    parser.add_argument("--host", default="127.0.0.1", help="City MQTT broker host.")
    parser.add_argument("--port", type=port, default=1883, help="City MQTT broker port.")
    parser.add_argument("--prefix", default="parkgate", help="Topic prefix (mqtt.topic_prefix).")
    parser.add_argument(
        "--client-id",
        default="parkgate-city-hub",
        help="The broker keeps the hub's session (what arrives while it is away) under this "
        "id: keep it across restarts, and give a second hub its own.",
    )
    parser.add_argument("--out", type=Path, help="Append accepted passages and alarms here.")
    parser.add_argument(
        "--every", type=positive_seconds, default=60.0, help="Seconds between summaries in the log."
    )
    parser.add_argument(
        "--duration",
        type=positive_seconds,
        help="Stop after this many seconds (default: run until interrupted).",
    )
    parser.set_defaults(func=cmd_city_hub)
