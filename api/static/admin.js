// Admin tables: forms and delete buttons that call the JSON API with the CSRF token.
"use strict";
(function () {
  const { api, toast, t, csrf } = window.parkgate;

  const { explainDetail } = window.parkgateErrors;

  // Through the shared client (which owns what a lost session looks like), with a refusal
  // worded in the page's language from the structured detail the client keeps on its error.
  async function send(method, url, payload) {
    try {
      return await api(method, url, payload);
    } catch (err) {
      if (!err.sessionExpired && err.status !== undefined) {
        err.raw = err.detail === undefined ? err.message : JSON.stringify(err.detail);
        err.message = explainDetail(err.detail === undefined ? err.message : err.detail);
      }
      throw err;
    }
  }

  // ---- forms ----------------------------------------------------------------------------
  // datetime-local has no zone. The form says which one its times are in (the community's
  // time, "+08:00" for Beijing), so a browser on a computer set to another zone sends the same.
  function zoned(raw, tz) {
    if (!tz) return new Date(raw).toISOString();
    return (raw.length === 16 ? raw + ":00" : raw) + tz;
  }

  function value(input) {
    const raw = input.value.trim();
    switch (input.dataset.type) {
      case "int": return raw === "" ? undefined : Number(raw);
      case "int-or-null": return raw === "" ? null : Number(raw);
      case "optional": return raw === "" ? null : raw;
      case "checkbox": return input.checked;
      case "datetime": return raw === "" ? undefined : zoned(raw, input.form.dataset.tz);
      // A visitor pass's weekday boxes: the ticked days, null when all are (every day).
      case "weekdays": {
        const boxes = [...input.form.querySelectorAll(`input[name="${input.name}"]`)];
        const days = boxes.filter((box) => box.checked).map((box) => box.value);
        return days.length === boxes.length ? null : days;
      }
      default: return raw;
    }
  }

  function showError(form, err) {
    const el = form.querySelector(".error");
    el.textContent = err.message;
    el.title = err.raw || "";  // the API's own words, for whoever reports the problem
    el.hidden = false;
    // It stands under the whole form: on the booth's 1366x768 the pass form's refusal came
    // below the screen's edge and 添加 seemed to do nothing. Brought up to the edge, no further.
    el.scrollIntoView({ block: "nearest" });
  }

  function fields(form) { return form.querySelectorAll("input[name], select[name]"); }

  // What a form created, said after the page reloads to show it: the form's data-done
  // ("已添加访客通行证 #{id}：{plate}") filled from the API's answer, else 已保存.
  const DONE_KEY = "parkgate.done";
  // The row whose panel (details[data-edit]) the action came from: after the reload the
  // keyboard is put back on its 管理/修正 button, not at the top of a 200-row page.
  const ROW_KEY = "parkgate.row";
  function doneText(form, saved) {
    // A walk-in pass has no plate to name: its own words ("点「二维码」发给访客"). Gate photos
    // a guard still needs were kept: say how many, and that they can go later. Photos on
    // file already were not stored again: "已录入" would say they were.
    const text = (saved && saved.walk_in && form.dataset.doneWalkIn)
      || (saved && saved.kept_for_guards && form.dataset.doneKept)
      || (saved && saved.added === 0 && form.dataset.doneAlready) || form.dataset.done;
    if (!text) return t("msg.saved");
    return text.replace(/\{(\w+)\}/g, (whole, name) => (saved && name in saved ? String(saved[name]) : whole));
  }
  function sayAfterReload(message, from) {
    try {
      sessionStorage.setItem(DONE_KEY, message);
      const panel = from && from.closest("details[data-edit]");
      if (panel) sessionStorage.setItem(ROW_KEY, panel.dataset.edit);
    } catch (err) { toast(message); }
  }
  let said = null;
  let row = null;
  try {
    said = sessionStorage.getItem(DONE_KEY);
    row = sessionStorage.getItem(ROW_KEY);
    sessionStorage.removeItem(DONE_KEY);
    sessionStorage.removeItem(ROW_KEY);
  } catch (err) { /* no storage: nothing was kept to say */ }
  if (said) toast(said);
  if (row) {
    const summary = document.querySelector(`details[data-edit="${CSS.escape(row)}"] > summary`);
    if (summary) {
      summary.focus({ preventScroll: true });
      summary.scrollIntoView({ block: "center" });
    }
  }

  // A box that makes a field meaningless (步行访客 has no plate) empties and disables it
  // while ticked, so what is sent is what the form shows.
  document.querySelectorAll("input[type=checkbox][data-disables]").forEach((box) => {
    const target = box.form.querySelector(`[name="${box.dataset.disables}"]`);
    const sync = () => {
      if (box.checked) target.value = "";
      target.disabled = box.checked;
    };
    box.addEventListener("change", sync);
    sync();
  });

  document.querySelectorAll("form.api-form").forEach((form) => {
    const submit = form.querySelector('button[type="submit"]');
    // A PATCH (the per-row edit forms) sends only what was changed: the page-load values
    // are what the row shows, so a field left alone stays as stored.
    const partial = form.dataset.method === "PATCH";
    // Photo uploads (face enrolment) go as the form's own multipart body, files included.
    const multipart = form.enctype === "multipart/form-data";
    const initial = new Map();
    if (partial) fields(form).forEach((input) => initial.set(input, JSON.stringify(value(input))));
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      // A second click (or Enter) while the first request runs created the record twice.
      if (form.dataset.busy === "yes") return;
      const payload = {};
      fields(form).forEach((input) => {
        const v = value(input);
        if (v === undefined) return;
        if (partial && JSON.stringify(v) === initial.get(input)) return;
        payload[input.name] = v;
      });
      if (partial && Object.keys(payload).length === 0) {
        toast(form.dataset.unchanged || t("msg.saved"));
        return;
      }
      // A form that acts on every gate (the fire-alarm hold) asks first, as deletions do.
      if (form.dataset.confirm && !window.confirm(form.dataset.confirm)) return;
      form.dataset.busy = "yes";
      if (submit) submit.disabled = true;
      // Enrolling photos takes the face engine a second or two each: say it is working, on
      // the button too, which (unlike the toast) stays until the answer comes.
      const working = form.dataset.busyText;
      const label = submit ? submit.textContent : "";
      if (working) {
        toast(working);
        if (submit) submit.textContent = working;
      }
      try {
        const body = multipart ? new FormData(form) : payload;
        const saved = await send(form.dataset.method || "POST", form.dataset.api, body);
        sayAfterReload(doneText(form, saved), form);
        window.location.reload();  // stays disabled: the page is being replaced
      } catch (err) {
        // "正在识别照片" beside the red refusal would say it is still trying.
        if (working) {
          document.getElementById("toast").hidden = true;
          if (submit) submit.textContent = label;
        }
        showError(form, err);
        form.dataset.busy = "";
        if (submit) submit.disabled = false;
      }
    });
  });

  // ---- forms the server answers itself (停用 on the users page) ask first too ------------
  document.querySelectorAll("form[data-confirm]:not(.api-form)").forEach((form) => {
    form.addEventListener("submit", (ev) => {
      if (!window.confirm(form.dataset.confirm)) ev.preventDefault();
    });
  });

  // ---- household picker: a search box narrows the list (common.js) ---------------------
  document.querySelectorAll(".household-picker").forEach((picker) => {
    const search = picker.querySelector("input.household-search");
    const select = picker.querySelector("select");
    // The driver list follows the choice through the change event narrowing fires.
    search.addEventListener("input", () => window.parkgate.narrowHouseholds(search, select));
  });

  // ---- driver of a new car: the residents of the household chosen ------------------------
  document.querySelectorAll("select.driver-select").forEach((drivers) => {
    const household = drivers.form.querySelector('select[name="household_id"]');
    const narrow = () => {
      drivers.querySelectorAll("optgroup").forEach((group) => {
        group.hidden = household.value !== "" && group.dataset.household !== household.value;
      });
      const chosen = drivers.selectedOptions[0];
      if (chosen && chosen.parentElement.hidden) drivers.value = "";  // not of this household
    };
    household.addEventListener("change", narrow);
    narrow();
  });

  // ---- the host's phones under the pass form: masked for a guard, whole by an audited reveal --
  // A tel: link once the number is whole: a guard at the barrier calls from the phone in hand.
  function callLink(name, phone) {
    const link = document.createElement("a");
    link.className = "btn small host-call";
    link.href = "tel:" + phone.split("x")[0].replace(/[^0-9+]/g, "");
    link.textContent = `${t("host.call")} ${phone}`;
    link.setAttribute("aria-label", t("host.call_label", { name, phone }));
    return link;
  }

  function hostRow(resident) {
    const item = document.createElement("li");
    const name = document.createElement("span");
    name.textContent = resident.name;
    const number = document.createElement("span");
    number.className = "host-phone";
    item.append(name, number);
    if (!resident.phone) {
      number.textContent = t("host.no_phone");
    } else if (!resident.phone_masked) {
      number.append(callLink(resident.name, resident.phone));
    } else {
      number.textContent = resident.phone;
      const reveal = document.createElement("button");
      reveal.type = "button";
      reveal.className = "btn small host-reveal";
      reveal.textContent = t("host.reveal");
      reveal.setAttribute("aria-label", t("host.reveal_label", { name: resident.name }));
      reveal.addEventListener("click", async () => {
        reveal.disabled = true;
        try {
          const whole = await send("POST", `/api/v1/residents/${resident.id}/phone-reveal`, {});
          const link = callLink(resident.name, whole.phone);
          number.replaceChildren(link);
          reveal.remove();
          link.focus();  // the button is gone: the focus goes on to what it gave
        } catch (err) {
          reveal.disabled = false;
          toast(err.message, true);
        }
      });
      item.append(reveal);
    }
    return item;
  }

  document.querySelectorAll(".host-phones").forEach((box) => {
    const select = box.closest("form").querySelector(`select[name="${box.dataset.for}"]`);
    const hint = box.querySelector(".host-phones-hint");
    const list = box.querySelector("ul");
    let asked = 0;  // a slow answer for a household no longer chosen is dropped
    async function show() {
      const household = select.value;
      const mine = ++asked;
      list.replaceChildren();
      hint.textContent = household ? "" : t("host.choose");
      if (!household) return;
      try {
        const residents = await send("GET", `/api/v1/residents?household_id=${encodeURIComponent(household)}&limit=50`);
        if (mine !== asked) return;
        hint.textContent = residents.length ? "" : t("host.none");
        list.replaceChildren(...residents.map(hostRow));
      } catch (err) {
        if (mine === asked) hint.textContent = err.message;
      }
    }
    select.addEventListener("change", show);
    if (select.value) show();
  });

  // ---- print (a visitor pass's QR code) ---------------------------------------------------
  document.querySelectorAll("button[data-print]").forEach((button) => {
    button.addEventListener("click", () => window.print());
  });

  // ---- delete buttons -------------------------------------------------------------------
  document.addEventListener("click", async (ev) => {
    const button = ev.target.closest("button[data-api]");
    if (!button || button.disabled) return;
    const question = button.dataset.confirm || t("admin.confirm_delete");
    if (button.dataset.method === "DELETE" && !window.confirm(question)) return;
    button.disabled = true;
    try {
      const answer = await send(button.dataset.method, button.dataset.api);
      if (button.dataset.done) sayAfterReload(doneText(button, answer), button);
      window.location.reload();
    } catch (err) {
      button.disabled = false;
      toast(err.message, true);
    }
  });

  // For the browser test that checks the page says what the server says.
})();
