// Admin tables: forms and delete buttons that call the JSON API with the CSRF token.
"use strict";
(function () {
  const { api, toast, t, csrf } = window.parkgate;

  // ---- the API's errors in the page's language ----------------------------------------
  // The table comes from api/console/error_texts.py (the server translates with the same
  // one); its expressions match whole messages and name their groups.
  const tableBlock = document.getElementById("error-table");
  const table = JSON.parse((tableBlock && tableBlock.textContent) || "{}");
  const patterns = (table.patterns || []).map(([source, text, names]) => (
    { re: new RegExp("^(?:" + source + ")$"), text, names }
  ));
  const labels = table.labels || {};
  const locations = table.locations || [];

  function labelOf(word) { return Object.prototype.hasOwnProperty.call(labels, word) ? labels[word] : word; }

  function fill(text, values) {
    return text.replace(/\{(\w+)\}/g, (whole, name) => (name in values ? values[name] : whole));
  }

  function stripPrefix(message) {
    for (const prefix of table.prefixes || []) {
      if (message.startsWith(prefix)) return message.slice(prefix.length);
    }
    return message;
  }

  function explainMessage(message) {
    const text = stripPrefix(String(message).trim());
    for (const pattern of patterns) {
      const match = pattern.re.exec(text);
      if (!match) continue;
      const values = {};
      pattern.names.forEach((name, i) => {
        const value = match[i + 1] === undefined ? "" : match[i + 1];
        // "@" marks a field or record word ("valid_to", "household"): shown by its label.
        if (name.startsWith("@")) values[name.slice(1)] = labelOf(value);
        else values[name] = value;
      });
      return fill(pattern.text, values);
    }
    return text;  // a message the table does not know yet stays as the API wrote it
  }

  function fieldOf(loc) {
    if (!Array.isArray(loc)) return null;
    const names = loc.filter((part) => typeof part === "string" && !locations.includes(part));
    return names.length ? names[names.length - 1] : null;
  }

  // A 409/404 body's detail is a message; a 422's is a list of {loc, msg, type}.
  function explainDetail(detail) {
    if (typeof detail === "string") return explainMessage(detail);
    if (Array.isArray(detail) && detail.length) {
      const parts = [];
      detail.forEach((problem) => {
        if (!problem || typeof problem !== "object" || Array.isArray(problem)) return;
        let text = explainMessage(problem.msg === undefined ? "" : problem.msg);
        const name = fieldOf(problem.loc);
        if (name !== null) text = labelOf(name) + table.sep + text;
        parts.push(text);
      });
      if (parts.length) return parts.join(table.join);
    }
    return table.failed || t("msg.failed");
  }

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
  // datetime-local has no zone. The form says which one its times are in (the console's
  // Beijing time, "+08:00"), so a browser on a computer set to another zone sends the same.
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
      case "datetime": return raw === "" ? undefined : zoned(raw, input.form.dataset.tz);
      default: return raw;
    }
  }

  function showError(form, err) {
    const el = form.querySelector(".error");
    el.textContent = err.message;
    el.title = err.raw || "";  // the API's own words, for whoever reports the problem
    el.hidden = false;
  }

  document.querySelectorAll("form.api-form").forEach((form) => {
    const submit = form.querySelector('button[type="submit"]');
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      // A second click (or Enter) while the first request runs created the record twice.
      if (form.dataset.busy === "yes") return;
      form.dataset.busy = "yes";
      if (submit) submit.disabled = true;
      const payload = {};
      form.querySelectorAll("input[name], select[name]").forEach((input) => {
        const v = value(input);
        if (v !== undefined) payload[input.name] = v;
      });
      try {
        await send(form.dataset.method || "POST", form.dataset.api, payload);
        toast(t("msg.saved"));
        window.location.reload();  // stays disabled: the page is being replaced
      } catch (err) {
        showError(form, err);
        form.dataset.busy = "";
        if (submit) submit.disabled = false;
      }
    });
  });

  // ---- household picker: a search box narrows the list --------------------------------
  function fold(text) { return text.normalize("NFKC").toLowerCase(); }

  document.querySelectorAll(".household-picker").forEach((picker) => {
    const search = picker.querySelector("input.household-search");
    const select = picker.querySelector("select");
    search.addEventListener("input", () => {
      const words = fold(search.value).split(/\s+/).filter(Boolean);
      const shown = [];
      Array.from(select.options).forEach((option) => {
        if (option.value === "") return;  // "choose…" stays
        const match = words.every((word) => fold(option.textContent).includes(word));
        option.hidden = !match;
        if (match) shown.push(option);
      });
      if (shown.length === 1) select.value = shown[0].value;
      else if (select.selectedOptions.length && select.selectedOptions[0].hidden) select.value = "";
    });
  });

  // ---- delete buttons -------------------------------------------------------------------
  document.addEventListener("click", async (ev) => {
    const button = ev.target.closest("button[data-api]");
    if (!button || button.disabled) return;
    const question = button.dataset.confirm || t("admin.confirm_delete");
    if (button.dataset.method === "DELETE" && !window.confirm(question)) return;
    button.disabled = true;
    try {
      await send(button.dataset.method, button.dataset.api);
      window.location.reload();
    } catch (err) {
      button.disabled = false;
      toast(err.message, true);
    }
  });

  // For the browser test that checks the page says what the server says.
  window.parkgateAdmin = Object.freeze({ explainDetail });
})();
