/* The trigger form: the fields' values as the run's conf, posted to the API (which checks them). */
"use strict";
(() => {
  const form = document.getElementById("params-form");
  if (!form) return;
  const error = document.getElementById("params-error");

  function valueOf(field) {
    const name = field.dataset.param;
    const input = form.elements.namedItem(name);
    switch (field.dataset.widget) {
      case "checkbox": return input.checked;
      case "number": {
        if (input.value === "") return undefined;
        return field.dataset.numberType === "integer" ? parseInt(input.value, 10) : Number(input.value);
      }
      case "select": {
        const choices = JSON.parse(document.querySelector(`[data-choices="${CSS.escape(name)}"]`).textContent);
        return choices[Number(input.value)];
      }
      case "lines": {
        const items = input.value.split("\n").map((s) => s.trim()).filter((s) => s);
        const kind = field.dataset.itemType;
        return kind === "integer" || kind === "number" ? items.map(Number) : items;
      }
      case "json":
        try { return input.value.trim() ? JSON.parse(input.value) : undefined; } catch (e) { throw new Error(`${name}: not JSON (${e.message})`); }
      default: return input.value === "" ? undefined : input.value;
    }
  }

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    const conf = {};
    try {
      form.querySelectorAll("[data-param]").forEach((field) => {
        const value = valueOf(field);
        if (value !== undefined) conf[field.dataset.param] = value;
      });
    } catch (e) { error.textContent = e.message; return; }
    try {
      const priority = parseInt(document.getElementById("run-priority").value || "0", 10);
      const run = await orch.api("POST", `/dags/${orch.enc(form.dataset.dag)}/runs`, { conf, priority });
      location.href = `${orch.root}/dags/${orch.enc(form.dataset.dag)}/runs/${orch.enc(run.run_id)}`;
    } catch (e) {
      error.textContent = e.message;
    }
  });
})();
