/* The run page: why it waits, the runs it triggered, task table, Gantt chart, a time slider over its
   history and event timeline, live by the event stream; cancel, pause, resume or mark the run, clear
   or mark a task. The buttons are those the user's roles allow (the page says which: `can`). */
"use strict";
(() => {
  const page = orch.pageData();
  let data = page.data;
  const can = page.can || {};
  const dagId = data.dag_id;
  const runId = data.run.run_id;
  const canOperate = !!(can.trigger || can.edit);
  const cancelBtn = document.getElementById("cancel-run");
  const pauseBtn = document.getElementById("pause-run");
  const resumeBtn = document.getElementById("resume-run");
  const markRunBtns = { success: document.getElementById("mark-run-success"), failed: document.getElementById("mark-run-failed") };
  let lastEvent = 0;
  let shownTasks = "";

  function drawFacts() {
    const r = data.run;
    document.getElementById("run-state").innerHTML = orch.runBadge(r);
    document.querySelectorAll("#run-facts [data-time]").forEach((dd) => { dd.textContent = orch.fmtTime(dd.dataset.time); });
    const facts = {
      start_date: orch.fmtTime(r.start_date) || "—",
      end_date: orch.fmtTime(r.end_date) || "—",
      duration: orch.fmtDuration(orch.seconds(r.start_date, r.end_date || (r.start_date ? data.now : null))) || "—",
    };
    for (const [k, v] of Object.entries(facts)) document.querySelector(`#run-facts [data-fact="${k}"]`).textContent = v;
    if (cancelBtn) cancelBtn.hidden = !data.active;
    if (pauseBtn) pauseBtn.hidden = !data.active || r.paused;
    if (resumeBtn) resumeBtn.hidden = !data.active || !r.paused;
    document.getElementById("run-paused").hidden = !(data.active && r.paused);
    for (const [state, btn] of Object.entries(markRunBtns)) if (btn) btn.hidden = r.state === state;
    const reason = document.getElementById("run-reason");
    reason.textContent = r.state_reason || "";
    reason.hidden = !r.state_reason;
  }

  function drawMachine() {
    const m = data.machine;
    if (!m) return;
    document.getElementById("machine-state").textContent = m.state || "not started";
    document.getElementById("machine-ended").hidden = !m.finished;
    document.getElementById("machine-awaiting").textContent = m.awaiting.length ? `running: ${m.awaiting.join(", ")}` : "";
    document.querySelector("#machine-history tbody").innerHTML = m.history.map((h) => `<tr>
      <td>${orch.esc(h.state)}</td><td>${orch.esc(h.from || "—")}</td><td>${orch.esc(h.via || "")}</td>
      <td><code>${orch.esc(h.guard || "")}</code></td><td>${orch.esc(orch.fmtTime(h.at))}</td><td>${orch.esc(h.actor)}</td></tr>`).join("");
    document.getElementById("machine-data").textContent = JSON.stringify(m.data, null, 2);
  }

  function drawChildren() {
    const children = data.run.children;
    document.getElementById("children").hidden = !children.length;
    document.querySelector("#child-table tbody").innerHTML = children.map((c) => `<tr data-child="${orch.esc(c.run_id)}">
      <td><a href="${orch.urls.dag(c.dag_id)}">${orch.esc(c.dag_id)}</a></td>
      <td><a href="${orch.urls.run(c.dag_id, c.run_id)}">${orch.esc(c.run_id)}</a></td>
      <td><a href="${orch.urls.task(dagId, runId, c.task_id)}">${orch.esc(c.task_id)}</a></td>
      <td>${orch.badge(c.state)}</td></tr>`).join("");
  }

  function drawTasks() {
    const key = JSON.stringify(data.tasks);
    if (key === shownTasks) return;
    shownTasks = key;
    const row = (t, i) => {
      const d = orch.seconds(t.start_date, t.end_date || (t.start_date && t.state === "running" ? data.now : null));
      const action = !canOperate ? "" : i
        ? "<td></td>"
        : `<td class="nowrap">${can.trigger && t.clearable ? `<button type="button" class="btn btn-small" data-clear="${orch.esc(t.task_id)}" data-downstream="${t.has_downstream ? 1 : 0}">Clear</button>` : ""}${
          can.edit && t.state && t.state !== "success" ? ` <button type="button" class="btn btn-small" data-mark="success" data-task-id="${orch.esc(t.task_id)}" title="Mark success">&#10003;</button>` : ""}${
          can.edit && t.state && t.state !== "failed" ? ` <button type="button" class="btn btn-small btn-danger" data-mark="failed" data-task-id="${orch.esc(t.task_id)}" title="Mark failed">&#10007;</button>` : ""}</td>`;
      // a mapped task's instances follow it, indented
      const name = i ? `<td class="instance"><a href="${orch.urls.task(dagId, runId, i.task_id, null, t.map_index)}">[${t.map_index}]</a></td>`
        : `<td><a href="${orch.urls.task(dagId, runId, t.task_id)}">${orch.esc(t.task_id)}</a>${t.instance_count ? ` <span class="muted small">${t.instance_count} mapped</span>` : ""}</td>`;
      return `<tr data-task="${orch.esc(i ? i.task_id : t.task_id)}" data-map-index="${t.map_index}" data-state="${orch.esc(t.state)}">
        ${name}
        <td>${orch.badge(t.state)}</td>
        <td>${t.try_number} / ${t.max_tries}</td>
        <td class="nowrap">${orch.fmtTime(t.start_date)}</td>
        <td class="nowrap">${orch.fmtTime(t.end_date)}</td>
        <td class="nowrap">${orch.fmtDuration(d)}</td>
        <td>${orch.esc(t.worker || "")}</td>${action}</tr>`;
    };
    orch.morph(document.querySelector("#task-table tbody"), data.tasks.map((t) =>
      row(t, null) + t.instances.map((i) => row(i, t)).join("")).join(""));
  }

  function drawGantt() {
    const el = document.getElementById("gantt");
    const started = data.tasks.filter((t) => t.start_date);
    if (!started.length) { el.innerHTML = '<p class="muted">No task has started yet.</p>'; return; }
    const t0 = Math.min(...started.map((t) => Date.parse(t.start_date)));
    const ends = started.map((t) => Date.parse(t.end_date || data.now));
    const t1 = Math.max(t0 + 50, ...ends);
    const span = (t1 - t0) / 1000;
    const labelW = 200, W = Math.max(600, el.clientWidth - 24), rowH = 22, top = 22;
    const H = top + data.tasks.length * rowH + 6;
    const x = (ms) => labelW + (W - labelW - 16) * ((ms - t0) / (t1 - t0));
    const ticks = [0, 0.25, 0.5, 0.75, 1].map((f) => {
      const xx = labelW + (W - labelW - 16) * f;
      return `<line class="axis" x1="${xx}" x2="${xx}" y1="${top - 4}" y2="${H}"/><text x="${xx}" y="12" text-anchor="${f === 1 ? "end" : f === 0 ? "start" : "middle"}">+${orch.fmtDuration(span * f)}</text>`;
    }).join("");
    const rows = data.tasks.map((t, i) => {
      const y = top + i * rowH;
      const name = t.task_id.length > 28 ? t.task_id.slice(0, 27) + "…" : t.task_id;
      let bar = "";
      if (t.start_date) {
        const a = x(Date.parse(t.start_date));
        const b = x(Date.parse(t.end_date || data.now));
        const d = orch.seconds(t.start_date, t.end_date || data.now);
        bar = `<a href="${orch.urls.task(dagId, runId, t.task_id)}"><rect class="barrect s-${orch.esc(t.state)}" x="${a.toFixed(1)}" y="${y + 4}" width="${Math.max(2, b - a).toFixed(1)}" height="${rowH - 8}" rx="3"><title>${orch.esc(t.task_id)}: ${orch.esc(orch.label(t.state))}, ${orch.fmtDuration(d)}</title></rect></a>`;
      }
      return `<text class="label" x="${labelW - 8}" y="${y + rowH / 2 + 4}" text-anchor="end">${orch.esc(name)}</text>${bar}`;
    }).join("");
    el.innerHTML = `<svg width="${W}" height="${H}" viewBox="0 0 ${W} ${H}" role="img" aria-label="Gantt chart">${ticks}${rows}</svg>`;
  }

  function appendEvents(events) {
    if (!events.length) return;
    lastEvent = events[events.length - 1].id;
    const html = events.map((e) => `<tr>
      <td class="nowrap">${orch.fmtTime(e.at)}</td><td><code>${orch.esc(e.kind)}</code></td>
      <td>${e.task_id ? `<a href="${orch.urls.task(dagId, runId, e.task_id, null, e.map_index)}">${orch.esc(e.task_id)}${e.map_index >= 0 ? `[${e.map_index}]` : ""}</a>` : ""}</td>
      <td>${e.try_number ?? ""}</td>
      <td class="nowrap">${e.from_state ? orch.esc(orch.label(e.from_state)) + " &rarr; " : ""}${e.to_state ? orch.esc(orch.label(e.to_state)) : ""}</td>
      <td>${orch.esc(e.actor)}</td><td class="wrap">${orch.esc(e.reason || "")}</td></tr>`).join("");
    document.querySelector("#events tbody").insertAdjacentHTML("beforeend", html);
  }

  // the time slider: the run as it stood after event N, rebuilt by the API from the event rows
  const slider = document.getElementById("replay-slider");
  let replayIds = [];
  let following = true;  // at the newest event, the slider moves along as events arrive
  async function drawReplay(position) {
    const until = replayIds[position - 1];
    const image = await orch.api("GET", `/dags/${orch.enc(dagId)}/runs/${orch.enc(runId)}/replay${until === undefined ? "" : `?until=${until}`}`);
    if (until === undefined) {
      replayIds = image.event_ids;
      slider.max = String(Math.max(replayIds.length, 1));
      if (following) slider.value = slider.max;
      if (!following) return drawReplay(Number(slider.value));
    }
    document.getElementById("replay-position").textContent = `${slider.value} of ${replayIds.length}`;
    document.getElementById("replay-at").textContent = `${orch.fmtTime(image.at) || ""} · run ${image.run_state || "not started"}`
      + (data.machine ? ` · state ${image.machine_state || "none yet"}` : "");
    document.getElementById("replay-at").dataset.runState = image.run_state || "";
    document.querySelector("#replay-tasks tbody").innerHTML = image.tasks.map((t) => `<tr data-task="${orch.esc(t.task_id)}" data-map-index="${t.map_index}" data-state="${orch.esc(t.state)}">
      <td>${orch.esc(t.task_id)}${t.map_index >= 0 ? ` [${t.map_index}]` : ""}</td><td>${orch.badge(t.state)}</td><td>${t.try_number}</td></tr>`).join("");
  }
  slider.addEventListener("input", () => {
    following = Number(slider.value) === replayIds.length;
    drawReplay(Number(slider.value)).catch((e) => orch.toast(`Could not replay the run: ${e.message}`, "error"));
  });

  function drawAll() {
    const moved = data.events.length > 0;
    drawFacts(); drawMachine(); drawChildren(); drawTasks(); drawGantt(); appendEvents(data.events);
    if (moved || !replayIds.length) drawReplay(0).catch((e) => orch.toast(`Could not replay the run: ${e.message}`, "error"));
  }
  drawAll();

  // live: the event stream says when this run moved; while it runs, durations tick every second
  const refresh = orch.live({ dag: dagId, run: runId }, async () => {
    data = await orch.getJSON(`/data/dags/${orch.enc(dagId)}/runs/${orch.enc(runId)}?after=${lastEvent}`);
    drawAll();
  });
  setInterval(() => {
    if (!data.active || document.hidden) return;
    data.now = new Date().toISOString();
    drawFacts();
    drawGantt();
  }, 1000);

  const base = `/dags/${orch.enc(dagId)}/runs/${orch.enc(runId)}`;
  if (cancelBtn) cancelBtn.addEventListener("click", async () => {
    const ok = await orch.confirmAction({ title: "Cancel this run?", text: `Unfinished tasks of ${runId} are cancelled and their work is stopped.`, ok: "Cancel run" });
    if (!ok) return;
    try { await orch.api("POST", `${base}/cancel`); orch.toast("Run cancelled"); } catch (e) { orch.toast(`Could not cancel: ${e.message}`, "error"); }
    refresh();
  });
  async function act(what, path, body, done) {
    try { await orch.api("POST", `${base}${path}`, body); orch.toast(done); } catch (e) { orch.toast(`Could not ${what}: ${e.message}`, "error"); }
    refresh();
  }
  if (pauseBtn) pauseBtn.addEventListener("click", () => act("pause", "/pause", undefined, "Run paused: nothing new starts"));
  if (resumeBtn) resumeBtn.addEventListener("click", () => act("resume", "/resume", undefined, "Run resumed"));
  for (const [state, btn] of Object.entries(markRunBtns)) if (btn) btn.addEventListener("click", async () => {
    const ok = await orch.confirmAction({
      title: `Mark this run ${state}?`, ok: `Mark ${state}`,
      text: state === "success" ? "Its unfinished tasks are marked success." : "Its running tasks are marked failed, the others skipped; its work in flight stops.",
    });
    if (ok) act(`mark the run ${state}`, "/mark", { state }, `Run marked ${state}`);
  });
  document.getElementById("task-table").addEventListener("click", async (ev) => {
    const mark = ev.target.closest("[data-mark]");
    if (mark) {
      const { mark: state, taskId } = mark.dataset;
      const ok = await orch.confirmAction({
        title: `Mark ${taskId} ${state}?`, ok: `Mark ${state}`,
        text: "The tasks after it then follow their trigger rules; work of it still in flight is stopped.",
      });
      if (ok) act(`mark ${taskId}`, `/tasks/${orch.enc(taskId)}/mark`, { state }, `${taskId} marked ${state}`);
      return;
    }
    const btn = ev.target.closest("[data-clear]");
    if (!btn) return;
    const taskId = btn.dataset.clear;
    const ok = await orch.confirmAction({
      title: `Clear ${taskId}?`, text: "The task runs again (a new try); the run is queued again if it had ended.",
      ok: "Clear", option: btn.dataset.downstream === "1" ? "also clear the tasks downstream of it" : null,
    });
    if (!ok) return;
    try {
      const res = await orch.api("POST", `${base}/tasks/${orch.enc(taskId)}/clear`, { downstream: !!ok.option });
      const n = res && Array.isArray(res.cleared) ? res.cleared.length : null;
      orch.toast(n === null ? `${taskId} cleared` : `${n} task${n === 1 ? "" : "s"} cleared`);
    } catch (e) { orch.toast(`Could not clear: ${e.message}`, "error"); }
    refresh();
  });
})();
