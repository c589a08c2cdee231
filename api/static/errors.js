// The API's error messages in the page's language, for every console page that calls it.
"use strict";
(function () {
  const { t } = window.parkgate;

  // The table comes from api/console/error_texts.py (the server translates with the same
  // one); its expressions match whole messages and name their groups.
  const tableBlock = document.getElementById("error-table");
  const table = JSON.parse((tableBlock && tableBlock.textContent) || "{}");
  const patterns = (table.patterns || []).map(([source, text, names]) => (
    { re: new RegExp("^(?:" + source + ")$"), text, names }
  ));
  const labels = table.labels || {};
  // Zone ids → the zone as the console names it ("A · A区地面"), on the pages that give them.
  const zones = table.zones || {};
  const locations = table.locations || [];

  function labelOf(word) { return Object.prototype.hasOwnProperty.call(labels, word) ? labels[word] : word; }
  function zoneOf(id) { return Object.prototype.hasOwnProperty.call(zones, id) ? zones[id] : id; }

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
        else if (name === table.zone) values[name] = zoneOf(value);
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

  window.parkgateErrors = Object.freeze({ explainDetail });
})();
