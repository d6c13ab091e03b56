/* The schedules page: create and edit in a dialog, pause / resume / delete, all through the REST API. */
"use strict";
(() => {
  const dlg = document.getElementById("schedule-dialog");
  if (!dlg) return; // viewers only read
  const form = dlg.querySelector("form");
  const field = (name) => form.elements.namedItem(name);
  const error = dlg.querySelector("#schedule-error");
  let editing = null; // the name of the schedule being edited, or null for a new one

  const toLocalInput = (iso) => (iso ? iso.replace(/(\+00:00|Z)$/, "").slice(0, 16) : "");
  const fromLocalInput = (value) => (value ? `${value}:00Z` : null);

  function open(spec) {
    editing = spec ? spec.name : null;
    dlg.querySelector('[data-slot="title"]').textContent = spec ? `Edit ${spec.name}` : "New schedule";
    field("name").value = spec ? spec.name : "";
    field("name").disabled = !!spec;
    field("dag_id").value = spec ? spec.dag_id : field("dag_id").value;
    field("dag_id").disabled = !!spec;
    field("cron").value = spec ? spec.cron : "";
    field("timezone").value = spec ? spec.timezone : "UTC";
    field("conf").value = JSON.stringify(spec ? spec.conf : {}, null, 2);
    field("start_date").value = toLocalInput(spec && spec.start_date);
    field("end_date").value = toLocalInput(spec && spec.end_date);
    error.textContent = "";
    dlg.showModal();
    (spec ? field("cron") : field("name")).focus();
  }

  const newButton = document.getElementById("new-schedule");
  if (newButton) newButton.addEventListener("click", () => open(null));

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    let conf;
    try {
      conf = JSON.parse(field("conf").value || "{}");
      if (conf === null || typeof conf !== "object" || Array.isArray(conf)) throw new Error("it must be a JSON object");
    } catch (e) {
      error.textContent = `Run configuration: ${e.message}`;
      return;
    }
    const body = {
      cron: field("cron").value.trim(),
      timezone: field("timezone").value.trim() || "UTC",
      conf,
      start_date: fromLocalInput(field("start_date").value),
      end_date: fromLocalInput(field("end_date").value),
    };
    const submit = dlg.querySelector("#schedule-submit");
    submit.disabled = true;
    try {
      if (editing) {
        await orch.api("PATCH", `/schedules/${orch.enc(editing)}`, body);
      } else {
        await orch.api("POST", "/schedules", { name: field("name").value.trim(), dag_id: field("dag_id").value, ...body });
      }
      dlg.close();
      orch.toast(`Schedule ${editing || field("name").value.trim()} saved`);
      setTimeout(() => location.reload(), 400);
    } catch (e) {
      error.textContent = e.message;
    } finally {
      submit.disabled = false;
    }
  });

  document.addEventListener("click", async (ev) => {
    const row = ev.target.closest("tr[data-schedule]");
    if (!row) return;
    const name = row.dataset.schedule;
    if (ev.target.closest("[data-edit]")) {
      open(JSON.parse(row.dataset.spec));
      return;
    }
    const toggle = ev.target.closest("[data-toggle]");
    const del = ev.target.closest("[data-delete]");
    if (!toggle && !del) return;
    if (del && !(await orch.confirmAction({ title: `Delete schedule ${name}?`, text: "Its runs so far stay; it queues no more.", ok: "Delete" }))) return;
    const action = del ? ["DELETE", `/schedules/${orch.enc(name)}`, "deleted"]
      : row.dataset.enabled === "true" ? ["POST", `/schedules/${orch.enc(name)}/pause`, "paused"]
        : ["POST", `/schedules/${orch.enc(name)}/resume`, "resumed"];
    (toggle || del).disabled = true;
    try {
      await orch.api(action[0], action[1]);
      orch.toast(`Schedule ${name} ${action[2]}`);
      setTimeout(() => location.reload(), 400);
    } catch (e) {
      (toggle || del).disabled = false;
      orch.toast(`Failed: ${e.message}`, "error");
    }
  });
})();
