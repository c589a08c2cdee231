// 车位与火警 kept current: the fire alarm, the gates and the zone counts follow the console's
// event stream (as the booth page does), so an admin never acts on figures from page load.
"use strict";
(function () {
  const { t, sessionExpired } = window.parkgate;
  const note = document.getElementById("site-live");
  const zoneRows = document.getElementById("zone-rows");
  const fire = document.getElementById("fire");
  const safetyOn = fire.dataset.safety === "yes";
  const gateTable = document.getElementById("gate-states");
  const stateLabels = gateTable ? JSON.parse(gateTable.dataset.states || "{}") : {};
  // The alarm kinds that start and end the fire hold (hardware/registry.py SafetyEventKind).
  const FIRE_KINDS = new Set(["fire_alarm", "fire_alarm_cleared"]);

  // Plain reads, not the shared api(): what the stream prompts is no sign that someone is at
  // the screen, and must not hold off the idle log-out (api() counts each call as activity).
  // null when there is nothing to show: the server away (the stream reconnects and this is
  // read again), a refusal, or a lost session, which is said as other admin pages say it.
  async function read(url) {
    let response;
    try {
      response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    } catch (err) {
      return null;
    }
    if (response.status === 401) { sessionExpired(null); return null; }
    return response.ok ? response.json() : null;
  }

  function showLive(live) {
    note.dataset.live = live ? "yes" : "no";
    note.querySelector(".live-dot").classList.toggle("on", live);
    note.querySelector('[data-role="text"]').textContent = t(live ? "site.live_on" : "msg.live_lost");
  }

  // ---- zone counts ----------------------------------------------------------------------
  // The server's stamps carry microseconds, which Date.parse is not bound to read.
  function stamp(iso) {
    return Date.parse(String(iso || "").replace(/(\.\d{3})\d+/, "$1")) || 0;
  }
  // Only the figures shown: the correction form below a row is left as the admin typed it.
  function showZones(zones) {
    (zones || []).forEach((zone) => {
      const row = zoneRows.querySelector(`tr[data-zone="${CSS.escape(zone.id)}"]`);
      if (!row) return;  // a zone configured after the page was rendered: the next load has it
      // A read sent before a car moved the count can answer after that car's event: an older
      // figure must not replace a newer one.
      if (stamp(zone.updated_at) < stamp(row.dataset.updated)) return;
      row.dataset.updated = zone.updated_at;
      row.dataset.occupied = String(zone.occupied);
      row.querySelector("td.capacity").textContent = String(zone.capacity);
      row.querySelector("td.occupied").textContent = String(zone.occupied);
      row.querySelector("td.free").textContent = String(zone.free);
    });
  }
  // Read on each hello and resync (see the stream below). A 503 (no parking service,
  // or the database down since start) shows nothing: the events still bring the counts.
  async function refreshZones() {
    const availability = await read("/api/v1/availability");
    if (availability) showZones(availability.zones);
  }

  // ---- fire alarm and gates -------------------------------------------------------------
  function showFire(active) {
    fire.dataset.fireAlarm = active ? "yes" : "no";
    const shown = active ? "active" : "none";
    fire.querySelectorAll("[data-when]").forEach((el) => { el.hidden = el.dataset.when !== shown; });
  }
  const gateEventAt = new Map();  // gate id -> performance.now() of its last state event
  function showGate(gateId, state) {
    const row = gateTable.querySelector(`tr[data-gate="${CSS.escape(gateId)}"]`);
    if (!row) return;
    row.dataset.state = state;
    row.querySelector("td.state").textContent = stateLabels[state] || state;
  }
  // The supervisor's own latch, not a guess from alarm kinds: an alarm stored late (or one
  // missed while the stream was down) cannot leave the page showing the wrong hold.
  let safetyAsked = 0;
  async function refreshSafety() {
    if (!safetyOn) return;
    const asked = ++safetyAsked;
    const sent = performance.now();
    const status = await read("/api/v1/safety");
    if (!status || asked !== safetyAsked) return;  // a later read answers for the page
    showFire(status.fire_alarm);
    Object.entries(status.gates).forEach(([gateId, state]) => {
      if ((gateEventAt.get(gateId) || 0) < sent) showGate(gateId, state);
    });
  }

  // ---- the stream -----------------------------------------------------------------------
  // Events published while the stream was down, silent or behind (or before it first
  // connected) are not replayed: the counts and the fire hold are read on each hello and
  // resync (common.js followStream, which also notices a stream gone silent).
  window.parkgate.followStream({
    availability: (ev) => showZones(JSON.parse(ev.data).data.zones),
    gate: (ev) => {
      const data = JSON.parse(ev.data).data;
      if (!safetyOn || !data.state) return;  // "recovered" carries no state: one follows
      gateEventAt.set(data.gate_id, performance.now());
      showGate(data.gate_id, data.state);
    },
    alarm: (ev) => {
      if (FIRE_KINDS.has(JSON.parse(ev.data).data.kind)) refreshSafety();
    },
  }, showLive, () => { refreshZones(); refreshSafety(); });
})();
