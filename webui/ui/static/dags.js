/* The DAGs list: draws each DAG's last runs as squares and keeps them live. */
"use strict";
(() => {
  const ACTIVE = new Set(["queued", "running"]);
  const cells = new Map([...document.querySelectorAll("[data-squares]")].map((td) => [td.dataset.squares, td]));
  let shown = "";

  function draw(squares) {
    const key = JSON.stringify(squares);
    if (key === shown) return;
    shown = key;
    for (const [dagId, td] of cells) {
      const runs = squares[dagId] || [];
      td.innerHTML = runs.length
        ? runs.map(([runId, state]) => `<a class="sq s-${orch.esc(state)}" href="${orch.urls.run(dagId, runId)}" title="${orch.esc(runId)}: ${orch.esc(orch.label(state))}" data-state="${orch.esc(state)}"></a>`).join("")
        : '<span class="muted small">no runs yet</span>';
    }
  }

  const isActive = (squares) => Object.values(squares).some((runs) => runs.some(([, s]) => ACTIVE.has(s)));
  let squares = orch.pageData().squares || {};
  draw(squares);
  if (!cells.size) return;
  const ids = [...cells.keys()].map(orch.enc).join(",");
  const refresh = orch.poll(async () => {
    squares = (await orch.getJSON(`/data/dag-runs?ids=${ids}`)).squares;
    draw(squares);
    return isActive(squares);
  }, { fast: 1500, slow: 10000 });
  document.addEventListener("orch:changed", refresh);
})();
