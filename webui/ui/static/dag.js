/* The DAG page: the grid (runs x tasks), the graph coloured by the chosen run, the run durations
   chart, and tabs. Everything is drawn from one JSON document, fetched again when the event
   stream says that a run of the DAG moved. */
"use strict";
(() => {
  const page = orch.pageData();
  let grid = page.grid;
  let selected = page.selected || null;
  const gridEl = document.getElementById("grid");
  const runSelect = document.getElementById("graph-run");

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

  /* -- grid: one column per run (oldest left, newest right, scrolled into view), a bar per run
     as tall as its duration against an axis, logical dates below it, one row of cells per task.
     The card beside it shows the run under the pointer (or the chosen one). */
  const BAR_H = 84;
  const COL_W = 20;
  const DATE_EVERY_PX = 110;
  const card = document.getElementById("run-card");
  const wrap = document.getElementById("grid-wrap");
  let cardRun = null;
  let scrolled = false;
  const shortDate = (iso) => orch.fmtTime(iso).slice(5, 16);

  function drawGrid() {
    const { runs, tasks, cells } = grid;
    if (!runs.length) { gridEl.innerHTML = '<p class="muted empty-grid">No runs yet. Trigger one, or wait for the schedule.</p>'; drawCard(); return; }
    const now = new Date().toISOString();
    const longest = Math.max(0.001, ...runs.map((r) => runDuration(r, now) || 0));
    const axis = `<div class="axis-labels"><span>${orch.fmtDuration(longest)}</span><span>${orch.fmtDuration(longest / 2)}</span><span>0</span></div>`;
    const bars = runs.map((r) => {
      const d = runDuration(r, now);
      const h = d === null ? 0 : Math.max(3, Math.round(BAR_H * d / longest));
      const title = `${r.run_id}\n${orch.runLabel(r)}\nlogical date ${orch.fmtTime(r.logical_date)}${d !== null ? "\nduration " + orch.fmtDuration(d) : ""}`;
      const cls = `runhead${r.run_id === selected ? " sel" : ""}`;
      return `<th class="${cls}" data-col="${orch.esc(r.run_id)}"><a href="${orch.urls.run(grid.dag_id, r.run_id)}" title="${orch.esc(title)}" data-run="${orch.esc(r.run_id)}"><span class="bararea"><span class="bar s-${orch.esc(r.state)}${orch.withFailures(r) ? " with-failures" : ""}" style="height:${h}px"></span></span></a></th>`;
    }).join("");
    const every = Math.max(1, Math.ceil(DATE_EVERY_PX / COL_W));
    const dates = [];
    for (let j = 0; j < runs.length; j += every) {
      const span = Math.min(every, runs.length - j);
      // the label may run past a short last group (the only one, with few runs), never into the next
      const text = span === every || j === 0 ? shortDate(runs[j].logical_date) : "";
      dates.push(`<th class="date" colspan="${span}" title="${orch.esc(orch.fmtTime(runs[j].logical_date))} UTC"><span>${orch.esc(text)}</span></th>`);
    }
    const rows = tasks.map((task, i) => {
      const tds = runs.map((r, j) => {
        const cell = cells[j][i];
        const sel = r.run_id === selected ? ' class="sel"' : "";
        if (!cell) return `<td${sel} data-col="${orch.esc(r.run_id)}"><span class="empty-cell"></span></td>`;
        const [state, tryNumber, counts] = cell;
        const mapped = counts ? "\n" + Object.entries(counts).map(([s, n]) => `${n} ${orch.label(s)}`).join(", ") : "";
        const title = `${task}\n${r.run_id} (${orch.fmtTime(r.logical_date)})\n${orch.label(state)}${tryNumber ? " · try " + tryNumber : ""}${mapped}`;
        return `<td${sel} data-col="${orch.esc(r.run_id)}"><a class="cell s-${orch.esc(state)}${counts ? " mapped" : ""}" href="${orch.urls.task(grid.dag_id, r.run_id, task)}" data-state="${orch.esc(state)}" data-run="${orch.esc(r.run_id)}" title="${orch.esc(title)}"></a></td>`;
      }).join("");
      return `<tr data-task="${orch.esc(task)}"><th class="task" title="${orch.esc(task)}">${orch.esc(task)}</th>${tds}</tr>`;
    }).join("");
    orch.morph(gridEl, `<table><thead>
      <tr class="bars"><th class="corner">${axis}</th>${bars}</tr>
      <tr class="dates"><th class="corner muted">logical date (UTC)</th>${dates.join("")}</tr>
      </thead><tbody>${rows}</tbody></table>`);
    if (!scrolled) { wrap.scrollLeft = wrap.scrollWidth; scrolled = true; }
    highlight();
    drawCard();
  }

  function drawCard() {
    const { runs, tasks, cells } = grid;
    let j = runs.findIndex((r) => r.run_id === (cardRun || selected));
    if (j < 0) j = runs.length - 1;
    const r = runs[j];
    if (!r) { card.innerHTML = '<h3>Runs</h3><p class="muted">This DAG has not run yet.</p>'; return; }
    const counts = {};
    (cells[j] || []).forEach((c) => { if (c) counts[c[0]] = (counts[c[0]] || 0) + 1; });
    const notStarted = tasks.length - Object.values(counts).reduce((a, b) => a + b, 0);
    const chips = Object.entries(counts).map(([s, n]) => `<span class="chip"><i class="sq s-${orch.esc(s)}"></i>${n} ${orch.esc(orch.label(s))}</span>`).join("")
      + (notStarted > 0 ? `<span class="chip"><i class="sq s-none"></i>${notStarted} not started</span>` : "");
    const d = runDuration(r, new Date().toISOString());
    orch.morph(card, `<h3><a href="${orch.urls.run(grid.dag_id, r.run_id)}" title="${orch.esc(r.run_id)}">${orch.esc(r.run_id)}</a></h3>
      <p>${orch.runBadge(r)}</p>
      <dl class="kv small">
        <dt>Type</dt><dd>${orch.esc(r.run_type)}</dd>
        <dt>Logical date</dt><dd>${orch.fmtTime(r.logical_date)}</dd>
        <dt>Started</dt><dd>${orch.fmtTime(r.start_date) || "—"}</dd>
        <dt>Ended</dt><dd>${orch.fmtTime(r.end_date) || "—"}</dd>
        <dt>Duration</dt><dd>${orch.fmtDuration(d) || "—"}</dd>
      </dl>
      <div class="chips">${chips}</div>
      <a class="btn btn-small" href="${orch.urls.run(grid.dag_id, r.run_id)}">Open run &rarr;</a>`);
    card.dataset.run = r.run_id;
  }
  function highlight() {
    gridEl.querySelectorAll(".hover").forEach((c) => c.classList.remove("hover"));
    if (cardRun) gridEl.querySelectorAll(`[data-col="${CSS.escape(cardRun)}"]`).forEach((c) => c.classList.add("hover"));
  }
  gridEl.addEventListener("mouseover", (ev) => {
    const el = ev.target.closest("[data-run]");
    if (!el || el.dataset.run === cardRun) return;
    cardRun = el.dataset.run;
    drawCard();
    highlight();
  });

  /* -- graph: the server lays it out (task groups collapsed or not); here it is drawn and takes
     the chosen run's colours. A collapsed group shows its most urgent task state, a mapped task
     how many of its instances are done. */
  let graph = page.graph;
  const MACHINE_KINDS = new Set(["initial", "state", "final"]);  // nodes of a state machine's states (no task behind them)
  const svg = document.getElementById("graph");
  const TERMINAL = ["success", "failed", "upstream_failed", "skipped", "cancelled"];
  const URGENCY = ["failed", "upstream_failed", "running", "queued", "up_for_retry", "up_for_reschedule", "waiting", "scheduled", "pending", "cancelled", "skipped", "success"];
  function renderGraph() {
    const { nodes, edges, groups, width, height, node_w: W, node_h: H } = graph;
    svg.setAttribute("width", width);
    svg.setAttribute("height", height);
    svg.setAttribute("viewBox", `0 0 ${width} ${height}`);
    const defs = '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" class="arrowhead"/></marker></defs>';
    const boxes = groups.map((b) => `<g class="group" data-group="${orch.esc(b.group_id)}">
      <title>${orch.esc(b.tooltip || b.group_id)}</title>
      <rect class="group-box" x="${b.x}" y="${b.y}" width="${b.width}" height="${b.height}" rx="8"/>
      <text class="group-label" x="${b.x + 8}" y="${b.y + 13}" data-toggle="${orch.esc(b.group_id)}" tabindex="0">&#9662; ${orch.esc(b.label)}</text></g>`).join("");
    const paths = edges.map((e) => `<path class="edge${e.label ? " conditional" : ""}" d="${e.path}" marker-end="url(#arrow)" data-from="${orch.esc(e.source)}" data-to="${orch.esc(e.target)}"/>`).join("");
    // a declarative edge's condition, where the edge enters its target (cut when long; whole on hover)
    const edgeLabels = edges.filter((e) => e.label).map((e) => `<g class="edge-tag" data-from="${orch.esc(e.source)}" data-to="${orch.esc(e.target)}"><title>${orch.esc(e.source)} → ${orch.esc(e.target)} when ${orch.esc(e.label)}</title><text class="edge-label" x="${e.label_x}" y="${e.label_y}" text-anchor="end">${orch.esc(e.label.length > 26 ? e.label.slice(0, 25) + "…" : e.label)}</text></g>`).join("");
    const shapes = nodes.map((n) => `<g class="node s-none${n.mapped ? " mapped" : ""}" data-task="${orch.esc(n.task_id)}" data-kind="${n.kind}" transform="translate(${n.x},${n.y})" tabindex="0">
      <title>${orch.esc(n.task_id)}</title>
      ${n.mapped ? `<rect class="stack" x="4" y="-4" width="${W}" height="${H}" rx="6"/>` : ""}
      <rect class="box" width="${W}" height="${H}" rx="6"/>
      <rect class="stripe" width="6" height="${H}" rx="3"/>
      <text x="14" y="${H / 2 + 4}">${n.kind === "group" ? "&#9656; " : ""}${orch.esc(n.label)}</text>
      <text class="map-count" x="${W - 8}" y="${H / 2 + 4}" text-anchor="end"></text></g>`).join("");
    svg.innerHTML = defs + boxes + paths + shapes + edgeLabels;
  }
  async function toggleGroup(groupId, collapse) {
    const collapsed = new Set(graph.collapsed);
    if (collapse) collapsed.add(groupId); else collapsed.delete(groupId);
    graph = await orch.getJSON(`/data/dags/${orch.enc(grid.dag_id)}/graph?collapsed=${[...collapsed].map(encodeURIComponent).join(",")}`);
    renderGraph();
    drawGraph();
  }

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
    const cellOf = new Map(tasks.map((t, i) => [t, run ? cells[index][i] : null]));
    const inGroup = (task, group) => { const g = grid.groups[task]; return !!g && (g === group || g.startsWith(group + ".")); };
    document.querySelectorAll("#graph .node").forEach((g) => {
      const id = g.dataset.task;
      let state = "none", counts = null, what = "";
      if (MACHINE_KINDS.has(g.dataset.kind)) {  // a state machine's state: marked when the chosen run is in it
        state = run && run.machine_state === id ? (run.state === "running" ? "running" : run.state) : "none";
        what = state === "none" ? "state" : "the run's current state";
      } else if (g.dataset.kind === "group") {
        const states = tasks.filter((t) => inGroup(t, id)).map((t) => (cellOf.get(t) || [])[0]).filter(Boolean);
        state = URGENCY.find((s) => states.includes(s)) || "none";
        what = `task group, ${states.length} task(s) started`;
      } else if (cellOf.get(id)) {
        [state, , counts] = cellOf.get(id);
      }
      g.setAttribute("class", `node s-${state}${g.classList.contains("mapped") ? " mapped" : ""}`);
      g.dataset.state = state;
      const total = counts ? Object.values(counts).reduce((a, b) => a + b, 0) : 0;
      const done = counts ? TERMINAL.reduce((a, s) => a + (counts[s] || 0), 0) : 0;
      g.querySelector("text.map-count").textContent = counts ? `${done}/${total}` : "";
      const byState = counts ? " · " + Object.entries(counts).map(([s, n]) => `${n} ${orch.label(s)}`).join(", ") : "";
      g.querySelector("title").textContent = `${id}: ${orch.label(state === "none" ? null : state)}${what ? " (" + what + ")" : ""}${byState}`;
    });
  }
  runSelect.addEventListener("change", () => { selected = runSelect.value; drawGrid(); drawGraph(); });
  svg.addEventListener("click", (ev) => {
    const toggle = ev.target.closest("[data-toggle]");
    if (toggle) { toggleGroup(toggle.dataset.toggle, true); return; }
    const node = ev.target.closest(".node");
    if (node && node.dataset.kind === "group") { toggleGroup(node.dataset.task, false); return; }
    const run = grid.runs.find((r) => r.run_id === runSelect.value);
    if (node && run && MACHINE_KINDS.has(node.dataset.kind)) { location.href = orch.urls.run(grid.dag_id, run.run_id); return; }
    if (node && run) location.href = orch.urls.task(grid.dag_id, run.run_id, node.dataset.task);
  });
  renderGraph();

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

  function drawAll() { drawGrid(); drawGraph(); drawDurations(); }
  drawAll();

  const refresh = orch.live({ dag: grid.dag_id }, async () => {
    grid = await orch.getJSON(`/data/dags/${orch.enc(grid.dag_id)}/grid?runs=${page.size}`);
    drawAll();
  });
  // a running run's bar grows with the clock, not with events
  setInterval(() => { if (grid.active && !document.hidden) drawGrid(); }, 5000);
  document.addEventListener("orch:changed", refresh);
})();
