/* The health page: scheduler heartbeats, the database and the Dask workers, refreshed every few seconds. */
"use strict";
(() => {
  let data = orch.pageData().data;
  const num = (v) => (v === null || v === undefined || !Number.isFinite(Number(v)) ? "—" : String(Number(v)));
  const mib = (b) => (b === null || b === undefined ? "" : `${(b / 1048576).toFixed(0)} MiB`);
  const ok = (good, yes = "healthy", no = "unhealthy") => `<span class="badge ${good ? "s-success" : "s-failed"}">${good ? yes : no}</span>`;

  function draw() {
    document.getElementById("overall").innerHTML = ok(data.healthy);
    const jobs = data.schedulers;
    document.getElementById("schedulers").innerHTML = jobs.length
      ? `<table class="table table-compact"><thead><tr><th>Host</th><th>PID</th><th>State</th><th>Last heartbeat</th><th>Age</th><th></th></tr></thead><tbody>${jobs.map((j) => `<tr>
          <td>${orch.esc(j.hostname)}</td><td>${num(j.pid)}</td><td>${orch.esc(j.state)}</td><td class="nowrap">${orch.fmtTime(j.last_heartbeat)}</td>
          <td>${j.heartbeat_age_s.toFixed(1)} s</td><td>${ok(j.healthy, "alive", "stale")}</td></tr>`).join("")}</tbody></table>
         <p class="muted small">A scheduler is alive when it heartbeated within ${data.threshold_s} s.</p>`
      : '<p class="muted">No scheduler has ever run against this database.</p>';
    const db = data.database;
    document.getElementById("database").innerHTML = `<p>${ok(db.ok, "reachable", "unreachable")}</p>
      <dl class="kv"><dt>Kind</dt><dd>${orch.esc(db.dialect)}</dd><dt>URL</dt><dd><code>${orch.esc(db.url)}</code></dd>
      ${db.ok ? `<dt>Round trip</dt><dd>${db.latency_ms} ms</dd>` : `<dt>Error</dt><dd>${orch.esc(db.error)}</dd>`}</dl>`;
    const stats = `<div class="stats"><span class="stat"><b>${num(data.active_runs)}</b>active runs</span>
      <span class="stat"><b>${num(data.queue_depth)}</b>queue depth</span>
      <span class="stat"><b>${data.loop_ms === null || data.loop_ms === undefined ? "—" : Number(data.loop_ms).toFixed(1) + " ms"}</b>scheduler loop</span></div>`;
    const workers = data.dask_workers;
    document.getElementById("workers").innerHTML = !data.stats_reported
      ? '<p class="muted">The scheduler has not reported its Dask workers yet.</p>'
      : stats + (workers.length
        ? `<table class="table table-compact" id="worker-table"><thead><tr><th>Address</th><th>Threads</th><th>Load (executing / threads)</th><th>Memory</th></tr></thead><tbody>${workers.map((w) => {
            const load = w.nthreads ? Math.min(1, (w.executing || 0) / w.nthreads) : 0;
            return `<tr><td><code>${orch.esc(w.address)}</code></td><td>${num(w.nthreads)}</td>
              <td><span class="load"><span style="width:${(load * 100).toFixed(0)}%"></span></span>${num(w.executing ?? 0)} / ${num(w.nthreads)}</td>
              <td>${mib(w.memory_bytes)}</td></tr>`;
          }).join("")}</tbody></table>`
        : '<p class="muted">No Dask worker is connected.</p>');
  }
  draw();
  orch.poll(async () => { data = await orch.getJSON("/data/health"); draw(); return true; }, { fast: 3000, slow: 3000 });
})();
