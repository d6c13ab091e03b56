/* The DAG page: the grid (runs x tasks), the graph coloured by the chosen run, the run durations
   chart, and tabs. Everything is drawn from one JSON document that is polled while runs move. */
"use strict";
(() => {
  const page = orch.pageData();
  let grid = page.grid;
  let selected = page.selected || null;
  const gridEl = document.getElementById("grid");
  const runSelect = document.getElementById("graph-run");
  const liveDot = document.getElementById("live-dot");

  /* -- tabs ------------------------------------------------------------------------------ */
  const tabs = [...document.querySelectorAll("[data-tab]")];
  function showTab(name) {
    if (!tabs.some((t) => t.dataset.tab === name)) name = "grid";
    tabs.forEach((t) => { t.classList.toggle("on", t.dataset.tab === name); t.setAttribute("aria-selected", t.dataset.tab === name); });
    document.querySelectorAll("[data-panel]").forEach((p) => { p.hidden = p.dataset.panel !== name; });
  }
  tabs.forEach((t) => t.addEventListener("click", () => { showTab(t.dataset.tab); history.replaceState(null, "", `#${t.dataset.tab}`); }));
  showTab(location.hash.slice(1));
  window.addEventListener("hashchange", () => showTab(location.hash.slice(1)));

  const runDuration = (r, now) => orch.seconds(r.start_date, r.end_date || (r.start_date ? now : null));

  /* -- grid ------------------------------------------------------------------------------ */
  function drawGrid() {
    const { runs, tasks, cells } = grid;
    if (!runs.length) { gridEl.innerHTML = '<p class="muted">No runs yet.</p>'; return; }
    const now = new Date().toISOString();
    const longest = Math.max(1, ...runs.map((r) => runDuration(r, now) || 0));
    const head = runs.map((r) => {
      const d = runDuration(r, now);
      const h = Math.max(3, Math.round(44 * (d || 0) / longest));
      const title = `${r.run_id}\n${orch.label(r.state)} · ${orch.fmtTime(r.logical_date)}${d !== null ? " · " + orch.fmtDuration(d) : ""}`;
      return `<th class="runhead${r.run_id === selected ? " sel" : ""}"><a href="${orch.urls.run(grid.dag_id, r.run_id)}" title="${orch.esc(title)}" data-run="${orch.esc(r.run_id)}"><span class="bar s-${orch.esc(r.state)}" style="height:${h}px"></span></a></th>`;
    }).join("");
    const rows = tasks.map((task, i) => {
      const tds = runs.map((r, j) => {
        const cell = cells[j][i];
        const sel = r.run_id === selected ? ' class="sel"' : "";
        if (!cell) return `<td${sel}><span class="empty-cell"></span></td>`;
        const [state, tryNumber] = cell;
        return `<td${sel}><a class="cell s-${orch.esc(state)}" href="${orch.urls.task(grid.dag_id, r.run_id, task)}" data-state="${orch.esc(state)}" title="${orch.esc(task)} · ${orch.esc(r.run_id)}\n${orch.esc(orch.label(state))}${tryNumber ? " · try " + tryNumber : ""}"></a></td>`;
      }).join("");
      return `<tr data-task="${orch.esc(task)}"><th class="task" title="${orch.esc(task)}">${orch.esc(task)}</th>${tds}</tr>`;
    }).join("");
    gridEl.innerHTML = `<table><thead><tr><th class="corner">runs &rarr;</th>${head}</tr></thead><tbody>${rows}</tbody></table>`;
  }

  /* -- graph: the server laid it out; here it only takes the chosen run's colours ---------- */
  function drawGraph() {
    const { runs, tasks, cells } = grid;
    const options = runs.slice().reverse().map((r) => `<option value="${orch.esc(r.run_id)}">${orch.esc(r.run_id)} (${orch.esc(orch.label(r.state))})</option>`).join("");
    if (runSelect.dataset.options !== options) { runSelect.innerHTML = options || "<option value=''>no runs yet</option>"; runSelect.dataset.options = options; }
    const j = runs.findIndex((r) => r.run_id === selected);
    const index = j >= 0 ? j : runs.length - 1;
    const run = runs[index];
    if (run) runSelect.value = run.run_id;
    const link = document.getElementById("graph-run-link");
    link.hidden = !run;
    if (run) link.href = orch.urls.run(grid.dag_id, run.run_id);
    const states = new Map(tasks.map((t, i) => [t, run && cells[index][i] ? cells[index][i][0] : "none"]));
    document.querySelectorAll("#graph .node").forEach((g) => {
      const state = states.get(g.dataset.task) || "none";
      g.setAttribute("class", `node s-${state}`);
      g.dataset.state = state;
      g.querySelector("title").textContent = `${g.dataset.task}: ${orch.label(state === "none" ? null : state)}`;
    });
  }
  runSelect.addEventListener("change", () => { selected = runSelect.value; drawGrid(); drawGraph(); });
  document.getElementById("graph").addEventListener("click", (ev) => {
    const node = ev.target.closest(".node");
    const run = grid.runs.find((r) => r.run_id === runSelect.value);
    if (node && run) location.href = orch.urls.task(grid.dag_id, run.run_id, node.dataset.task);
  });

  /* -- run durations chart ---------------------------------------------------------------- */
  function drawDurations() {
    const el = document.getElementById("durations");
    const now = new Date().toISOString();
    const runs = grid.runs.map((r) => ({ ...r, d: runDuration(r, now) })).filter((r) => r.d !== null);
    if (!runs.length) { el.innerHTML = '<p class="muted">No run has started yet.</p>'; return; }
    const H = 180, left = 56, bottom = 24, top = 10, bw = 14, gap = 6;
    const W = Math.max(360, left + runs.length * (bw + gap) + 20);
    const max = Math.max(...runs.map((r) => r.d), 0.001);
    const y = (d) => top + (H - top - bottom) * (1 - d / max);
    const bars = runs.map((r, i) => {
      const x = left + 8 + i * (bw + gap);
      return `<a href="${orch.urls.run(grid.dag_id, r.run_id)}"><rect class="barrect s-${orch.esc(r.state)}" x="${x}" y="${y(r.d).toFixed(1)}" width="${bw}" height="${(H - bottom - y(r.d)).toFixed(1)}" rx="2"><title>${orch.esc(r.run_id)}: ${orch.fmtDuration(r.d)} (${orch.esc(orch.label(r.state))})</title></rect></a>`;
    }).join("");
    const ticks = [0, 0.5, 1].map((f) => `<line class="axis" x1="${left}" x2="${W - 10}" y1="${y(max * f)}" y2="${y(max * f)}" stroke-dasharray="${f ? "3 3" : ""}"/><text x="${left - 6}" y="${y(max * f) + 4}" text-anchor="end">${orch.fmtDuration(max * f)}</text>`).join("");
    el.innerHTML = `<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="Run durations">${ticks}${bars}<text x="${left + 8}" y="${H - 6}">oldest</text><text x="${W - 10}" y="${H - 6}" text-anchor="end">newest</text></svg>`;
  }

  function drawAll() { drawGrid(); drawGraph(); drawDurations(); liveDot.classList.toggle("on", grid.active); }
  drawAll();

  let last = JSON.stringify(grid);
  const refresh = orch.poll(async () => {
    const next = await orch.getJSON(`/data/dags/${orch.enc(grid.dag_id)}/grid?runs=${page.size}`);
    const key = JSON.stringify(next);
    if (key !== last || next.active) { grid = next; last = key; drawAll(); }
    return next.active;
  }, { fast: 1500, slow: 10000 });
  document.addEventListener("orch:changed", refresh);
})();
