/* The circuits page: reset a breaker, retry a dead-lettered task (operators), then show the new state. */
"use strict";
(() => {
  document.addEventListener("click", async (ev) => {
    const reset = ev.target.closest("[data-reset]");
    const retry = ev.target.closest("[data-retry-task]");
    if (!reset && !retry) return;
    const btn = reset || retry;
    let title, text, path, done;
    if (reset) {
      const key = reset.dataset.reset;
      [title, text, path, done] = [`Reset breaker ${key}?`, "It closes now; the tasks waiting for it run at the next poll.",
        `/circuits/${orch.enc(key)}/reset`, `Breaker ${key} closed`];
    } else {
      const { retryDag: d, retryRun: r, retryTask: t } = retry.dataset;
      [title, text, path, done] = [`Retry ${t}?`, `${d} / ${r} / ${t} runs again with fresh retries, and its downstream too.`,
        `/dead-letters/${orch.enc(d)}/${orch.enc(r)}/${orch.enc(t)}/retry`, `${t} queued again`];
    }
    if (!(await orch.confirmAction({ title, text, ok: reset ? "Reset" : "Retry" }))) return;
    btn.disabled = true;
    try {
      await orch.api("POST", path);
      orch.toast(done);
      setTimeout(() => location.reload(), 600);
    } catch (e) {
      btn.disabled = false;
      orch.toast(`Failed: ${e.message}`, "error");
    }
  });
})();
