// The booth screen: live passages over SSE, gate actions, the review queue and alarms.
"use strict";
(function () {
  const { api, toast, t, sessionExpired } = window.parkgate;
  // A refusal from the API in the page's language (errors.js); a network error as it is.
  function refusal(err) {
    if (err.status === undefined) return err.message;
    return window.parkgateErrors.explainDetail(err.detail === undefined ? err.message : err.detail);
  }
  const rows = document.getElementById("passage-rows");
  const filterGate = document.getElementById("filter-gate");
  const filterDecision = document.getElementById("filter-decision");
  const gatesSection = document.getElementById("gates");
  const stateLabels = JSON.parse(gatesSection.dataset.states || "{}");
  const gateNames = JSON.parse(gatesSection.dataset.names || "{}");
  const MAX_ROWS = 200;
  // Rendered while the database was down (api/console/outage.py): passages come from the
  // journal, the review queue is paused, and the full page comes back with the database.
  // A page rendered before pauses its queue when the database goes away (pauseReview).
  const outageBanner = document.getElementById("outage-banner");
  // Past this, a car may have driven off: opening the barrier for it needs a second yes.
  const OLD_AFTER_S = 120;

  function gateName(id) { return gateNames[id] || id; }
  // At a pedestrian gate the card is about a person, not a car without a plate.
  function isPedestrian(card) { return card.dataset.person === "yes"; }
  function subject(card, plate) {
    return plate || t(isPedestrian(card) ? "review.person" : "review.no_plate");
  }
  function stateLabel(state) { return stateLabels[state] || state; }

  // ---- reasons: a preset and/or free text, at least 2 characters in all -------------
  function readReason(form) {
    // Radios in the gate dialog, a select in the (compact) review cards.
    const preset = form.querySelector('input[name="preset"]:checked, select[name="preset"]');
    const free = (form.querySelector('input[name="reason_text"]').value || "").trim();
    const parts = [];
    if (preset && preset.value) parts.push(preset.value);
    if (free) parts.push(free);
    const reason = parts.join("：");
    return reason.length >= 2 ? reason : null;
  }
  function showError(form, message, kind) {
    const el = form.querySelector(".error");
    el.textContent = message || "";
    el.hidden = !message;
    el.dataset.kind = message ? (kind || "") : "";
  }
  // The "reason required" complaint goes once the reason is valid, as the guard types or
  // picks. It is not hidden on blur: leaving the text box by pressing 确认 would shrink the
  // form between mouse-down and mouse-up, the button would move away and the click be lost.
  // Other errors stay until the next submit.
  function reasonEdited(ev) {
    const form = ev.target.closest && ev.target.closest("form");
    if (!form || !form.querySelector('[name="reason_text"]')) return;
    const el = form.querySelector(".error");
    if (el && !el.hidden && el.dataset.kind === "reason" && readReason(form)) showError(form, "");
  }
  document.addEventListener("input", reasonEdited);
  document.addEventListener("change", reasonEdited);

  // ---- ages: "2分钟前" from the server's clock ----------------------------------------
  let clockSkew = 0;  // server time minus this browser's time, in ms
  function syncClock(serverIso) {
    const server = Date.parse(serverIso || "");
    if (!Number.isNaN(server)) clockSkew = server - Date.now();
  }
  function ageSeconds(iso) {
    return Math.max(0, Math.floor((Date.now() + clockSkew - Date.parse(iso)) / 1000));
  }
  function ageText(seconds) {
    if (seconds < 60) return t("age.seconds", { n: seconds });
    if (seconds < 3600) return t("age.minutes", { n: Math.floor(seconds / 60) });
    return t("age.hours", { n: Math.floor(seconds / 3600) });
  }
  function updateAges() {
    document.querySelectorAll("#review-list > .review-card").forEach((card) => {
      const seconds = ageSeconds(card.dataset.at);
      const el = card.querySelector('[data-role="age"]');
      el.textContent = ageText(seconds);
      el.classList.toggle("old", seconds >= OLD_AFTER_S);
      card.classList.toggle("old", seconds >= OLD_AFTER_S);
    });
  }
  syncClock(document.getElementById("review-list").dataset.now);
  updateAges();
  setInterval(updateAges, 5000);

  // ---- live passages ------------------------------------------------------------------
  function applyFilters() {
    const gate = filterGate.value;
    const decision = filterDecision.value;
    let shown = 0;
    rows.querySelectorAll("tr.passage").forEach((tr) => {
      tr.hidden = (gate && tr.dataset.gate !== gate) || (decision && tr.dataset.decision !== decision);
      if (!tr.hidden) shown += 1;
    });
    document.getElementById("no-filtered").hidden = shown > 0 || !rows.querySelector("tr.passage");
    keepOnePhotoStop();  // every change of the rows ends here
  }
  filterGate.addEventListener("change", applyFilters);
  filterDecision.addEventListener("change", applyFilters);

  // ---- the rows' photos: one tab stop for the table, Enter enlarges (common.js) ---------
  const photos = window.parkgate.photoTable(rows);
  const keepOnePhotoStop = photos.keepOneStop;
  // A row read again replaces the one shown: the photo stop, and the focus on the photo or
  // on 人工开闸放行, stay with it (the guard's place in the table is not lost to an update).
  const carryPhotoStop = photos.carryStop;
  function replaceRow(old, fresh) {
    const focused = old.contains(document.activeElement) ? document.activeElement : null;
    carryPhotoStop(old, fresh);
    old.replaceWith(fresh);
    const same = focused && [".thumb-button", ".passage-open"].find((s) => focused.matches(s));
    if (same && fresh.querySelector(same)) fresh.querySelector(same).focus();
  }

  async function fetchHtml(url) {
    let response;
    try {
      response = await fetch(url, { credentials: "same-origin" });
    } catch (err) {
      return null;
    }
    if (response.status === 401) { sessionExpired(null); return null; }
    if (!response.ok) return null;
    return response.text();
  }
  function parseRow(html) {
    const tbody = document.createElement("tbody");
    tbody.innerHTML = html.trim();
    return tbody.querySelector("tr");
  }
  function journalRow(journalId) {
    return journalId ? rows.querySelector('tr[data-journal="' + CSS.escape(journalId) + '"]') : null;
  }
  function placeRow(row, existing, isNew) {
    if (existing) { replaceRow(existing, row); }
    else if (isNew) {
      row.classList.add("new");
      rows.prepend(row);
      while (rows.children.length > MAX_ROWS) rows.lastElementChild.remove();
    } else { return; }
    document.getElementById("no-passages").hidden = true;
    applyFilters();
  }
  // Journal ids of passages decided offline whose stored row came (showJournalled).
  const written = new Set();
  // Reads of stored rows are numbered as they are sent, and a row shown keeps its read's
  // number: an answer read before the row shown was (a catch-up's list, a car's first read
  // answering after its update's) does not put the older state back.
  let readsSent = 0;
  function readSince(row, sent) { return Boolean(row) && Number(row.dataset.read || 0) > sent; }
  // journalId: the passage was decided offline and written from the journal; the row the
  // page showed for it from the journal is replaced where it stands.
  async function upsertPassage(id, isNew, journalId) {
    if (journalId) written.add(journalId);
    const sent = ++readsSent;
    const html = await fetchHtml("/console/fragments/passage/" + encodeURIComponent(id));
    if (!html) return;
    const existing = rows.querySelector('tr[data-id="' + id + '"]') || journalRow(journalId);
    if (readSince(existing, sent)) return;
    const row = parseRow(html);
    row.dataset.read = String(sent);
    placeRow(row, existing, isNew);
  }
  // After a reconnect or a resync: the newest rows as stored now, in one read. Rows shown
  // are refreshed (a car resolved at another booth, a barrier's car counted again meanwhile),
  // those missed are added where they belong; older rows stay. A passage decided offline and
  // written from the journal meanwhile (its event missed) names its entry (data-written-from):
  // it replaces that entry's row where it stands, or the car would show twice, once as not
  // stored yet with an open naming the journal. Other rows from the journal stay.
  //
  // The passages decided offline that still wait in the journal (the database down, or the
  // write-back not done) are not stored rows: they are read from the journal alongside, or a
  // car let in or left for the guard while this page's stream was cut would never show.
  async function refreshRows() {
    const sent = ++readsSent;
    const [html, journalled] = await Promise.all([
      fetchHtml("/console/fragments/passages?limit=" + MAX_ROWS),  // 503 while the database is down
      fetchHtml("/console/fragments/journal?limit=" + MAX_ROWS),
    ]);
    // Stored rows first: one written from the journal meanwhile names its entry (written).
    if (html !== null) mergeStored(html, sent);
    if (journalled !== null) mergeJournalled(journalled, sent);
    while (rows.children.length > MAX_ROWS) rows.lastElementChild.remove();
    if (rows.querySelector("tr")) document.getElementById("no-passages").hidden = true;
    applyFilters();
  }
  function mergeStored(html, sent) {
    const tbody = document.createElement("tbody");
    tbody.innerHTML = html;
    let above = null;  // the row just placed: the next, older one goes below it
    for (const row of Array.from(tbody.querySelectorAll("tr[data-id]"))) {  // newest first
      const id = Number(row.dataset.id);
      const journalId = row.dataset.writtenFrom;
      if (journalId) written.add(journalId);  // a journal read answering late adds nothing
      const journalled = journalRow(journalId);
      let shown = rows.querySelector('tr[data-id="' + id + '"]');
      if (journalled && shown) journalled.remove();  // its stored row is shown already
      else if (journalled) {
        row.dataset.read = String(sent);
        replaceRow(journalled, row);
        shown = row;  // placed, as read now
      }
      if (shown && shown !== row) carryPhotoStop(shown, row);  // not a change of the row
      if (shown && !readSince(shown, sent) && shown.innerHTML !== row.innerHTML) {
        row.dataset.read = String(sent);
        replaceRow(shown, row);
        shown = row;
      } else if (!shown) {
        row.dataset.read = String(sent);
        row.classList.add("new");
        // The newest missed goes above the rows it is newer than (a car's row that came live
        // while this was read stays above it).
        const below = above ? above.nextElementSibling
          : Array.from(rows.querySelectorAll("tr[data-id]")).find((r) => Number(r.dataset.id) < id);
        rows.insertBefore(row, below || null);
        shown = row;
      }
      above = shown;
    }
  }
  function atOf(row) {
    const time = row.querySelector("time[datetime]");
    return time ? Date.parse(time.getAttribute("datetime")) : NaN;
  }
  // Rows from the journal: those shown refreshed (a barrier that answered meanwhile), those
  // missed added above the first row older than they are. None for a passage whose stored
  // row came (its event, the stored rows just merged, or the page's rendering while the
  // entry was written but not yet trimmed from the journal): the car would show twice.
  function mergeJournalled(html, sent) {
    const tbody = document.createElement("tbody");
    tbody.innerHTML = html;
    for (const row of Array.from(tbody.querySelectorAll("tr[data-journal]"))) {  // newest first
      const journalId = row.dataset.journal;
      if (written.has(journalId)
          || rows.querySelector('tr[data-written-from="' + CSS.escape(journalId) + '"]')) continue;
      row.dataset.read = String(sent);
      const shown = journalRow(journalId);
      if (shown) {
        carryPhotoStop(shown, row);  // not a change of the row
        if (!readSince(shown, sent) && shown.innerHTML !== row.innerHTML) replaceRow(shown, row);
        continue;
      }
      row.classList.add("new");
      const at = atOf(row);
      const below = Array.from(rows.querySelectorAll("tr.passage")).find((r) => atOf(r) < at);
      rows.insertBefore(row, below || null);
    }
  }
  // A passage decided offline while the database is down: shown from the journal, and read
  // again when its barrier answers or a guard's open names it (passage_offline_updated), as
  // a stored row is. Its first read may still be on its way then, and answers arrive in any
  // order: only the latest read of a row is shown, and none once the passage is written
  // (its stored row replaces it).
  const journalReads = new Map();  // journal id -> its latest read ({ adding: not shown yet })
  async function showJournalled(journalId, isNew) {
    const reading = journalReads.get(journalId);
    if (written.has(journalId)) return;
    if (isNew && (reading || journalRow(journalId))) return;  // shown, or on its way
    if (!isNew && !reading && !journalRow(journalId)) return;  // not on this page
    const read = { adding: isNew || Boolean(reading && reading.adding) };
    journalReads.set(journalId, read);
    const sent = ++readsSent;
    const html = await fetchHtml("/console/fragments/journal/" + encodeURIComponent(journalId));
    if (journalReads.get(journalId) !== read) return;  // a later read answers for the row
    journalReads.delete(journalId);
    if (!html || written.has(journalId)) return;  // written meanwhile (404): the stored row comes
    const existing = journalRow(journalId);
    if (readSince(existing, sent)) return;  // a catch-up read it later (mergeJournalled)
    const row = parseRow(html);
    row.dataset.read = String(sent);
    placeRow(row, existing, read.adding);
  }

  // ---- review queue ------------------------------------------------------------------
  const reviewList = document.getElementById("review-list");
  // Passages resolved while a queue fetch was on its way: a late answer must not bring
  // their cards back. The queue is read one read at a time (refreshReview), and a read sent
  // after a resolution no longer lists its car: once such a read has answered the car is
  // forgotten, or this would grow by one car resolved for as long as the page stays open.
  const gone = new Map();  // passage id -> queue reads sent when it was resolved
  let reviewReads = 0;
  function resolved(id) { gone.set(String(id), reviewReads); }
  function cards() { return Array.from(reviewList.querySelectorAll(":scope > .review-card")); }
  function cardFor(id) { return reviewList.querySelector(':scope > .review-card[data-passage="' + id + '"]'); }
  function queueChanged() {
    const count = cards().length;
    // The badge counts the whole queue: the cars past the listed ones as well (#review-more).
    const more = document.getElementById("review-more");
    const behind = more ? Number(more.dataset.more || 0) : 0;
    document.getElementById("review-count").textContent = String(count + behind);
    reviewList.dataset.count = String(count);
    document.getElementById("review-none").hidden = count > 0;
  }
  // The database went away under a page rendered with it (the alarm list says so): resolving
  // a car or registering a pass needs it, so the queue pauses where it stands with the
  // reduced console's note (open from the gate strip instead). No reload into that console:
  // it would drop the stored passages and alarms on screen, which cannot be read meanwhile.
  // The full page reloads itself once the database answers (outageChanged).
  let queuePaused = Boolean(outageBanner);
  function pauseReview() {
    if (queuePaused) return;
    queuePaused = true;
    reviewList.dataset.database = "down";
    reviewList.querySelectorAll("button, input, select").forEach((el) => { el.disabled = true; });
    document.getElementById("review-none").hidden = true;
    const note = document.createElement("p");
    note.className = "notice";
    note.id = "review-paused";
    note.setAttribute("role", "status");
    note.textContent = t("review.needs_database");
    reviewList.prepend(note);
  }
  // A card the guard has chosen or typed something in.
  reviewList.addEventListener("input", (ev) => {
    const card = ev.target.closest(".review-card");
    if (card) card.dataset.touched = "yes";
    // Cards come and go, so one listener here rather than one per card's search box.
    if (card && ev.target.matches("input.household-search")) {
      window.parkgate.narrowHouseholds(ev.target, card.querySelector('select[name="host_household_id"]'));
    }
  });

  // The queue is updated card by card, by passage id: cards already on the page are never
  // re-rendered, so a chosen reason, an opened visitor box, a chosen host household and
  // typed text all stay where the guard left them when another car joins the queue.
  let refreshing = null;
  let refreshAgain = false;
  function refreshReview() {
    if (refreshing) { refreshAgain = true; return refreshing; }
    refreshing = (async () => {
      do {
        refreshAgain = false;
        await mergeReview();
      } while (refreshAgain);
      refreshing = null;
    })();
    return refreshing;
  }
  async function mergeReview() {
    if (queuePaused) return;  // until the database is back (and the page reloaded)
    const read = ++reviewReads;
    const html = await fetchHtml("/console/fragments/review");
    if (html === null) return;
    const holder = document.createElement("div");
    holder.innerHTML = html.trim();
    const fresh = holder.querySelector("#review-list");
    syncClock(fresh.dataset.now);
    const freshCards = Array.from(fresh.querySelectorAll(":scope > .review-card"))
      .filter((card) => !gone.has(card.dataset.passage));
    const wanted = new Set(freshCards.map((card) => card.dataset.passage));
    cards().forEach((card) => {
      // Resolved elsewhere (another booth): a card waiting for our own answer stays until then.
      if (!wanted.has(card.dataset.passage) && !card.dataset.busy) removeCard(card);
    });
    // New cards go in queue order (oldest first) before the next card the page already has;
    // existing cards are not moved, which would take the keyboard focus away.
    freshCards.forEach((card, index) => {
      if (cardFor(card.dataset.passage)) return;
      let before = document.getElementById("review-none");
      for (let i = index + 1; i < freshCards.length; i += 1) {
        const next = cardFor(freshCards[i].dataset.passage);
        if (next) { before = next; break; }
      }
      reviewList.insertBefore(card, before);
    });
    const freshMore = fresh.querySelector("#review-more");
    const more = document.getElementById("review-more");
    if (freshMore && more) more.replaceWith(freshMore);
    queueChanged();
    updateAges();
    gone.forEach((sentBefore, id) => { if (sentBefore < read) gone.delete(id); });
  }

  // A card leaving the queue (settled here or at another booth) that had the keyboard's focus:
  // settled by this guard's button, the focus goes to the plate box of the card that takes
  // its place (where the next car starts, guide 3.2), or to the queue once it is empty. It
  // went to the page's body: the focus ring vanished, Enter did nothing and a screen reader
  // said nothing. Taken away by another booth, perhaps while this guard was typing in it, it
  // goes to the queue: typing on must not land in the next car's plate.
  // ``settledHere``: known before the card's buttons were disabled, which drops the focus.
  function removeCard(card, settledHere) {
    const focused = settledHere || card.contains(document.activeElement);
    const sibling = (el) => (el && el.classList.contains("review-card") ? el : null);
    const next = sibling(card.nextElementSibling) || sibling(card.previousElementSibling);
    card.remove();
    if (!focused) return;
    if (next && settledHere) next.querySelector('input[name="plate"]').focus();
    else document.getElementById("review").focus();
  }

  // Resolved by someone else: drop the card, and tell the guard if they had started on it.
  function resolvedElsewhere(data) {
    resolved(data.id);
    const card = cardFor(data.id);
    if (!card || card.dataset.busy) return;
    if (card.dataset.touched) {
      toast(t("review.taken", { gate: gateName(card.dataset.gate),
                                plate: subject(card, card.dataset.plate),
                                user: data.resolved_by || "?" }), "warn");
    }
    removeCard(card);
    queueChanged();
  }

  const confirmDialog = document.getElementById("confirm-dialog");
  // Resolves true when the guard confirms; Esc or cancel resolves false.
  function askConfirm(lines, okLabel, cancelLabel, title) {
    document.getElementById("confirm-dialog-title").textContent = title || t("review.confirm_title");
    const bodyEl = document.getElementById("confirm-dialog-body");
    bodyEl.replaceChildren(...lines.map((line) => {
      const p = document.createElement("p");
      p.textContent = line;
      return p;
    }));
    document.getElementById("confirm-ok").textContent = okLabel;
    document.getElementById("confirm-cancel").textContent = cancelLabel;
    confirmDialog.returnValue = "";
    return new Promise((resolve) => {
      confirmDialog.addEventListener("close", () => resolve(confirmDialog.returnValue === "ok"), { once: true });
      confirmDialog.showModal();
      document.getElementById("confirm-cancel").focus();
    });
  }

  function doneText(resolution, card, result, plate) {
    const values = { gate: gateName(card.dataset.gate), plate: subject(card, plate),
                     pass_id: result.pass_id };
    let text = t({ allow_once: "review.done_allow", visitor_pass: "review.done_pass", deny: "review.done_deny",
                   left: isPedestrian(card) ? "review.done_left_person" : "review.done_left" }[resolution], values);
    if (result.barrier === "fault") text += " · " + t("review.barrier_fault");
    else if (result.barrier) text += " · " + t("review.barrier", { state: stateLabel(result.barrier) });
    return text;
  }

  document.getElementById("review").addEventListener("submit", (ev) => ev.preventDefault());
  document.getElementById("review").addEventListener("click", async (ev) => {
    const button = ev.target.closest("button[data-resolution]");
    if (!button) return;
    const form = button.closest(".review-card");
    if (form.dataset.busy) return;
    const resolution = button.dataset.resolution;
    const visitor = form.querySelector("fieldset.visitor");
    if (resolution === "visitor_pass" && visitor.hidden) {
      visitor.hidden = false;  // first tap shows host and duration, second tap confirms
      form.dataset.touched = "yes";
      form.querySelector("input.household-search").focus();  // type 5栋 302, not scroll
      return;
    }
    const plateInput = form.querySelector('input[name="plate"]');
    const plate = plateInput.value.trim();
    const free = (form.querySelector('input[name="reason_text"]').value || "").trim();
    let reason;
    if (resolution === "left") {
      // The car drove off: nothing to decide, so the reason is written for the guard.
      reason = t(isPedestrian(form) ? "review.left_reason_person" : "review.left_reason") + (free ? "：" + free : "");
    } else {
      reason = readReason(form);
      if (!reason) { showError(form, t("reason.required"), "reason"); return; }
    }
    if (resolution === "visitor_pass" && !plate) {
      showError(form, t("review.plate_needed"));
      plateInput.focus();
      return;
    }
    const host = form.querySelector('select[name="host_household_id"]');
    if (resolution === "visitor_pass" && !host.value) {
      showError(form, t("review.host_needed"));  // no first-in-the-list default: see review.html
      host.focus();
      return;
    }
    showError(form, "");
    let noPlateConfirmed = false;
    if (resolution === "allow_once" || resolution === "visitor_pass") {
      // Allowing opens the barrier now, for whatever car is in front of it.
      const seconds = ageSeconds(form.dataset.at);
      const lines = [];
      if (seconds >= OLD_AFTER_S) {
        lines.push(t("review.confirm_old", { age: ageText(seconds), gate: gateName(form.dataset.gate) }));
      }
      // A person at a pedestrian gate has no plate to type: the guard checks who it is.
      const person = !plate && isPedestrian(form);
      const noPlate = !plate && !person;
      if (noPlate) lines.push(t("review.confirm_no_plate"));
      if (person) lines.push(t("review.confirm_person"));
      if (lines.length) {
        const okKey = person ? "review.confirm_ok_person"
          : noPlate ? "review.confirm_ok_no_plate" : "review.confirm_ok";
        const ok = await askConfirm(lines, t(okKey), t(noPlate ? "review.type_plate" : "action.cancel"),
                                    person ? t("review.confirm_title_person") : null);
        if (!ok) {
          // After the dialog's own focus restoration (to the button that opened it), or the
          // guard would be typing the plate into nothing.
          if (noPlate && form.isConnected) setTimeout(() => plateInput.focus(), 0);
          return;
        }
        if (!form.isConnected) return;  // resolved from another booth while we were asking
        // The audit log shows that no plate was a deliberate answer, not a forgotten field.
        if (noPlate) reason += t("review.no_plate_reason");
        noPlateConfirmed = noPlate;
        if (person) reason += t("review.person_reason");
      }
    }
    const payload = { resolution: resolution === "left" ? "deny" : resolution, reason, plate: plate || null };
    // Not the camera's read: that plate (another car in view) did not go through.
    if (noPlateConfirmed) payload.no_plate = true;
    if (resolution === "visitor_pass") {
      const hours = Number(form.querySelector('select[name="hours"]').value);
      payload.visitor_pass = {
        host_household_id: Number(host.value),
        valid_to: new Date(Date.now() + clockSkew + hours * 3600 * 1000).toISOString(),
      };
    }
    const hadFocus = form.contains(document.activeElement);
    form.dataset.busy = "yes";
    form.querySelectorAll("button").forEach((b) => { b.disabled = true; });
    const what = gateName(form.dataset.gate) + " · " + subject(form, plate) + " · " + button.textContent.trim();
    try {
      const result = await api("POST", "/api/v1/passages/" + form.dataset.passage + "/resolve", payload, what);
      toast(doneText(resolution, form, result, result.passage.resolved_plate || plate),
            result.barrier === "fault");
      resolved(form.dataset.passage);
      removeCard(form, hadFocus);
      queueChanged();
      refreshReview();
      upsertPassage(result.passage.id, false);
    } catch (err) {
      delete form.dataset.busy;
      if (!form.isConnected) return;
      if (err.status === 409) {
        // Resolved at another booth a moment before (or not for a guard any more): that
        // answer stands. Said on the card, it went with the card at the next queue update,
        // often before it was seen, and the guard took their own choice for done. The
        // toast stays, and says by whom and that this one was not carried out.
        toast(t("review.taken_first", { gate: gateName(form.dataset.gate), plate: subject(form, plate),
                                         why: refusal(err) }), "warn");
        // Not forgotten as resolved: a 409 for another reason leaves the car in the queue,
        // and the read below brings its card back.
        removeCard(form, hadFocus);
        queueChanged();
        refreshReview();
        upsertPassage(form.dataset.passage, false);  // its row shows the answer that stands
        return;
      }
      showError(form, refusal(err));
      if (!queuePaused) form.querySelectorAll("button").forEach((b) => { b.disabled = false; });
      // Perhaps the database went away since the page was rendered: the alarm list tells.
      if (err.status === 503) refreshAlarms(false);
    }
  });

  // ---- gate actions ------------------------------------------------------------------
  const dialog = document.getElementById("gate-dialog");
  const gateForm = document.getElementById("gate-form");
  let pending = null;
  function askGateAction(asked) {
    pending = asked;
    document.getElementById("gate-dialog-title").textContent = asked.label;
    gateForm.reset();
    showError(gateForm, "");
    dialog.showModal();
  }
  gatesSection.addEventListener("click", (ev) => {
    const button = ev.target.closest("button.gate-action");
    if (!button) return;
    askGateAction({ gate: button.dataset.gate, action: button.dataset.action, label: button.dataset.label });
  });
  // A passage whose barrier did not open has an open of its own, on its row and on its
  // fault alarm: it names the passage, so the car is counted again once through (the
  // strip's 开闸 names none).
  function askPassageOpen(ev) {
    const button = ev.target.closest("button.passage-open");
    if (!button) return;
    // One decided during a database outage has no id yet: it is named by its journal id.
    askGateAction({ gate: button.dataset.gate, action: "open", label: button.dataset.label,
                    passage: button.dataset.passage ? Number(button.dataset.passage) : null,
                    journal: button.dataset.passageJournal || null, counted: button.dataset.done });
  }
  rows.addEventListener("click", askPassageOpen);
  document.getElementById("alarm-banner").addEventListener("click", askPassageOpen);
  document.getElementById("gate-cancel").addEventListener("click", () => dialog.close());

  // What the guard asked for had no effect on the barrier, judged from the state before it.
  // A hold or release is judged by the server (hold_changed): the state cannot tell a gate
  // opening for a car from one held while its arm rises, nor a fire alarm's hold from a
  // guard's. The lists for those two are for a driver that cannot tell.
  const NOTHING_TO_DO = {
    open: ["held_open"],
    close: ["closed", "closing"],
    hold_open: ["held_open"],
    release: ["closed", "closing", "open"],
  };
  function gateDoneText(gateId, action, before, after, holdChanged) {
    const noop = typeof holdChanged === "boolean" ? !holdChanged
      : (NOTHING_TO_DO[action] || []).includes(before);
    // The barrier answers a close with its state: still open (or re-opening) when something
    // is on the loop, and it closes by itself once that has left (hardware/base.py Barrier).
    const deferred = action === "close" && !noop && (after === "open" || after === "opening");
    const what = t(deferred ? "gates.close_deferred" : noop ? "gates.noop_" + action : "gates.done_" + action);
    const now = t("gates.now", { state: stateLabel(after) });
    return { text: t("gates.done", { gate: gateName(gateId), what, now }), warn: noop || deferred };
  }

  gateForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!pending) return;
    const reason = readReason(gateForm);
    if (!reason) { showError(gateForm, t("reason.required"), "reason"); return; }
    const confirm = document.getElementById("gate-confirm");
    if (confirm.disabled) return;  // Enter pressed again while the barrier is answering
    confirm.disabled = true;
    const asked = pending;
    const card = document.querySelector('.gate[data-gate="' + asked.gate + '"]');
    const before = card ? card.dataset.state : "";
    const body = { action: asked.action, reason, passage_id: asked.passage || null };
    if (asked.journal) body.passage_journal_id = asked.journal;
    try {
      const result = await api("POST", "/api/v1/gates/" + encodeURIComponent(asked.gate) + "/actions",
                               body, asked.label);
      dialog.close();
      const done = gateDoneText(result.gate_id, result.action, before, result.state,
                                result.hold_changed);
      setGateState(result.gate_id, result.state, null);
      if (result.admission === "redone") done.text += " · " + asked.counted;
      // The database is down: the guard learns the action is on record all the same.
      if (result.journal_id) done.text += " · " + t("gates.journalled");
      toast(done.text, done.warn ? "warn" : null);
    } catch (err) {
      if (!err.sessionExpired) showError(gateForm, refusal(err));
    } finally {
      confirm.disabled = false;
    }
  });
  // ---- 人工录入车牌: the guard types the plate of a car the camera did not read ----------
  // The car is decided as a camera read is (api/routes/typed_plates.py): the toast says what
  // was decided and for whom, so a typo that matched someone else's car is seen at once.
  const typedDialog = document.getElementById("typed-dialog");
  const typedForm = document.getElementById("typed-form");
  const typedPlate = typedForm.querySelector('input[name="plate"]');
  let typedGate = null;
  gatesSection.addEventListener("click", (ev) => {
    const button = ev.target.closest("button.typed-plate");
    if (!button) return;
    typedGate = button.dataset.gate;
    document.getElementById("typed-dialog-title").textContent = button.dataset.label;
    typedForm.reset();
    showError(typedForm, "");
    typedDialog.showModal();
    typedPlate.focus();
  });
  document.getElementById("typed-cancel").addEventListener("click", () => typedDialog.close());
  function typedDoneText(result) {
    let who = t("code." + result.reason);
    if (result.household) who += " " + result.household;
    // The same plate decided here moments ago (a second click, a colleague, a retry): that
    // passage is the answer, and the barrier's state in it is old news.
    if (result.repeat) return { text: t("typed.repeat", { gate: gateName(result.gate_id), plate: result.plate, who }), level: "warn" };
    const key = { allow: "typed.done_allow", review: "typed.done_review", deny: "typed.done_deny" }[result.decision];
    let text = t(key, { gate: gateName(result.gate_id), plate: result.plate, who });
    // Taken for a registered plate one character away: the guard checks it is that car.
    if (result.matched_plate) text += " · " + t("typed.matched", { plate: result.matched_plate });
    if (result.barrier === "fault") text += " · " + t("review.barrier_fault");
    else if (result.decision === "allow") text += " · " + t("review.barrier", { state: stateLabel(result.barrier) });
    if (result.journal_id) text += " · " + t("gates.journalled");
    const level = result.barrier === "fault" ? "bad"
      : (result.decision !== "allow" || result.matched_plate) ? "warn" : null;
    return { text, level };
  }
  typedForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!typedGate) return;
    const plate = typedPlate.value.trim();
    if (!plate) { showError(typedForm, t("typed.plate_needed")); typedPlate.focus(); return; }
    const reason = readReason(typedForm);
    if (!reason) { showError(typedForm, t("reason.required"), "reason"); return; }
    const confirm = document.getElementById("typed-confirm");
    if (confirm.disabled) return;  // Enter pressed again while the car is being decided
    confirm.disabled = true;
    const what = document.getElementById("typed-dialog-title").textContent + " · " + plate;
    try {
      const result = await api("POST", "/api/v1/gates/" + encodeURIComponent(typedGate) + "/typed-plate",
                               { plate, reason }, what);
      typedDialog.close();
      const done = typedDoneText(result);
      toast(done.text, done.level);
      // The live stream brings the row too; whichever comes second replaces the first.
      if (result.passage_id !== null) upsertPassage(result.passage_id, true);
      else showJournalled(result.journal_id, true);
      if (result.decision === "review") refreshReview();
      if (result.decision === "deny") refreshAlarms(false);
    } catch (err) {
      if (!err.sessionExpired) {
        showError(typedForm, refusal(err));
        typedPlate.focus();
      }
    } finally {
      confirm.disabled = false;
    }
  });

  // The same table as the server's (api/console/fault_texts.py): first family found wins.
  const faultFamilies = JSON.parse(gatesSection.dataset.faults || "[]")
    .map(([source, text]) => ({ re: new RegExp(source), text }));
  function faultSummary(fault) {
    const family = faultFamilies.find((f) => f.re.test(fault));
    return family ? family.text : fault;
  }
  function setScreen(gateId, lines) {
    const text = document.querySelector('.gate[data-gate="' + CSS.escape(gateId) + '"] [data-role="screen-text"]');
    if (text && Array.isArray(lines)) text.textContent = lines.join(" · ") || "—";
  }
  function setCamera(gateId, up) {
    const note = document.querySelector('.gate[data-gate="' + CSS.escape(gateId) + '"] [data-role="camera"]');
    if (note) note.hidden = up !== false;
  }
  // A plain read, not api(): a reconnect is no sign that someone is at the screen. null when
  // the server is away or refuses: the next reconnect reads again.
  async function readJson(url) {
    let response;
    try {
      response = await fetch(url, { credentials: "same-origin", cache: "no-store" });
    } catch (err) {
      return null;
    }
    return response.ok ? response.json() : null;
  }
  async function refreshGates() {
    const gates = await readJson("/api/v1/gates");
    if (!gates) return;
    gates.forEach((g) => {
      setGateState(g.id, g.state, g.fault || null);
      setCamera(g.id, g.camera_up);
      setScreen(g.id, g.screen);
    });
  }
  // After a reconnect or a resync: the gates, the alarms, the review queue and the rows,
  // as many as the list keeps (a long drop at a busy hour would otherwise leave a hole in
  // it), those shown refreshed and those that came while the page heard nothing added.
  function catchUp() {
    refreshGates();
    refreshAlarms(true);
    refreshReview();
    refreshRows();
  }
  function setGateState(gateId, state, fault) {
    const card = document.querySelector('.gate[data-gate="' + gateId + '"]');
    if (!card) return;
    card.dataset.state = state;
    const badge = card.querySelector('[data-role="state"]');
    badge.className = "gate-state state-" + state;
    badge.querySelector('[data-role="state-text"]').textContent = stateLabel(state);
    const faultEl = card.querySelector('[data-role="fault"]');
    const summary = fault ? faultSummary(fault) : "";
    faultEl.querySelector('[data-role="fault-summary"]').textContent = summary;
    const raw = faultEl.querySelector('[data-role="fault-raw"]');
    raw.textContent = fault || "";
    raw.hidden = summary === (fault || "");
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
  // Alarms raised during a database outage are listed "not stored yet" from the journal.
  // The write-back that stores them publishes nothing of its own: while the list shows
  // such alarms, or the database is down, it is asked for again every few seconds.
  const UNSTORED_POLL_MS = 5000;
  let alarmPoll = null;
  function unstoredKeys(list) {
    return new Set(Array.from(list.querySelectorAll("[data-alarm-key]"), (el) => el.dataset.alarmKey));
  }
  // The database is down: the stored alarms this page shows cannot be read again, so they
  // stay (acknowledging one says the database is unavailable).
  function keepStored(old, fresh) {
    const kept = old.querySelectorAll(":scope > .alarm[data-alarm-id]");
    kept.forEach((row) => fresh.append(row));
    fresh.dataset.count = String(Number(fresh.dataset.count) + kept.length);
    fresh.dataset.maxId = old.dataset.maxId;
  }
  function pollWhileUnstored() {
    clearTimeout(alarmPoll);
    const list = document.getElementById("alarm-list");
    if (list.dataset.database === "down" || list.querySelector("[data-alarm-key]")) {
      alarmPoll = setTimeout(() => refreshAlarms(false), UNSTORED_POLL_MS);
    }
  }
  // Each list is asked for on a connection of its own, and on a busy shift the next is asked
  // for before the last has come (an alarm, an acknowledgement, a car): answers can arrive out
  // of order. Only the latest asked is shown, or an older answer would bring back an alarm just
  // acknowledged or drop one just raised, until the next alarm. A beep asked for by an answer
  // not shown is the latest's to give.
  let alarmsAsked = 0;
  let beepOwed = false;
  async function refreshAlarms(beepIfNew) {
    const asked = ++alarmsAsked;
    beepOwed = beepOwed || beepIfNew;
    const html = await fetchHtml("/console/fragments/alarms");
    if (asked !== alarmsAsked) return;
    const beepNow = beepOwed;
    beepOwed = false;
    if (html === null) { pollWhileUnstored(); return; }
    const holder = document.createElement("div");
    holder.innerHTML = html.trim();
    const fresh = holder.firstElementChild;
    const old = document.getElementById("alarm-list");
    const databaseDown = fresh.dataset.database === "down";
    if (databaseDown) { keepStored(old, fresh); pauseReview(); }
    if (queuePaused) outageChanged(fresh);
    const seen = unstoredKeys(old);
    const fresher = Array.from(unstoredKeys(fresh)).some((key) => !seen.has(key));
    const isNew = Number(fresh.dataset.maxId) > Number(old.dataset.maxId) || fresher;
    const place = alarmPlace(old);
    old.replaceWith(fresh);
    keepAlarmPlace(fresh, place);
    document.getElementById("alarm-banner").classList.toggle("active", Number(fresh.dataset.count) > 0);
    if (beepNow && isNew) beep(2);
    pollWhileUnstored();
  }
  // The keyboard's place in the list (an alarm's 确认处理, 抓拍 or 人工开闸放行) outlives the
  // list being read again. It went to the page's body at every new alarm, car refused or
  // acknowledgement, and the next Tab landed on another alarm than the one the guard was on.
  // An alarm this guard acknowledged leaves the place to the one that moves up into it (the
  // next Enter acknowledges the next); one acknowledged at another booth leaves it to the list
  // itself, or the guard's next Enter would open another alarm than the one they were on.
  const ALARM_CONTROLS = ["button[data-ack]", ".passage-open", "a.alarm-snapshot"];
  let ackedHere = null;  // the alarm this page acknowledged last
  function alarmPlace(list) {
    const focused = document.activeElement;
    if (!focused || !list.contains(focused)) return null;
    if (focused === list) return { list: true };
    const row = focused.closest(".alarm");
    if (!row) return null;
    const rows = Array.from(list.querySelectorAll(":scope > .alarm"));
    return { id: row.dataset.alarmId || null, index: rows.indexOf(row),
             control: ALARM_CONTROLS.find((sel) => focused.matches(sel)) || null };
  }
  function keepAlarmPlace(list, place) {
    if (!place) return;
    const rows = Array.from(list.querySelectorAll(":scope > .alarm"));
    const same = place.id ? list.querySelector(':scope > .alarm[data-alarm-id="' + place.id + '"]') : null;
    if (place.list || (!same && place.id && place.id !== ackedHere)) {
      list.tabIndex = -1;
      list.focus();
      return;
    }
    const row = same || rows[Math.min(place.index, rows.length - 1)];
    const target = row && ((same && place.control && row.querySelector(place.control))
                           || row.querySelector("button[data-ack]"));
    (target || document.getElementById("alarm-history-link")).focus();
  }
  // The degraded page: its counts follow the journal, and once the database answers the full
  // page replaces it (or the paused one), though not under a guard choosing a reason in a dialog.
  function outageChanged(fresh) {
    if (fresh.dataset.database === "down") {
      if (outageBanner && fresh.dataset.waitingPassages !== undefined) {
        document.getElementById("waiting-passages").textContent = fresh.dataset.waitingPassages;
        document.getElementById("waiting-actions").textContent = fresh.dataset.waitingActions;
      }
      return;
    }
    reloadWhenIdle();
  }
  function reloadWhenIdle() {
    if (document.querySelector("dialog[open]")) { setTimeout(reloadWhenIdle, 2000); return; }
    window.location.reload();
  }
  pollWhileUnstored();
  // 确认处理 asks for an optional note (what the guard found) in a dialog: an input in the
  // list itself would be wiped by the next refresh of the list while the guard types.
  const ackDialog = document.getElementById("ack-dialog");
  const ackForm = document.getElementById("ack-form");
  const ackNote = ackForm.querySelector('input[name="note"]');
  let ackAlarm = null;
  let ackWhat = "";
  document.getElementById("alarm-banner").addEventListener("click", (ev) => {
    const button = ev.target.closest("button[data-ack]");
    if (!button) return;
    const row = button.closest(".alarm");
    ackAlarm = button.dataset.ack;
    const what = [".alarm-kind", ".alarm-gate", "time"]
      .map((sel) => { const el = row && row.querySelector(sel); return el ? el.textContent.trim() : ""; })
      .filter(Boolean).join(" · ");
    ackWhat = what;
    document.getElementById("ack-dialog-title").textContent = t("alarms.ack") + (what ? " · " + what : "");
    ackForm.reset();
    showError(ackForm, "");
    ackDialog.showModal();
    ackNote.focus();
  });
  document.getElementById("ack-cancel").addEventListener("click", () => ackDialog.close());
  // The dialog gives the focus back to the 确认处理 that opened it, unless the list was read
  // again meanwhile (a car, another alarm): then to the same alarm's button in the list shown.
  ackDialog.addEventListener("close", () => {
    if (document.activeElement && document.activeElement !== document.body) return;
    const button = document.querySelector('#alarm-list button[data-ack="' + ackAlarm + '"]');
    if (button) button.focus();
  });
  ackForm.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!ackAlarm) return;
    const confirm = document.getElementById("ack-confirm");
    if (confirm.disabled) return;  // Enter pressed again while the server answers
    confirm.disabled = true;
    try {
      await api("POST", "/api/v1/alarms/" + ackAlarm + "/ack", { note: ackNote.value.trim() },
                t("alarms.ack"));
      ackedHere = ackAlarm;
      ackDialog.close();
      refreshAlarms(false);
    } catch (err) {
      if (err.status === 409) {
        // A colleague acknowledged it meanwhile: it is done, with their note, not this one.
        // Closed without a word, the guard took what they had written for kept.
        toast(t("alarms.taken_first", { alarm: ackWhat, why: refusal(err) }), "warn");
        ackedHere = ackAlarm;  // done with it all the same: the place goes on to the next
        ackDialog.close();
        refreshAlarms(false);
      } else if (!err.sessionExpired) {
        showError(ackForm, refusal(err));
        ackNote.focus();
      }
    } finally {
      confirm.disabled = false;
    }
  });

  // ---- the live stream -----------------------------------------------------------------
  // common.js followStream: one stream at a time, a silent one noticed and replaced; a
  // reconnect or a resync (the page read too slowly and the server dropped events) catches
  // up on what was missed, which is not replayed.
  const dot = document.getElementById("live-dot");
  const lost = document.getElementById("live-lost");
  function showLive(live) {
    dot.classList.toggle("on", live);
    dot.dataset.live = live ? "yes" : "no";
    lost.hidden = live;  // in words, not only in red
  }
  window.parkgate.followStream({
    passage: (ev) => {
      const data = JSON.parse(ev.data).data;
      upsertPassage(data.id, true, data.journal_id);
      if (data.decision === "review") { refreshReview(); beep(1, 660); }
    },
    passage_offline: (ev) => {
      const data = JSON.parse(ev.data).data;
      showJournalled(data.journal_id, true);
      if (!queuePaused) refreshAlarms(false);  // decided offline: is the database away?
      // A car for a guard while the database is down: opened from the gate strip.
      if (data.decision === "review") beep(1, 660);
    },
    // Its barrier answered, or a guard's open named it: 人工开闸放行 follows whether the
    // gates count its car.
    passage_offline_updated: (ev) => {
      showJournalled(JSON.parse(ev.data).data.journal_id, false);
    },
    passage_updated: (ev) => {
      const data = JSON.parse(ev.data).data;
      upsertPassage(data.id, false);
      // A barrier's fault alarm is published before its car is uncounted, and stays once the
      // car is counted again: its 人工开闸放行 follows the passage's admission.
      if (data.admission) refreshAlarms(false);
      if (data.resolution) { resolvedElsewhere(data); refreshReview(); }
    },
    alarm: () => refreshAlarms(true),
    gate: (ev) => {
      const data = JSON.parse(ev.data).data;
      if (data.state) setGateState(data.gate_id, data.state, data.fault || null);
    },
    screen: (ev) => {
      const data = JSON.parse(ev.data).data;
      setScreen(data.gate_id, data.lines);
    },
    camera: (ev) => {
      const data = JSON.parse(ev.data).data;
      setCamera(data.gate_id, data.up);
    },
  // At every hello, the first included (rows unchanged since the rendering stay as they are).
  }, showLive, catchUp);
})();
