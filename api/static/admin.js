// Admin tables: forms and delete buttons that call the JSON API with the CSRF token.
"use strict";
(function () {
  const { api, toast, t } = window.parkgate;

  function value(input) {
    const raw = input.value.trim();
    switch (input.dataset.type) {
      case "int": return raw === "" ? undefined : Number(raw);
      case "int-or-null": return raw === "" ? null : Number(raw);
      case "optional": return raw === "" ? null : raw;
      // datetime-local has no zone: read it as the browser's local time, send ISO with zone.
      case "datetime": return raw === "" ? undefined : new Date(raw).toISOString();
      default: return raw;
    }
  }

  document.querySelectorAll("form.api-form").forEach((form) => {
    form.addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const payload = {};
      form.querySelectorAll("input[name], select[name]").forEach((input) => {
        const v = value(input);
        if (v !== undefined) payload[input.name] = v;
      });
      const error = form.querySelector(".error");
      try {
        await api(form.dataset.method || "POST", form.dataset.api, payload);
        toast(t("msg.saved"));
        window.location.reload();
      } catch (err) {
        error.textContent = err.message;
        error.hidden = false;
      }
    });
  });

  document.addEventListener("click", async (ev) => {
    const button = ev.target.closest("button[data-api]");
    if (!button) return;
    if (button.dataset.method === "DELETE" && !window.confirm(t("admin.confirm_delete"))) return;
    try {
      await api(button.dataset.method, button.dataset.api);
      window.location.reload();
    } catch (err) {
      toast(err.message, true);
    }
  });
})();
