"""Prometheus metrics: what an operator graphs and alerts on across many communities.

Counters come from the event bus (a listener, like the city publisher), so the controller
core knows nothing of Prometheus: passages by gate, decision and reason, alarms by kind.
Frame timings come from where frames are handled, which already measures each stage: the
frame service for frames pushed to the API, the camera pipeline for frames parkgate's camera
workers read (``source`` tells them apart). Everything that is a state (gates, zones,
journals, the city link, the database) is read when scraped, from the same sources /healthz
reads, so a scrape never disagrees with the health check.

No plate, name or face ever becomes a label: labels are gate ids, zone ids and codes.
"""

from __future__ import annotations

import logging
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from typing import Literal

from prometheus_client import CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, Metric
from prometheus_client.registry import Collector

from controllers.events import Event
from services.loop_watch import LoopHealth

logger = logging.getLogger(__name__)

# Seconds; around the reader's measured p50 (~40-70 ms) and its slow no-plate path (~0.4 s).
FRAME_BUCKETS = (0.01, 0.025, 0.05, 0.08, 0.1, 0.15, 0.25, 0.4, 0.6, 1.0, 2.0, 5.0)
BARRIER_STATES = ("closed", "opening", "open", "closing", "held_open", "fault")
# Where a timed frame came from: pushed to the API by a camera, or read by a camera worker.
FrameOrigin = Literal["push", "camera"]


@dataclass(frozen=True, slots=True)
class SiteState:
    """What a scrape reports as gauges, read fresh each time."""

    database_up: bool
    gates: Mapping[str, str]  # gate id → barrier state
    zones: Mapping[str, tuple[int, int]]  # zone id → (capacity, occupied)
    zones_stale: bool
    journal_waiting: int
    audit_journal_waiting: int
    city_connected: bool | None  # None: no city link configured
    city_queued: int
    city_dropped: int
    bus_dropped: int
    # gate id → (up, frames read or pushed since start) of each watched camera
    cameras: Mapping[str, tuple[bool, int]] = field(default_factory=dict)
    # data_dir's disk: free bytes, and whether it is low or a write found it full (None: the
    # services watch no disk)
    disk_free_bytes: int | None = None
    disk_low: bool = False
    # Seconds the system clock reads behind the time already seen (services/clock_watch.py);
    # None: not watched.
    clock_behind_s: float | None = None
    # Space sensor and camera readings since start by outcome (``accepted`` or why one was
    # rejected: services/parking.py ``stats``); empty without a parking service.
    space_readings: Mapping[str, int] = field(default_factory=dict)
    # The event loop's answers (services/loop_watch.py); None when nothing watches it.
    loop: LoopHealth | None = None
    # asyncio tasks alive on the loop at the scrape (None: not read): every stream, worker
    # and background job is one, so a count that climbs with time is a task left behind.
    loop_tasks: int | None = None


class _StateCollector(Collector):
    """Reports the state the scrape read just before (``Metrics.render``)."""

    def __init__(self) -> None:
        self.state: SiteState | None = None

    def describe(self) -> list[Metric]:
        return []  # nothing to read when registered

    def collect(self) -> Iterator[Metric]:
        state = self.state
        if state is None:
            return
        yield _gauge("parkgate_database_up", "1 when the database answers a query.",
                     int(state.database_up))
        gates = GaugeMetricFamily(
            "parkgate_gate_state", "1 for each gate's current barrier state.",
            labels=["gate", "state"],
        )
        for gate_id, current in state.gates.items():
            for name in BARRIER_STATES:
                gates.add_metric([gate_id, name], int(current == name))
        yield gates
        capacity = GaugeMetricFamily("parkgate_zone_capacity", "Spaces in the zone.",
                                     labels=["zone"])
        occupied = GaugeMetricFamily("parkgate_zone_occupied", "Cars counted in the zone.",
                                     labels=["zone"])
        for zone_id, (spaces, cars) in state.zones.items():
            capacity.add_metric([zone_id], spaces)
            occupied.add_metric([zone_id], cars)
        yield capacity
        yield occupied
        yield _gauge("parkgate_zone_counts_stale",
                     "1 while zone counts are the last read before a database outage.",
                     int(state.zones_stale))
        yield _gauge("parkgate_journal_waiting",
                     "Entries waiting in the passage journal for the database (passages, "
                     "barrier outcomes, alarms, guards' opens): /healthz journal_waiting.",
                     state.journal_waiting)
        yield _gauge("parkgate_audit_journal_waiting",
                     "Staff actions waiting in the audit journal for the database.",
                     state.audit_journal_waiting)
        if state.city_connected is not None:
            yield _gauge("parkgate_city_mqtt_connected", "1 while the city broker is connected.",
                         int(state.city_connected))
            yield _gauge("parkgate_city_mqtt_queued",
                         "Messages the city broker has not acknowledged yet.", state.city_queued)
            yield _gauge("parkgate_city_mqtt_dropped",
                         "Passages and alarms dropped since start, the queue being full.",
                         state.city_dropped)
        if state.cameras:
            up = GaugeMetricFamily(
                "parkgate_camera_up", "0 once a gate's camera was silent for its "
                "alarm_after_s (camera_offline alarm), 1 otherwise; cameras parkgate reads "
                "and pushing cameras with push_camera.heartbeat_s.", labels=["gate"],
            )
            read = CounterMetricFamily(
                "parkgate_camera_frames_read", "Frames a camera worker got from its camera, "
                "or a pushing camera pushed (read or not: see parkgate_frame_stage_seconds).",
                labels=["gate"],
            )
            for gate_id, (camera_up, frames) in state.cameras.items():
                up.add_metric([gate_id], int(camera_up))
                read.add_metric([gate_id], frames)
            yield up
            yield read
        if state.space_readings:
            readings = CounterMetricFamily(
                "parkgate_space_readings", "Space sensor and camera readings since start: "
                "accepted, or the reason one was rejected (docs/parking.md): a rising "
                "rejection is a sensor or camera to look at.", labels=["outcome"],
            )
            for outcome, count in sorted(state.space_readings.items()):
                readings.add_metric([outcome], count)
            yield readings
        if state.disk_free_bytes is not None:
            yield _gauge("parkgate_data_disk_free_bytes",
                         "Free bytes on data_dir's disk (database, journals, snapshots).",
                         state.disk_free_bytes)
            yield _gauge("parkgate_data_disk_low",
                         "1 while free space is below storage.min_free_mb or a write found "
                         "the disk full: /healthz storage.", int(state.disk_low))
        if state.clock_behind_s is not None:
            yield _gauge("parkgate_clock_behind_seconds",
                         "How far the system clock reads behind the latest time this controller "
                         "saw (0 in step): records carry the held time meanwhile.",
                         state.clock_behind_s)
        if state.loop is not None:
            yield _gauge("parkgate_event_loop_lag_seconds",
                         "How late the event loop answered its last question (a few a "
                         "second); while it is stalled, for how long so far.",
                         state.loop.lag_s)
            yield CounterMetricFamily(
                "parkgate_event_loop_stalls", "Times the event loop did not answer for a "
                "second or more since start (each logged with what held it).",
                value=state.loop.stalls,
            )
            yield _gauge("parkgate_event_loop_longest_stall_seconds",
                         "The longest such stall since start.", state.loop.longest_stall_s)
        if state.loop_tasks is not None:
            yield _gauge("parkgate_event_loop_tasks",
                         "asyncio tasks alive on the event loop (streams being followed, "
                         "background jobs, requests in progress).", state.loop_tasks)
        yield _gauge("parkgate_event_bus_dropped",
                     "Events a slow subscriber (a console, a board) lost since start.",
                     state.bus_dropped)


def _gauge(name: str, documentation: str, value: float) -> GaugeMetricFamily:
    return GaugeMetricFamily(name, documentation, value=value)


class Metrics:
    """One registry per services container (tests build many in one process): the camera
    workers, built with the services before any app, observe into the one /metrics serves."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=False)
        self.passages = Counter(
            "parkgate_passages", "Passages recorded, by gate, decision and reason (an "
            "outage's passages when they reach the database).",
            ["gate", "decision", "reason"], registry=self.registry,
        )
        self.alarms = Counter("parkgate_alarms", "Alarms raised, by kind.", ["kind"],
                              registry=self.registry)
        self.frame_seconds = Histogram(
            "parkgate_frame_stage_seconds",
            "Time per vehicle-gate frame by stage and source. source=push: each frame pushed "
            "to the API (decode, recognize, snapshot, decide_record_barrier). source=camera: "
            "recognize per frame a camera worker read (not frames the motion gate skipped), "
            "snapshot and decide_record_barrier per voted passage.",
            ["gate", "stage", "source"], buckets=FRAME_BUCKETS, registry=self.registry,
        )
        self._state = _StateCollector()
        self.registry.register(self._state)

    def on_event(self, event: Event) -> None:
        """Bus listener: called on the loop for every event; only counts."""
        data = event.data
        if event.type == "passage":
            self.passages.labels(
                str(data.get("gate_id", "")), str(data.get("decision", "")),
                str(data.get("reason", "")),
            ).inc()
        elif event.type == "alarm" and data.get("acknowledged_at") is None:
            # An acknowledgement republishes the alarm; it is not a second alarm.
            self.alarms.labels(str(data.get("kind", ""))).inc()

    def observe_frame(
        self, gate_id: str, timings_ms: Mapping[str, float], *, source: FrameOrigin
    ) -> None:
        for stage, ms in timings_ms.items():
            self.frame_seconds.labels(gate_id, stage, source).observe(ms / 1000)

    def render(self, state: SiteState) -> bytes:
        """The text exposition, with ``state`` as the gauges (read by the caller, which may
        await the zone counts and run the database check off the loop)."""
        self._state.state = state
        try:
            return generate_latest(self.registry)
        finally:
            self._state.state = None
