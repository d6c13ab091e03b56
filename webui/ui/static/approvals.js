/* The Approvals page: each inbox button opens the decision dialog (comment, and the delegate for
   a delegation); OK posts the decision through the REST API and reloads the page. */
"use strict";
(() => {
  const dlg = document.getElementById("decision-dialog");
  const form = document.getElementById("decision-form");
  const error = document.getElementById("decision-error");
  const comment = document.getElementById("decision-comment");
  const delegate = document.getElementById("decision-delegate");
  const titles = { approve: "Approve", reject: "Reject", request_changes: "Request changes on", delegate: "Delegate" };
  let current = null; // { id, decision }

  document.addEventListener("click", (ev) => {
    const button = ev.target.closest("[data-decide]");
    if (!button) return;
    const row = button.closest("tr[data-approval]");
    const required = row.dataset.requireComment === "true";
    current = { id: row.dataset.approval, decision: button.dataset.decide };
    dlg.querySelector('[data-slot="title"]').textContent = `${titles[current.decision]} ${row.dataset.label}`;
    dlg.querySelector('[data-slot="comment-hint"]').textContent = required ? "(required)" : "(optional)";
    comment.required = required;
    comment.value = "";
    delegate.value = "";
    delegate.required = current.decision === "delegate";
    document.getElementById("delegate-row").hidden = current.decision !== "delegate";
    error.textContent = "";
    dlg.showModal();
    (current.decision === "delegate" ? delegate : comment).focus();
  });

  form.addEventListener("submit", async (ev) => {
    ev.preventDefault();
    if (!current) return;
    const body = { decision: current.decision, comment: comment.value.trim() || null };
    if (current.decision === "delegate") body.delegate_to = delegate.value.trim();
    const submit = document.getElementById("decision-submit");
    submit.disabled = true;
    try {
      const out = await orch.api("POST", `/approvals/${orch.enc(current.id)}/decisions`, body);
      dlg.close();
      orch.toast(out.outcome ? `Request ${out.id} is ${out.outcome.replace("_", " ")}` : `Decision on request ${out.id} recorded`);
      setTimeout(() => location.reload(), 400);
    } catch (e) {
      error.textContent = e.message;
    } finally {
      submit.disabled = false;
    }
  });
})();
