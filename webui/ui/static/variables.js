/* The variables page: save (create or replace) and delete through the REST API. */
"use strict";
(() => {
  const form = document.getElementById("variable-form");
  if (!form) return; // viewers only read
  const field = (name) => form.elements.namedItem(name);
  const error = document.getElementById("variable-error");

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    error.textContent = "";
    const key = field("key").value.trim();
    let value = field("value").value;
    if (field("is_json").checked) {
      try { value = JSON.parse(value); } catch (e) { error.textContent = `Value: not JSON (${e.message})`; return; }
    }
    const description = field("description").value.trim();
    try {
      await orch.api("PUT", `/variables/${orch.enc(key)}`, description ? { value, description } : { value });
      orch.toast(`Variable ${key} saved`);
      location.reload();
    } catch (e) {
      error.textContent = e.message;
    }
  });

  document.querySelectorAll("#variables [data-delete]").forEach((button) => {
    button.addEventListener("click", async () => {
      const key = button.closest("tr").dataset.variable;
      if (!(await orch.confirmAction({ title: `Delete variable ${key}?`, text: "Tasks that read it will fail.", ok: "Delete" }))) return;
      try {
        await orch.api("DELETE", `/variables/${orch.enc(key)}`);
        location.reload();
      } catch (e) {
        orch.toast(e.message, "error");
      }
    });
  });
})();
