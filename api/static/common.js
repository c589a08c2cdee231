// Shared by every logged-in console page: CSRF-aware fetch, toasts, idle time-out.
"use strict";
(function () {
  const body = document.body;
  const texts = JSON.parse(body.dataset.texts || "{}");
  const csrf = document.querySelector('meta[name="csrf-token"]').content;
  const idleSeconds = Number(body.dataset.idleSeconds || 900);

  function t(key) { return texts[key] || key; }

  function detailText(data) {
    if (!data || data.detail === undefined) return t("msg.failed");
    if (typeof data.detail === "string") return data.detail;
    if (Array.isArray(data.detail)) {
      return data.detail.map((d) => (d.loc || []).filter((x) => x !== "body").join(".") + ": " + d.msg).join("; ");
    }
    return JSON.stringify(data.detail);
  }

  // Every unsafe request carries the page's CSRF token; the cookie carries the session.
  async function api(method, url, payload) {
    const options = { method, headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" };
    if (payload !== undefined) {
      options.headers["Content-Type"] = "application/json";
      options.body = JSON.stringify(payload);
    }
    let response;
    try {
      response = await fetch(url, options);
    } catch (err) {
      throw new Error(t("msg.network"));
    }
    if (response.status === 401) { window.location.href = "/console/login?expired=1"; }
    const isJson = (response.headers.get("content-type") || "").includes("json");
    const data = isJson ? await response.json() : null;
    if (!response.ok) { const e = new Error(detailText(data)); e.status = response.status; throw e; }
    activity();
    return data;
  }

  let toastTimer = null;
  function toast(message, bad) {
    const el = document.getElementById("toast");
    el.textContent = message;
    el.classList.toggle("bad", Boolean(bad));
    el.hidden = false;
    clearTimeout(toastTimer);
    toastTimer = setTimeout(() => { el.hidden = true; }, bad ? 8000 : 3500);
  }

  // Idle time-out: input renews the server session (at most once a minute); no input for
  // idleSeconds logs out, so an unattended booth screen does not stay signed in.
  let lastInput = Date.now();
  let lastRenew = Date.now();
  function activity() { lastInput = Date.now(); }
  ["pointerdown", "keydown", "touchstart"].forEach((name) => document.addEventListener(name, activity, { passive: true }));
  setInterval(async () => {
    const now = Date.now();
    if (now - lastInput >= idleSeconds * 1000) {
      const form = document.getElementById("logout-form");
      if (form) { form.submit(); }
      return;
    }
    if (lastInput > lastRenew && now - lastRenew > 60000) {
      lastRenew = now;
      try {
        await fetch("/console/keepalive", { method: "POST", headers: { "X-CSRF-Token": csrf }, credentials: "same-origin" });
      } catch (err) { /* the next tick tries again */ }
    }
  }, 5000);

  window.parkgate = { api, toast, t, csrf, detailText };
})();
