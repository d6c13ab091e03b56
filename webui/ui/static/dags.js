/* The DAGs list: each DAG's last run and its recent runs as dots, kept live by the event stream. */
"use strict";
(() => {
  const dots = new Map([...document.querySelectorAll("[data-squares]")].map((td) => [td.dataset.squares, td]));
  const lasts = new Map([...document.querySelectorAll("[data-last-run]")].map((td) => [td.dataset.lastRun, td]));
  let shown = "";

  function draw(recent) {
    const key = JSON.stringify(recent);
    if (key === shown) return;
    shown = key;
    for (const [dagId, td] of dots) {
      const runs = recent[dagId] || [];
      orch.morph(td, runs.length
        ? runs.map((r) => `<a class="sq dot s-${orch.esc(r.state)}${orch.withFailures(r) ? " with-failures" : ""}" href="${orch.urls.run(dagId, r.run_id)}" title="${orch.esc(r.run_id)}\n${orch.esc(orch.runLabel(r))} · ${orch.fmtTime(r.logical_date)}" data-state="${orch.esc(r.state)}"></a>`).join("")
        : '<span class="muted small">no runs yet</span>');
      const last = runs[runs.length - 1];
      orch.morph(lasts.get(dagId), last
        ? `<a href="${orch.urls.run(dagId, last.run_id)}" title="${orch.esc(last.run_id)}">${orch.fmtTime(last.start_date || last.logical_date)}</a> ${orch.runBadge(last)}`
        : '<span class="muted">—</span>');
    }
  }

  draw(orch.pageData().recent || {});
  if (!dots.size) return;
  const ids = [...dots.keys()].map(orch.enc).join(",");
  const refresh = orch.live({}, async () => draw((await orch.getJSON(`/data/dag-runs?ids=${ids}`)).recent), {
    onChanges: (changes) => changes.some((c) => dots.has(c.dag_id) && c.run_id),
  });
  document.addEventListener("orch:changed", refresh);
})();
