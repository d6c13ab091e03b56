/* The task try page: follows the log of a running try (the API's logs endpoint with ?offset=),
   keeps state, times, error and result current (the event stream says when), and clears or marks
   the task (the buttons the user's roles allow are on the page). */
"use strict";
(() => {
  const page = orch.pageData();
  const { dag_id: dagId, run_id: runId, task_id: taskId, pinned } = page;
  let data = page.data;
  let offset = page.log_length;
  let following = data.try_number;
  const logEl = document.getElementById("log");
  const follow = document.getElementById("follow");
  const clearBtn = document.getElementById("clear-task");
  const markBtns = { success: document.getElementById("mark-task-success"), failed: document.getElementById("mark-task-failed") };
  const base = `/dags/${orch.enc(dagId)}/runs/${orch.enc(runId)}/tasks/${orch.enc(taskId)}`;
  const mapIndex = data.map_index;  // one instance of a mapped task, or -1
  const instanceQuery = mapIndex >= 0 ? `map_index=${mapIndex}` : "";

  function drawFacts() {
    document.getElementById("try-state").innerHTML = orch.badge(data.state || data.task_state);
    const facts = {
      try: data.try_number ? `${data.try_number} of ${data.max_tries}` : "not started",
      start_date: orch.fmtTime(data.start_date) || "—",
      end_date: orch.fmtTime(data.end_date) || "—",
      duration: orch.fmtDuration(data.duration_s ?? orch.seconds(data.start_date, data.start_date && !data.end_date ? new Date().toISOString() : null)) || "—",
      worker: data.worker || "—",
    };
    for (const [k, v] of Object.entries(facts)) document.querySelector(`#try-facts [data-fact="${k}"]`).textContent = v;
    document.getElementById("tries").innerHTML = data.tries.map((t) =>
      `<a href="${orch.urls.task(dagId, runId, taskId, t.try_number, mapIndex)}" class="${t.try_number === data.try_number ? "on" : ""}" data-try="${t.try_number}"><i class="sq s-${orch.esc(t.state)}"></i>try ${t.try_number}</a>`).join("");
    document.getElementById("error-section").hidden = !data.error;
    document.getElementById("error").textContent = data.error || "";
    document.getElementById("result-section").hidden = data.result === null;
    document.getElementById("result").textContent = data.result || "";
    document.getElementById("log-live").hidden = data.finished || !data.state;
    if (clearBtn) clearBtn.hidden = !data.clearable;
    for (const [state, btn] of Object.entries(markBtns)) if (btn) btn.hidden = data.task_state === state;
    const instances = document.getElementById("instances");
    if (instances) instances.innerHTML = data.instances.map((i) =>
      `<a href="${orch.urls.task(dagId, runId, taskId, null, i.map_index)}" data-map-index="${i.map_index}" title="${orch.esc(orch.label(i.state))}"><i class="sq s-${orch.esc(i.state)}"></i>[${i.map_index}]</a>`).join("");
  }

  // the stream's refresh and the log timer may both ask: one read at a time, or text is doubled
  let reading = null;
  function readLog() {
    if (!reading) reading = readLogOnce().finally(() => { reading = null; });
    return reading;
  }
  async function readLogOnce() {
    const res = await fetch(`${orch.root}/api/v1${base}/logs/${following}?offset=${offset}${instanceQuery ? "&" + instanceQuery : ""}`, { credentials: "same-origin" });
    if (!res.ok) return;
    const text = await res.text();
    const next = Number(res.headers.get("X-Next-Offset"));
    offset = Number.isFinite(next) && next >= offset ? next : offset + text.length;
    if (!text) return;
    const atEnd = logEl.scrollTop + logEl.clientHeight >= logEl.scrollHeight - 8;
    logEl.append(document.createTextNode(text));
    if (follow.checked && atEnd) logEl.scrollTop = logEl.scrollHeight;
  }

  drawFacts();
  if (follow.checked) logEl.scrollTop = logEl.scrollHeight;
  async function update() {
    const query = [pinned ? `try=${following}` : "", instanceQuery].filter(Boolean).join("&");
    data = await orch.getJSON(`/data${base}` + (query ? `?${query}` : ""));
    if (!pinned && data.try_number !== following) {
      // a new try started (a retry, or the task was cleared): follow that one from its start
      following = data.try_number;
      offset = 0;
      logEl.textContent = "";
      history.replaceState(null, "", location.pathname + (instanceQuery ? `?${instanceQuery}` : ""));
    }
    if (data.state) await readLog();
    drawFacts();
  }
  // state changes come by the event stream; a log is not an event, so a running try's log is
  // read on a timer, which stops once the try is over
  const refresh = orch.live({ dag: dagId, run: runId }, update, {
    onChanges: (changes) => changes.some((c) => c.run_id === runId),
  });
  orch.poll(async () => {
    if (!data.finished && data.state) await readLog();
    return !data.finished;
  }, { fast: 1000, slow: 5000 });

  if (clearBtn) clearBtn.addEventListener("click", async () => {
    const ok = await orch.confirmAction({
      title: `Clear ${taskId}?`, text: "The task runs again as a new try; the run is queued again if it had ended.",
      ok: "Clear", option: "also clear the tasks downstream of it",
    });
    if (!ok) return;
    try {
      const res = await orch.api("POST", `${base}/clear`, { downstream: ok.option });
      orch.toast(`${(res && res.cleared ? res.cleared.length : 1)} task(s) cleared`);
    } catch (e) { orch.toast(`Could not clear: ${e.message}`, "error"); }
    refresh();
  });
  for (const [state, btn] of Object.entries(markBtns)) if (btn) btn.addEventListener("click", async () => {
    const ok = await orch.confirmAction({
      title: `Mark ${taskId} ${state}?`, ok: `Mark ${state}`,
      text: "The tasks after it then follow their trigger rules; work of it still in flight is stopped.",
    });
    if (!ok) return;
    try {
      await orch.api("POST", `${base}/mark`, { state });
      orch.toast(`${taskId} marked ${state}`);
    } catch (e) { orch.toast(`Could not mark: ${e.message}`, "error"); }
    refresh();
  });
})();
