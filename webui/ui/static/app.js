/* Shared helpers of the UI pages: the REST API with the session's CSRF token, live updates, formatting,
   toasts and the two dialogs (trigger with a conf editor, confirm). Plain JavaScript, no build. */
"use strict";

const orch = (() => {
  const meta = (name) => (document.querySelector(`meta[name="${name}"]`) || {}).content || "";
  const root = meta("script-root");
  const enc = encodeURIComponent;

  function esc(value) {
    return String(value ?? "").replace(/[&<>"']/g, (c) => ({ "&": "&amp;", "<": "&lt;", ">": "&gt;", '"': "&quot;", "'": "&#39;" })[c]);
  }

  /** A call to /api/v1; resolves with the JSON body, rejects with the API's error message. */
  async function api(method, path, body) {
    const headers = { Accept: "application/json" };
    if (method !== "GET") headers["X-CSRFToken"] = meta("csrf-token");
    if (body !== undefined) headers["Content-Type"] = "application/json";
    const res = await fetch(`${root}/api/v1${path}`, {
      method, headers, credentials: "same-origin", body: body === undefined ? undefined : JSON.stringify(body),
    });
    const text = await res.text();
    let data = null;
    try { data = text ? JSON.parse(text) : null; } catch (_) { data = null; }
    if (!res.ok) {
      const err = (data && data.error) || {};
      throw new Error(err.message || `${res.status} ${res.statusText}`);
    }
    return data;
  }

  /** GET a JSON route of the UI (relative to the app root). */
  async function getJSON(path) {
    const res = await fetch(root + path, { headers: { Accept: "application/json" }, credentials: "same-origin" });
    if (res.status === 401 || res.redirected) { location.reload(); throw new Error("logged out"); }
    if (!res.ok) throw new Error(`${res.status} ${res.statusText}`);
    return res.json();
  }

  /** Call `tick` (async, returns whether something is still moving) again and again:
      every `fast` ms while it is, every `slow` ms when not; paused while the tab is hidden.
      For what the event log does not record (heartbeats, a growing log). Returns a function
      that asks for a tick now. */
  function poll(tick, { fast = 1500, slow = 10000 } = {}) {
    let timer = null;
    let busy = false;
    async function run() {
      clearTimeout(timer);
      if (busy) return;
      if (document.hidden) { timer = setTimeout(run, fast); return; }
      busy = true;
      let active = true;
      try { active = await tick(); } catch (e) { console.warn("live update failed:", e); }
      busy = false;
      timer = setTimeout(run, active ? fast : slow);
    }
    timer = setTimeout(run, fast);
    return () => { clearTimeout(timer); timer = setTimeout(run, 0); };
  }

  /** Keep a page live without polling: one server-sent event stream (/data/stream, narrowed by
      `filter`, e.g. {dag: id, run: id}) calls `refresh` (async) whenever what the page shows
      changed, one refresh at a time, and once each time the stream (re)connects, which covers
      what happened before. `onChanges` (optional) sees each message's changes first and may
      return false to skip the refresh. When the stream drops the top bar says so and the page
      refreshes every `fallbackMs` until the stream is back. Returns a function that refreshes now. */
  function live(filter, refresh, { fallbackMs = 15000, onChanges = null } = {}) {
    const query = new URLSearchParams();
    for (const [key, value] of Object.entries(filter || {})) for (const v of [].concat(value)) if (v) query.append(key, v);
    let running = false, again = false, debounce = null, fallback = null, source = null, backoff = 1000;
    async function go() {
      if (running) { again = true; return; }
      running = true;
      try { await refresh(); } catch (e) { console.warn("live update failed:", e); }
      running = false;
      if (again) { again = false; go(); }
    }
    const soon = () => { clearTimeout(debounce); debounce = setTimeout(go, 100); };
    const status = document.getElementById("live-status");
    function show(state) {
      document.body.dataset.live = state;
      if (!status) return;
      status.hidden = false;
      status.dataset.state = state;
      status.textContent = state === "live" ? "live" : "reconnecting…";
      status.title = state === "live" ? "This page updates as runs move" : "The live connection dropped: the page refreshes every few seconds until it is back";
    }
    function connect() {
      source = new EventSource(`${root}/data/stream?${query}`);
      source.addEventListener("hello", () => {
        soon();  // what happened before the subscription (since the page was drawn, or during a drop)
        backoff = 1000;
        clearInterval(fallback);
        fallback = null;
        show("live");
      });
      source.addEventListener("change", (ev) => {
        let data = null;
        try { data = JSON.parse(ev.data); } catch (_) { data = null; }
        if (onChanges && data && !data.more && onChanges(data.changes) === false) return;
        soon();
      });
      source.addEventListener("error", () => {
        show("reconnecting");
        if (!fallback) fallback = setInterval(go, fallbackMs);
        // CLOSED: the server answered with an error (the browser gives up), so try again here
        if (source.readyState === EventSource.CLOSED) { setTimeout(connect, backoff); backoff = Math.min(backoff * 2, 30000); }
      });
    }
    connect();
    window.addEventListener("pagehide", () => source.close());
    window.addEventListener("pageshow", (ev) => { if (ev.persisted) { connect(); soon(); } });  // back from the page cache
    return go;
  }

  /** Put `html` into `el`, keeping the elements that are already there when only their
      attributes or text changed: a live page redraws often, and an element replaced under the
      pointer would swallow a click (mousedown on the old one, mouseup on the new). */
  function morph(el, html) {
    const next = document.createElement(el.tagName === "TBODY" ? "tbody" : "div");
    next.innerHTML = html;
    patchChildren(el, next);
  }
  function patchChildren(old, next) {
    const a = [...old.childNodes], b = [...next.childNodes];
    if (a.length !== b.length || a.some((n, i) => n.nodeName !== b[i].nodeName)) { old.replaceChildren(...b); return; }
    a.forEach((n, i) => {
      const m = b[i];
      if (n.nodeType !== Node.ELEMENT_NODE) { if (n.nodeValue !== m.nodeValue) n.nodeValue = m.nodeValue; return; }
      for (const { name } of [...n.attributes]) if (!m.hasAttribute(name)) n.removeAttribute(name);
      for (const { name, value } of [...m.attributes]) if (n.getAttribute(name) !== value) n.setAttribute(name, value);
      patchChildren(n, m);
    });
  }

  const pad = (n) => String(n).padStart(2, "0");
  /** UTC to the second, as the server prints times. */
  function fmtTime(iso) {
    if (!iso) return "";
    const d = new Date(iso);
    return `${d.getUTCFullYear()}-${pad(d.getUTCMonth() + 1)}-${pad(d.getUTCDate())} ${pad(d.getUTCHours())}:${pad(d.getUTCMinutes())}:${pad(d.getUTCSeconds())}`;
  }
  function fmtDuration(s) {
    if (s === null || s === undefined) return "";
    if (s < 1) return `${Math.round(s * 1000)} ms`;
    if (s < 60) return `${s.toFixed(1)} s`;
    const m = Math.floor(s / 60);
    if (m < 60) return `${m} min ${pad(Math.floor(s % 60))} s`;
    return `${Math.floor(m / 60)} h ${pad(m % 60)} min`;
  }
  const seconds = (a, b) => (a && b ? (new Date(b) - new Date(a)) / 1000 : null);
  const label = (state) => (state || "not started").replace(/_/g, " ");
  const badge = (state) => `<span class="badge s-${esc(state || "none")}">${esc(label(state))}</span>`;
  /** A run that succeeded although some task failed (trigger rules let it go on). */
  const withFailures = (run) => run.state === "success" && !!run.with_failures;
  const runLabel = (run) => (withFailures(run) ? "success with failures" : label(run.state));
  function runBadge(run) {
    if (!withFailures(run)) return badge(run.state);
    return `<span class="badge s-success with-failures" title="The run succeeded, but some of its tasks failed: its trigger rules let it finish past them">success with failures</span>`;
  }

  function toast(message, kind = "info") {
    const el = document.createElement("div");
    el.className = `toast ${kind}`;
    el.setAttribute("role", kind === "error" ? "alert" : "status");
    el.textContent = message;
    document.getElementById("toasts").appendChild(el);
    setTimeout(() => el.remove(), kind === "error" ? 8000 : 4000);
  }

  function pageData() {
    const el = document.getElementById("page-data");
    return el ? JSON.parse(el.textContent) : {};
  }

  const urls = {
    dag: (d) => `${root}/dags/${enc(d)}`,
    run: (d, r) => `${root}/dags/${enc(d)}/runs/${enc(r)}`,
    // `n`: a try; `m`: one instance (map_index) of a mapped task
    task: (d, r, t, n, m) => {
      const q = [n ? `try=${n}` : "", m !== undefined && m >= 0 ? `map_index=${m}` : ""].filter(Boolean).join("&");
      return `${root}/dags/${enc(d)}/runs/${enc(r)}/tasks/${enc(t)}` + (q ? `?${q}` : "");
    },
  };

  /** Ask before an action: resolves with {option} when confirmed, null otherwise. */
  function confirmAction({ title, text, ok = "OK", option = null, optionChecked = true }) {
    const dlg = document.getElementById("confirm-dialog");
    dlg.querySelector('[data-slot="title"]').textContent = title;
    dlg.querySelector('[data-slot="text"]').textContent = text;
    dlg.querySelector('[data-slot="option-row"]').hidden = !option;
    dlg.querySelector('[data-slot="option"]').textContent = option || "";
    const box = dlg.querySelector("#confirm-option");
    box.checked = !!option && optionChecked;
    dlg.querySelector("#confirm-ok").textContent = ok;
    dlg.returnValue = "";
    return new Promise((resolve) => {
      dlg.addEventListener("close", () => resolve(dlg.returnValue === "ok" ? { option: box.checked } : null), { once: true });
      dlg.showModal();
    });
  }

  /* -- the trigger dialog: conf JSON validated before it is sent ---------------------------- */
  function parseConf(text) {
    if (!text.trim()) return { conf: {} };
    let value;
    try { value = JSON.parse(text); } catch (e) { return { error: `Not valid JSON: ${e.message}` }; }
    if (value === null || typeof value !== "object" || Array.isArray(value)) return { error: "The configuration must be a JSON object, like {\"key\": \"value\"}." };
    return { conf: value };
  }

  function setupTrigger() {
    const dlg = document.getElementById("trigger-dialog");
    if (!dlg) return;
    const area = dlg.querySelector("#trigger-conf");
    const error = dlg.querySelector("#trigger-error");
    const submit = dlg.querySelector("#trigger-submit");
    let dagId = null;
    const validate = () => {
      const parsed = parseConf(area.value);
      error.textContent = parsed.error || "";
      area.classList.toggle("invalid", !!parsed.error);
      submit.disabled = !!parsed.error;
      return parsed;
    };
    area.addEventListener("input", validate);
    document.addEventListener("click", (ev) => {
      const btn = ev.target.closest("[data-trigger]");
      if (!btn) return;
      dagId = btn.dataset.trigger;
      dlg.querySelector('[data-slot="dag"]').textContent = dagId;
      let params = {};
      try { params = JSON.parse(btn.dataset.params || "{}"); } catch (_) { params = {}; }
      area.value = JSON.stringify(params, null, 2);
      validate();
      dlg.showModal();
      area.focus();
    });
    dlg.querySelector("form").addEventListener("submit", async (ev) => {
      ev.preventDefault();
      const parsed = validate();
      if (parsed.error) return;
      submit.disabled = true;
      try {
        const run = await api("POST", `/dags/${enc(dagId)}/runs`, { conf: parsed.conf });
        dlg.close();
        toast(`Run ${run && run.run_id ? run.run_id : ""} of ${dagId} queued`);
        document.dispatchEvent(new CustomEvent("orch:changed", { detail: { dagId, run } }));
      } catch (e) {
        error.textContent = e.message;
      } finally {
        submit.disabled = false;
      }
    });
  }

  /* -- the pause switch ----------------------------------------------------------------- */
  function setupPause() {
    document.addEventListener("change", async (ev) => {
      const box = ev.target.closest("input[data-pause]");
      if (!box) return;
      const dagId = box.dataset.pause;
      const paused = !box.checked;
      box.disabled = true;
      try {
        await api("PATCH", `/dags/${enc(dagId)}`, { is_paused: paused });
        const row = box.closest("tr[data-dag]");
        if (row) row.classList.toggle("is-paused", paused);
        box.closest(".switch").title = paused ? "Paused: click to unpause" : "Active: click to pause";
        toast(`${dagId} ${paused ? "paused" : "unpaused"}`);
        document.dispatchEvent(new CustomEvent("orch:changed", { detail: { dagId } }));
      } catch (e) {
        box.checked = !box.checked;
        toast(`Could not ${paused ? "pause" : "unpause"} ${dagId}: ${e.message}`, "error");
      } finally {
        box.disabled = false;
      }
    });
  }

  function setupDialogs() {
    document.querySelectorAll("dialog [data-close]").forEach((b) => b.addEventListener("click", () => b.closest("dialog").close()));
    const ok = document.getElementById("confirm-ok");
    if (ok) ok.addEventListener("click", (ev) => { ev.preventDefault(); ok.closest("dialog").close("ok"); });
  }

  /* -- the grouped navigation: a menu opens on hover, focus or click; Escape or a click elsewhere closes it */
  function setupNav() {
    const groups = [...document.querySelectorAll("[data-navgroup]")];
    const close = (except) => groups.forEach((g) => {
      if (g === except) return;
      g.classList.remove("open");
      g.querySelector("button").setAttribute("aria-expanded", "false");
    });
    groups.forEach((g) => g.querySelector("button").addEventListener("click", () => {
      const open = !g.classList.contains("open");
      close(g);
      g.classList.toggle("open", open);
      g.querySelector("button").setAttribute("aria-expanded", String(open));
    }));
    document.addEventListener("click", (ev) => { if (!ev.target.closest("[data-navgroup]")) close(null); });
    document.addEventListener("keydown", (ev) => { if (ev.key === "Escape") close(null); });
  }

  document.addEventListener("DOMContentLoaded", () => { setupDialogs(); setupTrigger(); setupPause(); setupNav(); });

  return { api, getJSON, poll, live, morph, esc, enc, fmtTime, fmtDuration, seconds, badge, label, runBadge, runLabel, withFailures, toast, pageData, urls, confirmAction, root };
})();
