// The booth screen: live passages over SSE, gate actions, the review queue and alarms.
"use strict";
(function () {
  const { api, toast, t } = window.parkgate;
  const rows = document.getElementById("passage-rows");
  const filterGate = document.getElementById("filter-gate");
  const filterDecision = document.getElementById("filter-decision");
  const MAX_ROWS = 200;

  // ---- reasons: a preset and/or free text, at least 2 characters in all -------------
  function readReason(form) {
    const preset = form.querySelector('input[name="preset"]:checked');
    const free = (form.querySelector('input[name="reason_text"]').value || "").trim();
    const parts = [];
    if (preset && preset.value) parts.push(preset.value);
    if (free) parts.push(free);
    const reason = parts.join("：");
    return reason.length >= 2 ? reason : null;
  }
  // A guard fixing the reason should not keep seeing the old complaint.
  document.addEventListener("change", (ev) => {
    const form = ev.target.closest && ev.target.closest("form");
    if (form && form.querySelector(".error")) showError(form, "");
  });
  function showError(form, message) {
    const el = form.querySelector(".error");
    el.textContent = message || "";
    el.hidden = !message;
  }

  // ---- live passages ------------------------------------------------------------------
  function applyFilters() {
    const gate = filterGate.value;
    const decision = filterDecision.value;
    rows.querySelectorAll("tr.passage").forEach((tr) => {
      tr.hidden = (gate && tr.dataset.gate !== gate) || (decision && tr.dataset.decision !== decision);
    });
  }
  filterGate.addEventListener("change", applyFilters);
  filterDecision.addEventListener("change", applyFilters);

  async function fetchHtml(url) {
    const response = await fetch(url, { credentials: "same-origin" });
    if (response.status === 401) { window.location.href = "/console/login?expired=1"; return null; }
    if (!response.ok) return null;
    return response.text();
  }
  function parseRow(html) {
    const tbody = document.createElement("tbody");
    tbody.innerHTML = html.trim();
    return tbody.querySelector("tr");
  }
  async function upsertPassage(id, isNew) {
    const html = await fetchHtml("/console/fragments/passage/" + encodeURIComponent(id));
    if (!html) return;
    const row = parseRow(html);
    const existing = rows.querySelector('tr[data-id="' + id + '"]');
    if (existing) { existing.replaceWith(row); }
    else if (isNew) {
      row.classList.add("new");
      rows.prepend(row);
      while (rows.children.length > MAX_ROWS) rows.lastElementChild.remove();
    } else { return; }
    document.getElementById("no-passages").hidden = true;
    applyFilters();
  }

  // ---- review queue ------------------------------------------------------------------
  async function refreshReview() {
    const html = await fetchHtml("/console/fragments/review");
    if (html === null) return;
    const list = document.getElementById("review-list");
    const holder = document.createElement("div");
    holder.innerHTML = html.trim();
    const fresh = holder.firstElementChild;
    // Keep what a guard is typing: only replace cards that are not being edited.
    const active = document.activeElement && document.activeElement.closest(".review-card");
    if (active) {
      const keep = fresh.querySelector('.review-card[data-passage="' + active.dataset.passage + '"]');
      if (keep) keep.replaceWith(active);
    }
    list.replaceWith(fresh);
    document.getElementById("review-count").textContent = fresh.dataset.count;
  }
  document.getElementById("review").addEventListener("submit", (ev) => ev.preventDefault());
  document.getElementById("review").addEventListener("click", async (ev) => {
    const button = ev.target.closest("button[data-resolution]");
    if (!button) return;
    const form = button.closest(".review-card");
    const resolution = button.dataset.resolution;
    const visitor = form.querySelector("fieldset.visitor");
    if (resolution === "visitor_pass" && visitor.hidden) {
      visitor.hidden = false;  // first tap shows host and duration, second tap confirms
      return;
    }
    const reason = readReason(form);
    if (!reason) { showError(form, t("reason.required")); return; }
    const payload = { resolution, reason, plate: form.querySelector('input[name="plate"]').value.trim() || null };
    if (resolution === "visitor_pass") {
      const hours = Number(form.querySelector('select[name="hours"]').value);
      payload.visitor_pass = {
        host_household_id: Number(form.querySelector('select[name="host_household_id"]').value),
        valid_to: new Date(Date.now() + hours * 3600 * 1000).toISOString(),
      };
    }
    form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    try {
      const result = await api("POST", "/api/v1/passages/" + form.dataset.passage + "/resolve", payload);
      toast(t("msg.saved") + " · " + (result.passage.resolved_plate || "") + " · " + (result.barrier || ""),
            result.barrier === "fault");
      form.remove();
      refreshReview();
      upsertPassage(result.passage.id, false);
    } catch (err) {
      showError(form, err.message);
      form.querySelectorAll("button").forEach((b) => { b.disabled = false; });
    }
  });

  // ---- gate actions ------------------------------------------------------------------
  const dialog = document.getElementById("gate-dialog");
  const gateForm = document.getElementById("gate-form");
  let pending = null;
  document.getElementById("gates").addEventListener("click", (ev) => {
    const button = ev.target.closest("button.gate-action");
    if (!button) return;
    pending = { gate: button.dataset.gate, action: button.dataset.action };
    document.getElementById("gate-dialog-title").textContent = button.dataset.label;
    gateForm.reset();
    showError(gateForm, "");
    dialog.showModal();
  });
  document.getElementById("gate-cancel").addEventListener("click", () => dialog.close());
  gateForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    const reason = readReason(gateForm);
    if (!reason) { showError(gateForm, t("reason.required")); return; }
    const confirm = document.getElementById("gate-confirm");
    confirm.disabled = true;
    try {
      const result = await api("POST", "/api/v1/gates/" + encodeURIComponent(pending.gate) + "/actions",
                               { action: pending.action, reason, passage_id: null });
      dialog.close();
      setGateState(result.gate_id, result.state, null);
      toast(t("msg.saved"));
    } catch (err) {
      showError(gateForm, err.message);
    } finally {
      confirm.disabled = false;
    }
  });
  const stateLabels = JSON.parse(document.getElementById("gates").dataset.states || "{}");
  function setGateState(gateId, state, fault) {
    const card = document.querySelector('.gate[data-gate="' + gateId + '"]');
    if (!card) return;
    card.dataset.state = state;
    const badge = card.querySelector('[data-role="state"]');
    badge.className = "gate-state state-" + state;
    badge.textContent = stateLabels[state] || state;
    const faultEl = card.querySelector('[data-role="fault"]');
    faultEl.textContent = fault || "";
    faultEl.hidden = !fault;
  }

  // ---- alarms ------------------------------------------------------------------------
  const soundButton = document.getElementById("sound-toggle");
  let soundOn = localStorage.getItem("parkgate.sound") === "on";
  let audio = null;
  function renderSound() {
    soundButton.textContent = t(soundOn ? "alarms.sound_on" : "alarms.sound_off");
    soundButton.setAttribute("aria-pressed", String(soundOn));
  }
  soundButton.addEventListener("click", () => {
    soundOn = !soundOn;
    localStorage.setItem("parkgate.sound", soundOn ? "on" : "off");
    if (soundOn && !audio) audio = new (window.AudioContext || window.webkitAudioContext)();
    renderSound();
    if (soundOn) beep(2);
  });
  renderSound();
  // Alarms beep twice at 880 Hz; a car waiting for review once, lower.
  function beep(times, frequency) {
    if (!soundOn) return;
    if (!audio) audio = new (window.AudioContext || window.webkitAudioContext)();
    const offsets = times === 1 ? [0] : [0, 0.35];
    offsets.forEach((offset) => {
      const osc = audio.createOscillator();
      const gain = audio.createGain();
      osc.frequency.value = frequency || 880;
      gain.gain.setValueAtTime(0.3, audio.currentTime + offset);
      gain.gain.exponentialRampToValueAtTime(0.001, audio.currentTime + offset + 0.3);
      osc.connect(gain).connect(audio.destination);
      osc.start(audio.currentTime + offset);
      osc.stop(audio.currentTime + offset + 0.3);
    });
  }
  async function refreshAlarms(beepIfNew) {
    const html = await fetchHtml("/console/fragments/alarms");
    if (html === null) return;
    const holder = document.createElement("div");
    holder.innerHTML = html.trim();
    const fresh = holder.firstElementChild;
    const old = document.getElementById("alarm-list");
    const isNew = Number(fresh.dataset.maxId) > Number(old.dataset.maxId);
    old.replaceWith(fresh);
    document.getElementById("alarm-banner").classList.toggle("active", Number(fresh.dataset.count) > 0);
    if (beepIfNew && isNew) beep(2);
  }
  document.getElementById("alarm-banner").addEventListener("click", async (ev) => {
    const button = ev.target.closest("button[data-ack]");
    if (!button) return;
    button.disabled = true;
    try {
      await api("POST", "/api/v1/alarms/" + button.dataset.ack + "/ack", {});
    } catch (err) {
      if (err.status !== 409) toast(err.message, true);
    }
    refreshAlarms(false);
  });

  // ---- snapshots: click to enlarge -----------------------------------------------------
  const lightbox = document.getElementById("lightbox");
  document.addEventListener("click", (ev) => {
    const img = ev.target.closest("img.thumb");
    if (img) {
      document.getElementById("lightbox-img").src = img.src;
      lightbox.showModal();
    } else if (ev.target.closest("#lightbox")) {
      lightbox.close();
    }
  });

  // ---- the live stream -----------------------------------------------------------------
  const dot = document.getElementById("live-dot");
  function connect() {
    const source = new EventSource("/api/v1/events/stream");
    source.addEventListener("hello", () => { dot.classList.add("on"); dot.dataset.live = "yes"; });
    source.addEventListener("passage", (ev) => {
      const data = JSON.parse(ev.data).data;
      upsertPassage(data.id, true);
      if (data.decision === "review") { refreshReview(); beep(1, 660); }
    });
    source.addEventListener("passage_updated", (ev) => {
      const data = JSON.parse(ev.data).data;
      upsertPassage(data.id, false);
      if (data.resolution) refreshReview();
    });
    source.addEventListener("alarm", () => refreshAlarms(true));
    source.addEventListener("gate", (ev) => {
      const data = JSON.parse(ev.data).data;
      if (data.state) setGateState(data.gate_id, data.state, data.fault || null);
    });
    source.onerror = async () => {
      dot.classList.remove("on");
      dot.dataset.live = "no";
      if (source.readyState === EventSource.CLOSED) {
        // The browser gave up (e.g. 401 after the session expired): ask the page itself.
        const probe = await fetch("/console/fragments/alarms", { credentials: "same-origin" });
        if (probe.status === 401) { window.location.href = "/console/login?expired=1"; return; }
        setTimeout(connect, 5000);
      }
    };
  }
  connect();
})();
