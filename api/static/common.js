// Shared by every logged-in console page: CSRF-aware fetch, toasts, idle time-out.
"use strict";
(function () {
  const body = document.body;
  // The body carries the texts every page needs; a page may add its own in [data-texts].
  const texts = {};
  document.querySelectorAll("[data-texts]").forEach((el) => Object.assign(texts, JSON.parse(el.dataset.texts || "{}")));
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const idleSeconds = Number(body.dataset.idleSeconds || 900);

  // t("review.done_allow", {gate: "东门入口", plate: "沪B7M261"}) fills the {name} slots.
  function t(key, values) {
    const text = texts[key] || key;
    if (!values) return text;
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? String(values[name]) : whole));
  }

  function detailText(data) {
    if (!data || data.detail === undefined) return t("msg.failed");
    if (typeof data.detail === "string") return data.detail;
    if (Array.isArray(data.detail)) {
      return data.detail.map((d) => (d.loc || []).filter((x) => x !== "body").join(".") + ": " + d.msg).join("; ");
    }
    return JSON.stringify(data.detail);
  }

  // The session is gone (idle time-out, account disabled, server restarted with a new key).
  // Navigating straight to the login form would leave the guard believing that the barrier
  // they just commanded moved: say plainly that it did not, and let them go to log in.
  function sessionExpired(what) {
    const dialog = document.getElementById("session-dialog");
    const whatEl = document.getElementById("session-dialog-what");
    if (!dialog) { window.location.href = "/console/login?expired=1"; return; }
    if (what) {
      whatEl.textContent = whatEl.dataset.prefix + what;
      whatEl.hidden = false;
    }
    document.querySelectorAll("dialog[open]").forEach((d) => { if (d !== dialog) d.close(); });
    if (!dialog.open) dialog.showModal();
    document.getElementById("session-login").focus();
  }
  // Esc must not leave the guard on a page where nothing works any more.
  const sessionDialog = document.getElementById("session-dialog");
  if (sessionDialog) sessionDialog.addEventListener("cancel", (ev) => ev.preventDefault());

  // The menu folds behind the 菜单 button (base.html, console.css) on a phone, and wherever
  // its entries do not fit one line: the button says whether it is open (aria-expanded, which
  // the stylesheet reads), and Esc folds it again with the focus back on the button.
  const navToggle = document.getElementById("nav-toggle");
  if (navToggle) {
    const topbar = navToggle.closest(".topbar");
    const nav = topbar.querySelector(".nav");
    const brand = topbar.querySelector(".brand");
    const phone = window.matchMedia("(max-width: 700px)");
    const navOpen = () => navToggle.getAttribute("aria-expanded") === "true";
    navToggle.addEventListener("click", () => navToggle.setAttribute("aria-expanded", String(!navOpen())));
    topbar.addEventListener("keydown", (ev) => {
      if (ev.key !== "Escape" || !navOpen() || !navToggle.getClientRects().length) return;
      navToggle.setAttribute("aria-expanded", "false");
      navToggle.focus();
    });
    // Of three headers the first that fits: the menu beside the title; the menu on a line of
    // its own under the title and the account's buttons (nav-stacked); folded (nav-folded).
    // A tablet is not told by its width alone: an admin's eleven entries wrapped the header
    // to four lines at 768 px and three at 1024, a guard's four fit beside the title at 768,
    // and English words are longer. So the entries are laid out and measured, which happens
    // before anything is painted (no flicker), again when the window turns or the fonts come.
    const oneLine = () => {
      const entries = Array.from(nav.children).filter((a) => a.getClientRects().length);
      return entries.length > 0 && entries.every((a) => a.offsetTop === entries[0].offsetTop);
    };
    const fitMenu = () => {
      topbar.classList.remove("nav-stacked", "nav-folded");
      if (phone.matches) {
        topbar.classList.add("nav-folded");
        return;
      }
      if (oneLine() && nav.offsetTop < brand.offsetTop + brand.offsetHeight) return;
      topbar.classList.add("nav-stacked");
      if (oneLine()) return;
      topbar.classList.replace("nav-stacked", "nav-folded");
    };
    if (nav && brand) {
      fitMenu();
      window.addEventListener("resize", fitMenu);
      if (document.fonts) document.fonts.ready.then(fitMenu);
    }
  }

  // A table wider than its box scrolls inside it (.table-scroll, its glow in console.css):
  // while it does, a line above says so, and the box takes the keyboard's focus so that the
  // arrow keys scroll it. Watched as rows come and go and the window turns.
  document.querySelectorAll(".table-scroll").forEach((box, index) => {
    const hint = document.createElement("p");
    hint.className = "scroll-hint";
    hint.id = `scroll-hint-${index}`;
    hint.textContent = t("table.scroll_hint");
    hint.hidden = true;
    box.before(hint);
    const check = () => {
      const wider = box.scrollWidth > box.clientWidth + 1;
      hint.hidden = !wider;
      if (wider) {
        box.tabIndex = 0;
        box.setAttribute("aria-describedby", hint.id);
      } else {
        box.removeAttribute("tabindex");
        box.removeAttribute("aria-describedby");
      }
    };
    const observer = new ResizeObserver(check);
    observer.observe(box);
    Array.from(box.children).forEach((child) => observer.observe(child));
  });

  function redirectedToLogin(response) {
    return response.redirected && new URL(response.url).pathname === "/console/login";
  }
  // A cookie the browser still sends after the server stopped accepting it fails the CSRF
  // check (403) before the route asks for a login (401): ask a page that needs only a login.
  async function sessionGone() {
    try {
      const probe = await fetch("/console/fragments/alarms", { credentials: "same-origin" });
      return probe.status === 401 || redirectedToLogin(probe);
    } catch (err) {
      return false;
    }
  }
  function expiredError() {
    const e = new Error(t("session.title"));
    e.status = 401;
    e.sessionExpired = true;
    return e;
  }

  // Every unsafe request carries the page's CSRF token; the cookie carries the session.
  // ``what`` names the action for the guard ("东门入口 · 开闸") if the session turns out gone.
  async function api(method, url, payload, what) {
    const options = { method, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
    if (payload instanceof FormData) {
      options.body = payload;  // the browser sets the multipart type with its boundary
    } else if (payload !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(payload);
    }
    let response;
    try {
      response = await fetch(url, options);
    } catch (err) {
      throw new Error(t("msg.network"));
    }
    if (response.status === 401 || redirectedToLogin(response)
        || (response.status === 403 && await sessionGone())) {
      sessionExpired(what || null);
      throw expiredError();
    }
    // A 204 (a PIN set, a deletion) may still carry a JSON content type, with no body.
    const isJson = (response.headers.get("content-type") || "").includes("json");
    const text = isJson ? await response.text() : "";
    const data = text ? JSON.parse(text) : null;
    if (!response.ok) {
      const e = new Error(detailText(data));
      e.status = response.status;
      // The structured body too, for pages that word each problem in their own language.
      e.detail = data ? data.detail : undefined;
      throw e;
    }
    activity();
    return data;
  }

  let toastTimer = null;
  // level: true or "bad" for failures, "warn" for "nothing happened", else a plain notice.
  function toast(message, level) {
    const el = document.getElementById("toast");
    const bad = level === true || level === "bad";
    el.textContent = message;
    el.classList.toggle("bad", bad);
    el.classList.toggle("warn", level === "warn");
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, bad || level === "warn" ? 8000 : 4500);
  }

  // Idle time-out: input renews the server session (at most once a minute); no input for
  // idleSeconds logs out, so an unattended booth screen does not stay signed in.
  let lastInput = Date.now();
  let lastRenew = Date.now();
  function activity() { lastInput = Date.now(); }
  ["pointerdown", "keydown", "touchstart"].forEach((name) => document.addEventListener(name, activity, { passive: true }));
  // The log-out is a form sent to the controller. Sent while the controller is off (a power
  // cut) or out of reach (the booth's network down), it left the browser's own error page,
  // which stays when the controller comes back: the booth saw no alarms and no cars until
  // someone reloaded it. So it is sent only once the controller answers (any status); till
  // then the page stays, its session ending on the server anyway (the cookie's max age).
  async function controllerAnswers() {
    const timeout = new AbortController();
    const timer = setTimeout(() => timeout.abort(), 4000);
    try {
      await fetch("/console/login", {
        method: "HEAD", cache: "no-store", credentials: "same-origin", redirect: "manual",
        signal: timeout.signal,
      });
      return true;
    } catch (err) {
      return false;
    } finally {
      clearTimeout(timer);
    }
  }
  let loggingOut = false;
  setInterval(async () => {
    const now = Date.now();
    if (now - lastInput >= idleSeconds * 1000) {
      const form = document.getElementById("logout-form");
      if (!form || loggingOut) return;
      loggingOut = true;
      if (!(await controllerAnswers()) || Date.now() - lastInput < idleSeconds * 1000) {
        loggingOut = false;  // the next tick asks again (or the guard is back)
        return;
      }
      // Tell the login page this was the idle time-out, and where to come back to.
      for (const [name, value] of [["idle", "1"], ["next", location.pathname + location.search]]) {
        const field = document.createElement("input");
        field.type = "hidden"; field.name = name; field.value = value;
        form.appendChild(field);
      }
      form.submit();
      return;
    }
    if (lastInput > lastRenew && now - lastRenew > 60000) {
      lastRenew = now;
      try {
        await fetch("/console/keepalive", { method: "POST", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" });
      } catch (err) { /* the next tick tries again */ }
    }
  }, 5000);

  // A household search box narrows its <select> to the flats whose name holds every word
  // typed ("5栋 302", full width and case folded); one left is chosen. The admin pages and the
  // booth's visitor box share it: a community has hundreds of flats to scroll through.
  function fold(text) { return text.normalize("NFKC").toLowerCase(); }
  // A flat is typed with or without the space the list puts between building and unit
  // ("5栋302" as on a sheet or a parcel): each word matches the label either way.
  function narrowHouseholds(search, select) {
    const words = fold(search.value).split(/\s+/).filter(Boolean);
    const shown = [];
    Array.from(select.options).forEach((option) => {
      if (option.value === "") return;  // "choose…" stays
      const label = fold(option.textContent);
      const joined = label.replace(/\s+/g, "");
      const match = words.every((word) => label.includes(word) || joined.includes(word));
      option.hidden = !match;
      if (match) shown.push(option);
    });
    const before = select.value;
    if (shown.length === 1) select.value = shown[0].value;
    else if (select.selectedOptions.length && select.selectedOptions[0].hidden) select.value = "";
    // Set from here, the choice fires no change of its own: what follows it must hear it.
    if (select.value !== before) select.dispatchEvent(new Event("change", { bubbles: true }));
  }

  // ---- a form the server answers that must go once (确认搬离) ------------------------------
  // A double click sent it twice: the first removed the flat, the second answered 住户不存在
  // and that page replaced the one saying what was removed. The first submission stands;
  // a page the back button brings back from the browser's cache may send it again.
  document.querySelectorAll("form[data-once]").forEach((form) => {
    form.addEventListener("submit", (ev) => {
      if (form.dataset.sent === "yes") ev.preventDefault();
      else form.dataset.sent = "yes";
    });
  });
  window.addEventListener("pageshow", (ev) => {
    if (ev.persisted) document.querySelectorAll("form[data-once]").forEach((form) => { form.dataset.sent = ""; });
  });

  // ---- the live event stream -------------------------------------------------------------
  // The booth page (live.js) and the admin's 车位 page (site.js) follow /api/v1/events/stream
  // alike. A network that drops packets instead of refusing them (a pulled cable past a
  // switch, a booth router that hangs) ends no connection: the browser would wait on a dead
  // stream with the page shown live. The server speaks at least every heartbeat_s (its hello
  // says how often); silence past two of them is taken as a lost stream: shown as lost and a
  // new stream opened, one at a time, whose hello catches up on what was missed (events are
  // not replayed). A "resync" says the server dropped events this page read too slowly (a
  // slow link): it catches up the same way, the stream staying open.
  //   handlers: { type: (ev) => ... } for the events the page follows;
  //   showLive(live): the page's dot; catchUp(): read what events would have brought, at
  //   every hello (the first included: what came between the page's rendering and its
  //   stream listening was sent to no one) and resync.
  const STREAM_RETRY_MS = 5000;  // after the browser gave a stream up (a refusal)
  function followStream(handlers, showLive, catchUp) {
    let silenceMs = 32000;  // 2 x the default 15 s heartbeat + 2 s, until the hello says
    let watchdog = null;
    let retry = null;
    let source = null;
    function heard() {
      clearTimeout(watchdog);
      watchdog = setTimeout(() => { showLive(false); connect(); }, silenceMs);
    }
    function connect() {
      clearTimeout(retry);
      if (source) source.close();  // one stream at a time, whoever asks for the next
      const current = new EventSource("/api/v1/events/stream");
      source = current;
      heard();  // a connection that never answers is retried too
      // Every event is a sign of life, besides being handled.
      function on(type, handle) {
        current.addEventListener(type, (ev) => { heard(); handle(ev); });
      }
      on("hello", (ev) => {
        const heartbeat = Number((JSON.parse(ev.data || "{}") || {}).heartbeat_s);
        if (heartbeat > 0) { silenceMs = heartbeat * 2000 + 2000; heard(); }
        showLive(true);
        catchUp();
      });
      on("ping", () => {});
      on("resync", () => catchUp());
      Object.entries(handlers).forEach(([type, handle]) => on(type, handle));
      current.onerror = async () => {
        showLive(false);
        if (current.readyState !== EventSource.CLOSED) return;  // the browser retries
        clearTimeout(watchdog);  // the retry below, or the login, takes over
        // The browser gave up, e.g. on a 401 once the session expired: said as other pages
        // say it, instead of retrying behind a page that can no longer act.
        if (await sessionGone()) { sessionExpired(null); return; }
        if (source === current) retry = setTimeout(connect, STREAM_RETRY_MS);
      };
    }
    connect();
  }

  // ---- a passages table's photos: one tab stop, and the lightbox ------------------------
  // The booth's live passages (live.js) and 通行记录 alike. Each row's photo is a button (Enter
  // enlarges it, as a review card's), but 200 tab stops would stand between a keyboard and
  // everything after the table. One is in the tab order (tabindex 0): the top shown row's,
  // as new cars come, until the guard has been on one; then that one while its row is shown.
  // ↑ ↓ Home End move it between the rows shown (a roving tabindex), and #photo-keys says so
  // meanwhile. Returns what a page that replaces rows calls: keepOneStop() after any change
  // of the rows shown, carryStop(old, fresh) when a row is read again.
  const lightbox = document.getElementById("lightbox");
  let lightboxRows = null;  // the table the photo shown is from (none: a review card's)
  let lightboxOpener = null;  // the row's photo button the photo shown is (the focus goes back)
  let lightboxRowId = null;  // that row's passage: the booth page replaces a row read again
  function shownPhotos(rows) {
    return Array.from(rows.querySelectorAll("tr.passage:not([hidden]) .thumb-button"));
  }
  function makePhotoStop(rows, button) {
    rows.querySelectorAll('.thumb-button[tabindex="0"]').forEach((b) => { b.tabIndex = -1; });
    button.tabIndex = 0;
  }
  function photoTable(rows) {
    let photoChosen = false;
    function keepOneStop() {
      const shown = shownPhotos(rows);
      const chosen = photoChosen ? shown.find((b) => b.tabIndex === 0) : null;
      photoChosen = Boolean(chosen);
      if (chosen || shown[0]) makePhotoStop(rows, chosen || shown[0]);
    }
    rows.addEventListener("keydown", (ev) => {
      const button = ev.target.closest(".thumb-button");
      if (!button) return;
      const shown = shownPhotos(rows);
      const at = shown.indexOf(button);
      const to = { ArrowDown: at + 1, ArrowUp: at - 1, Home: 0, End: shown.length - 1 }[ev.key];
      if (to === undefined) return;
      ev.preventDefault();  // the arrows would scroll the page as well
      if (!shown[to]) return;
      makePhotoStop(rows, shown[to]);
      shown[to].focus();
    });
    // A photo clicked becomes the stop too: Tab comes back to where the guard was.
    rows.addEventListener("focusin", (ev) => {
      const button = ev.target.closest(".thumb-button");
      if (!button) return;
      photoChosen = true;
      if (button.tabIndex !== 0) makePhotoStop(rows, button);
    });
    function carryStop(old, fresh) {
      const was = old.querySelector(".thumb-button");
      const now = fresh.querySelector(".thumb-button");
      if (was && now) now.tabIndex = was.tabIndex;
    }
    keepOneStop();  // the rows the page was rendered with
    return { keepOneStop, carryStop };
  }
  // With a row's photo, what settles a complaint about that car, read from its row as the
  // table shows it (a row read again meanwhile shows its new state): each column but the
  // photo under its heading, and the registered plate it matched with how far the read was.
  function fillCaption(row) {
    const caption = document.getElementById("lightbox-caption");
    const facts = document.getElementById("lightbox-facts");
    facts.replaceChildren();
    if (!row) { caption.hidden = true; return; }
    const heads = Array.from(row.closest("table").querySelectorAll("thead th"), (th) => th.textContent.trim());
    const add = (label, text, role) => {
      const dt = document.createElement("dt");
      dt.textContent = label;
      const dd = document.createElement("dd");
      dd.textContent = text;
      if (role) dd.dataset.role = role;
      facts.append(dt, dd);
    };
    Array.from(row.cells).forEach((cell, i) => {
      if (cell.querySelector("img.thumb") || !heads[i]) return;
      const copy = cell.cloneNode(true);
      // 人工开闸放行 and an admin's links to the audit log are ways on, not facts.
      copy.querySelectorAll("button, a").forEach((b) => b.remove());
      copy.querySelectorAll("br, .resolve-reason").forEach((el) => el.before(" "));
      // A guard's resolution says what it was before, who, and when (the car's wait).
      copy.querySelectorAll("[data-caption]").forEach((el) => { el.textContent = el.dataset.caption; });
      const text = copy.textContent.replace(/\s+/g, " ").trim();
      const role = ["time", "gate", "", "plate", "confidence", "decision", "reason", "who"][i];
      add(heads[i], text, role);
      const matched = role === "plate" && cell.querySelector(".matched[data-plate]");
      if (matched) add(matched.title, matched.dataset.plate + " · " + matched.dataset.distance, "matched");
    });
    caption.hidden = false;
  }
  function showPhoto(img, rows) {
    const row = rows ? img.closest("tr.passage") : null;
    const big = document.getElementById("lightbox-img");
    big.src = img.src;
    big.alt = img.alt;  // 抓拍 12, as its thumbnail
    lightbox.setAttribute("aria-label", img.alt);
    fillCaption(row);
    lightboxRows = rows;
    lightboxOpener = row ? row.querySelector(".thumb-button") : null;
    lightboxRowId = row ? row.dataset.id : null;
  }
  // The photo button of the row shown, as the table has it now: the booth page replaces a
  // row read again (its barrier answered, the stream's catch-up), and the button kept was
  // then no longer in the table; the arrows went from the top row and Escape to another car.
  function openerNow() {
    if (lightboxOpener && lightboxOpener.isConnected) return lightboxOpener;
    if (!lightboxRows || !lightboxRowId) return null;
    const row = lightboxRows.querySelector('tr.passage[data-id="' + CSS.escape(lightboxRowId) + '"]');
    lightboxOpener = row ? row.querySelector(".thumb-button") : null;
    return lightboxOpener;
  }
  if (lightbox) {
    // Closed, the lightbox gives the focus back to the row's photo it shows (the dialog gives
    // it to the one it was opened from); if that row was read again meanwhile, to the table's
    // photo stop.
    lightbox.addEventListener("close", () => {
      const opener = openerNow();
      if (opener) opener.focus();
      else if (lightboxRows) {
        const stop = lightboxRows.querySelector('.thumb-button[tabindex="0"]');
        if (stop) stop.focus();
      }
      lightboxRows = null;
      lightboxOpener = null;
      lightboxRowId = null;
    });
    // ← → or ↑ ↓ show the previous or next row's photo of those the table shows, its facts
    // with it: a guard pages through a morning's cars without closing and opening each.
    // That photo becomes the table's stop, and Escape closes onto it.
    lightbox.addEventListener("keydown", (ev) => {
      const step = { ArrowLeft: -1, ArrowUp: -1, ArrowRight: 1, ArrowDown: 1 }[ev.key];
      const opener = step && lightboxRows ? openerNow() : null;
      if (!opener) return;
      ev.preventDefault();  // nor scroll the page behind
      const shown = shownPhotos(lightboxRows);
      const next = shown[shown.indexOf(opener) + step];
      if (!next) return;  // the first or last car shown: it stays
      makePhotoStop(lightboxRows, next);
      showPhoto(next.querySelector("img.thumb"), lightboxRows);
    });
    document.addEventListener("click", (ev) => {
      const img = ev.target.closest("img.thumb")
        || ev.target.closest(".thumb-button")?.querySelector("img.thumb");  // Enter on a photo's
      if (img) {
        showPhoto(img, img.closest(".passages-table tbody"));
        lightbox.showModal();
      } else if (ev.target.closest("#lightbox")) {
        lightbox.close();
      }
    });
  }

  // ---- a photo deleted since its row was drawn ------------------------------------------
  // Retention and the low-space cleanup delete snapshots whose passages stay: the photo then
  // answers 404, and the row or review card showed a broken image that opened an empty
  // lightbox. Its place says so instead (data-gone: 照片已删除), no longer a button; a
  // table's photo tab stop goes to the top photo still shown. Images that failed before this
  // script ran are found by their state, the others by their error event (which does not
  // bubble: caught on its way down).
  function photoGone(img) {
    const holder = img.closest(".thumb-button") || img;
    const rows = holder.closest("tbody");
    const wasStop = holder !== img && holder.tabIndex === 0;
    const gone = document.createElement("span");
    gone.className = "thumb thumb-gone";
    gone.textContent = img.dataset.gone;
    holder.replaceWith(gone);
    const next = wasStop && rows ? shownPhotos(rows)[0] : null;
    if (next) makePhotoStop(rows, next);
  }
  document.addEventListener("error", (ev) => {
    if (ev.target instanceof HTMLImageElement && ev.target.matches("img.thumb[data-gone]")) photoGone(ev.target);
  }, true);
  document.querySelectorAll("img.thumb[data-gone]").forEach((img) => {
    if (img.complete && img.naturalWidth === 0) photoGone(img);
  });

  window.parkgate = {
    api, toast, t, csrf, detailText, sessionExpired, sessionGone, narrowHouseholds, followStream,
    photoTable,
  };
})();
