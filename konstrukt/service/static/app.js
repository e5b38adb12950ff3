// konstrukt UI: every action is a call to the REST API (see /docs). No build step.
"use strict";

const CSRF = document.querySelector('meta[name="csrf-token"]')?.content || "";
const $ = (sel, root = document) => root.querySelector(sel);
const TERMINAL = ["succeeded", "failed", "cancelled"];

async function api(method, url, body) {
  const opts = { method, headers: { "X-CSRF-Token": CSRF }, credentials: "same-origin" };
  if (body instanceof FormData) opts.body = body;
  else if (body !== undefined) { opts.body = JSON.stringify(body); opts.headers["Content-Type"] = "application/json"; }
  const res = await fetch(url, opts);
  if (res.status === 401 && !url.startsWith("/api/auth/")) { location.href = "/login"; throw new Error("signed out"); }
  if (res.status === 204) return null;
  const data = await res.json().catch(() => ({}));
  if (!res.ok) throw apiError(data, res.status);
  return data;
}

function apiError(data, status) {
  let msg = data.detail;
  let problems = data.problems || [];
  if (Array.isArray(msg)) { problems = msg.map(e => `${(e.loc || []).slice(1).join(".")}: ${e.msg}`); msg = "Please check these fields"; }
  const err = new Error(msg || `request failed (${status})`);
  err.problems = problems;
  return err;
}

function el(tag, attrs = {}, ...children) {
  const node = document.createElement(tag);
  for (const [k, v] of Object.entries(attrs)) {
    if (v === undefined || v === null || v === false) continue;
    if (k.startsWith("on")) node.addEventListener(k.slice(2), v);
    else if (k === "text") node.textContent = v;
    else if (k === "style") node.style.cssText = v;  // the CSSOM: allowed by the pages' CSP (style-src 'self')
    else node.setAttribute(k, v === true ? "" : v);
  }
  for (const c of children.flat()) if (c !== null && c !== undefined) node.append(c instanceof Node ? c : String(c));
  return node;
}

// A bundle is built by an export job on the server (seconds to minutes): start it (or find the one
// building it), show its progress, then download the zip it left beside the run.
async function exportBundle(id, button) {
  const status = $("#export-status"), name = button.textContent;
  const busy = el("progress", { class: "export-progress", "aria-label": `${name} being prepared` });  // no value: it moves
  button.disabled = true; button.after(busy);
  try {
    let ex = await api("POST", `/api/jobs/${id}/exports`, { format: button.dataset.export });
    let job = ex.job;
    while (!TERMINAL.includes(job.status)) {
      status.textContent = `${name}: preparing… ${job.progress?.message || (job.status === "queued" ? "waiting for the worker" : "")}`;
      if (job.progress?.overall != null) busy.value = job.progress.overall;
      await new Promise(r => setTimeout(r, 800));
      job = await api("GET", `/api/jobs/${job.id}`);
    }
    if (job.status !== "succeeded") throw new Error(job.error || `the export was ${job.status}`);
    status.textContent = `${name}: ready`;
    const link = el("a", { href: `/api/jobs/${id}/export?format=${button.dataset.export}`, download: "", hidden: true });
    document.body.append(link); link.click(); link.remove();
  } catch (err) {
    status.textContent = "";
    toast(`${name}: ${err.message}`, true);
  } finally {
    button.disabled = false; busy.remove();
  }
}

function toast(msg, bad = false) {
  const t = el("div", { class: bad ? "bad" : "" }, msg);
  $("#toast").append(t);
  setTimeout(() => t.remove(), 5000);
}

function showError(box, err) {
  box.replaceChildren(el("div", { class: "notice bad" }, el("b", {}, err.message),
    err.problems?.length ? el("ul", {}, err.problems.map(p => el("li", {}, p))) : null));
}

const count = (n, one, many) => `${n} ${n === 1 ? one : (many || one + "s")}`;  // "1 run", "2 runs"
const pct = x => (x === null || x === undefined) ? "–" : `${(100 * x).toFixed(1)} %`;
const num = x => (x === null || x === undefined) ? "–" : Number(x).toFixed(3);
const when = s => s ? new Date(s + "Z").toLocaleString() : "";
const secs = s => s < 60 ? `${Math.round(s)} s` : `${Math.floor(s / 60)} min ${String(Math.round(s % 60)).padStart(2, "0")} s`;

function formValues(form) {
  return Object.fromEntries([...new FormData(form).entries()].map(([k, v]) => [k, String(v).trim()]));
}

// ------------------------------------------------------------------ capture (microphone, webcam)

async function blobToWav(blob) {
  const ctx = new (window.AudioContext || window.webkitAudioContext)();
  const audio = await ctx.decodeAudioData(await blob.arrayBuffer());
  ctx.close();
  const n = audio.length, rate = audio.sampleRate, chans = audio.numberOfChannels;
  const mono = new Float32Array(n);
  for (let c = 0; c < chans; c++) { const d = audio.getChannelData(c); for (let i = 0; i < n; i++) mono[i] += d[i] / chans; }
  const view = new DataView(new ArrayBuffer(44 + 2 * n));
  const str = (o, s) => [...s].forEach((ch, i) => view.setUint8(o + i, ch.charCodeAt(0)));
  str(0, "RIFF"); view.setUint32(4, 36 + 2 * n, true); str(8, "WAVE"); str(12, "fmt ");
  view.setUint32(16, 16, true); view.setUint16(20, 1, true); view.setUint16(22, 1, true);
  view.setUint32(24, rate, true); view.setUint32(28, rate * 2, true); view.setUint16(32, 2, true);
  view.setUint16(34, 16, true); str(36, "data"); view.setUint32(40, 2 * n, true);
  for (let i = 0; i < n; i++) { const s = Math.max(-1, Math.min(1, mono[i])); view.setInt16(44 + 2 * i, s < 0 ? s * 0x8000 : s * 0x7fff, true); }
  return new Blob([view], { type: "audio/wav" });
}

// Toggle recording on a button; calls onDone(File) with a WAV file (what the core reads).
function recorderButton(button, onDone, maxSeconds = 10) {
  let rec = null, timer = null;
  const label = button.textContent;
  button.addEventListener("click", async () => {
    if (rec) { rec.stop(); return; }
    let stream;
    try { stream = await navigator.mediaDevices.getUserMedia({ audio: true }); }
    catch (e) { toast("Cannot use the microphone: " + e.message, true); return; }
    const chunks = [];
    rec = new MediaRecorder(stream);
    rec.ondataavailable = e => chunks.push(e.data);
    rec.onstop = async () => {
      clearTimeout(timer); stream.getTracks().forEach(t => t.stop()); rec = null; button.textContent = label;
      try { onDone(new File([await blobToWav(new Blob(chunks))], `recording-${Date.now()}.wav`, { type: "audio/wav" })); }
      catch (e) { toast("Could not convert the recording: " + e.message, true); }
    };
    rec.start(); button.textContent = "■ Stop";
    timer = setTimeout(() => rec && rec.stop(), maxSeconds * 1000);
  });
}

async function openCamera(video) {
  const stream = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } });
  video.srcObject = stream;
  return () => stream.getTracks().forEach(t => t.stop());
}

function snapshot(video) {
  const c = el("canvas", { width: video.videoWidth || 640, height: video.videoHeight || 480 });
  c.getContext("2d").drawImage(video, 0, 0, c.width, c.height);
  return new Promise(ok => c.toBlob(b => ok(new File([b], `snapshot-${Date.now()}.png`, { type: "image/png" })), "image/png"));
}

// How a stored example is shown: its modality's preview kind (GET /api/tasks: preview) picks the
// element. Sound players load only their header ("metadata"), so they show the clip's length.
// A picture speaks for itself (a square thumbnail); a player also shows the file's name (caption).
const PREVIEWS = {
  image: { square: true, make: (src, name) => el("img", { loading: "lazy", src, alt: name }) },
  audio: { caption: true, make: (src, name) => el("audio", { controls: true, preload: "metadata", src, title: name }) },
  file: { make: (src, name) => el("a", { href: src, class: "small" }, name) },
};
const previewKind = kind => PREVIEWS[kind] || PREVIEWS.file;
const previewOf = (kind, src, name) => previewKind(kind).make(src, name);

// What the UI offers for a task — upload types, capture (webcam / microphone / none), sample preview —
// comes from its modality through GET /api/tasks; no page tests task names.
const NO_TASK = { accept: "", capture: "none", preview: "file", capture_seconds: 3, pipelines: [] };
async function taskInfo(task) {
  const tasks = await api("GET", "/api/tasks");
  return tasks.find(t => t.name === task) || NO_TASK;
}

// ------------------------------------------------------------------ data health panel

const SEVERITY = { error: "bad", warning: "warn", info: "ok" };
const plain = t => String(t || "").replace(/`([^`]*)`/g, "“$1”");  // the core marks names with backticks

// Findings with the samples each names (thumbnail or player) and one-click fixes, each an API call.
function renderHealth(box, health, { preview, classes, onChange }) {
  const found = health.findings || [];
  if (health.available === false) { box.replaceChildren(el("div", { class: "muted small" }, "This run has no data health report.")); return; }
  if (!found.length) {
    box.replaceChildren(el("div", { class: "notice ok" }, health.checked ? `No problems found in ${health.checked} examples.` : "Add examples to check them.")); return;
  }
  const act = async (fn, what) => { try { await fn(); toast(what); await onChange(); } catch (err) { toast(err.message, true); } };
  const sampleCard = (s, f) => {
    const media = s.sample_id ? previewOf(preview, `/api/samples/${s.sample_id}/file`, s.filename) : el("span", { class: "small muted" }, "deleted");
    const buttons = [];
    if (s.sample_id) {
      if (s.suggested) {
        const target = classes.find(c => c.name === s.suggested);
        if (target && target.id !== s.class_id) buttons.push(el("button", { class: "small primary", onclick: () => act(() => api("PATCH", `/api/samples/${s.sample_id}`, { class_id: target.id }), `Moved ${s.filename} to ${target.name}`) }, `Move to ${target.name}`));
      }
      const others = f.samples.filter(o => o.sample_id && o.sample_id !== s.sample_id);
      if (["exact_duplicate", "near_duplicate"].includes(f.kind) && others.length) buttons.push(el("button", { class: "small primary", title: "Delete the other copies",
        onclick: () => act(async () => { for (const o of others) await api("DELETE", `/api/samples/${o.sample_id}`); }, `Kept ${s.filename}, deleted ${others.length} copy(ies)`) }, "Keep only this"));
      const move = el("select", { class: "small", title: "Move to another class", onchange: e => e.target.value && act(() => api("PATCH", `/api/samples/${s.sample_id}`, { class_id: Number(e.target.value) }), `Moved ${s.filename}`) },
        el("option", { value: "" }, "Move to…"), classes.filter(c => c.id !== s.class_id).map(c => el("option", { value: c.id }, c.name)));
      if (classes.some(c => c.id !== s.class_id)) buttons.push(move);  // a sequence project has no other class
      buttons.push(el("button", { class: "small danger", onclick: () => confirm(`Delete ${s.filename}?`) && act(() => api("DELETE", `/api/samples/${s.sample_id}`), `Deleted ${s.filename}`) }, "Delete"));
    }
    const extra = s.value || s.error || (s.suggested ? `labelled ${s.given}, looks like ${s.suggested} (${pct(s.confidence)})` : "");
    return el("div", { class: "health-sample", "data-sample": s.sample_id || "" }, media,
      el("div", { class: "small" }, el("b", {}, s.name), s.split ? el("span", { class: "pill" }, s.split) : null, extra ? el("div", { class: "muted" }, extra) : null),
      el("div", { class: "row" }, buttons));
  };
  const removed = Object.entries(health.removed_from_evaluation || {}).filter(([, v]) => v.length);
  box.replaceChildren(
    ...found.map(f => el("div", { class: `notice ${SEVERITY[f.severity] || "warn"} health-finding`, "data-kind": f.kind },
      el("div", {}, el("b", {}, f.kind.replace(/_/g, " ")), ": ", plain(f.message)),
      f.action ? el("div", { class: "small" }, "Fix: ", plain(f.action)) : null,
      f.samples.length ? el("div", { class: "health-samples" }, f.samples.slice(0, 12).map(s => sampleCard(s, f))) : null,
      f.samples.length > 12 ? el("div", { class: "small muted" }, `… and ${f.samples.length - 12} more`) : null)),
    ...removed.map(([split, items]) => el("div", { class: "notice warn" }, `${count(items.length, "example")} ${items.length === 1 ? "was" : "were"} left out of the ${split === "val" ? "validation" : split} score because a copy is in the training data: ${items.map(s => s.name).join(", ")}`)));
}

// ------------------------------------------------------------------ pages

const pages = {};

pages.login = () => {
  let mode = "login";
  const submit = $("#auth-submit");
  const setMode = m => {
    mode = m; $("#tab-in").classList.toggle("on", m === "login"); $("#tab-up").classList.toggle("on", m === "signup");
    submit.textContent = m === "login" ? "Sign in" : "Create account";
    $('input[name="password"]').autocomplete = m === "login" ? "current-password" : "new-password";
  };
  $("#tab-in").onclick = () => setMode("login");
  $("#tab-up").onclick = () => setMode("signup");
  $("#auth-form").addEventListener("submit", async ev => {
    ev.preventDefault();
    submit.disabled = true;
    try { await api("POST", `/api/auth/${mode}`, formValues(ev.target)); location.href = "/"; }
    catch (err) { showError($("#auth-error"), err); }
    finally { submit.disabled = false; }
  });
};

pages.projects = async () => {
  const select = $("#task-select");
  // The form is live at once: a click before the task list has arrived (its first call can take
  // seconds on a fresh server) waits for it instead of submitting the plain HTML form.
  const loaded = api("GET", "/api/tasks").then(tasks => {
    select.replaceChildren(...tasks.map(t => el("option", { value: t.name }, t.name)));
    return tasks;
  });
  $("#new-project").addEventListener("submit", async ev => {
    ev.preventDefault();
    try { await loaded; const p = await api("POST", "/api/projects", formValues(ev.target)); location.href = `/projects/${p.id}`; }
    catch (err) { toast(err.message, true); }
  });
  const tasks = await loaded;
  const hint = () => { const t = tasks.find(t => t.name === select.value); $("#task-hint").textContent = t ? `${t.name}: ${t.description}` : ""; };
  select.onchange = hint; hint();
  const list = await api("GET", "/api/projects");
  $("#project-list").replaceChildren(...(list.length ? list.map(p => el("a", { class: "card project-card", href: `/projects/${p.id}` },
    el("div", { class: "row" }, el("h3", { class: "grow" }, p.name), el("span", { class: "pill task" }, p.task)),
    el("p", { class: "muted small" }, `${count(p.classes.length, "class", "classes")} · ${count(p.sample_count, "example")} · ${count(p.job_count, "run")}`),
    el("p", { class: "small" }, p.kind === "sequence" ? "recordings with their text" : p.classes.slice(0, 6).map(c => c.name).join(", ") || "no classes yet")))
    : [el("div", { class: "card empty" }, "No projects yet. Create one above to start.")]));
};

pages.project = async () => {
  const pid = document.body.dataset.project, info = await taskInfo(document.body.dataset.task);
  const classesBox = $("#classes"), report = $("#upload-report"), cameras = {};
  let project;
  window.CAPTURES?.[info.capture]?.page?.($("#new-class"), pid);
  // a sequence project (recordings with their text): its own examples card and models (sequence.js)
  const seq = document.body.dataset.kind === "sequence" ? window.SEQUENCE.project(pid, info, () => reload()) : null;

  let healthTimer = null;
  async function reload() {
    const first = project === undefined;
    project = await api("GET", `/api/projects/${pid}`);
    $("#sample-total").textContent = `${count(project.classes.length, "class", "classes")} · ${count(project.sample_count, "example")}`;
    if (seq) seq.render(project);
    else classesBox.replaceChildren(...(project.classes.length ? project.classes.map(classCard)
      : [el("div", { class: "empty" }, "Add a class for each answer the model should give — at least two.")]));
    // the data changed (upload, delete, rename): check it again, once the changes settle
    if (!first) { clearTimeout(healthTimer); healthTimer = setTimeout(loadHealth, 700); }
  }

  async function upload(cls, files) {
    const form = new FormData();
    for (const f of files) form.append("files", f, f.name);
    report.replaceChildren(el("div", { class: "notice warn" }, `Checking ${count(files.length, "file")} for “${cls.name}”…`));
    try {
      const r = await api("POST", `/api/projects/${pid}/classes/${cls.id}/samples`, form);
      const parts = [];
      if (r.added.length) parts.push(el("div", { class: "notice ok" }, `Added ${count(r.added.length, "example")} to “${cls.name}”.`));
      if (r.rejected.length) parts.push(el("div", { class: "notice bad" }, el("b", {}, `${count(r.rejected.length, "file")} could not be used:`),
        el("ul", {}, r.rejected.map(x => el("li", {}, el("b", {}, x.file), ": ", x.error)))));
      report.replaceChildren(...parts);
    } catch (err) { showError(report, err); }
    await reload();
  }

  function sampleThumb(s) {
    const del = el("button", { class: "x", title: "Delete this example", onclick: async () => {
      await api("DELETE", `/api/samples/${s.id}`); await reload(); } }, "×");
    const kind = previewKind(info.preview);
    return el("div", { class: kind.square ? "thumb" : "thumb wide", title: s.filename },
      kind.make(`/api/samples/${s.id}/file`, s.filename), kind.caption ? el("div", { class: "thumb-name small" }, s.filename) : null, del);
  }

  function classCard(cls) {
    const input = el("input", { type: "file", multiple: true, hidden: true, accept: `${info.accept},.zip`, onchange: e => upload(cls, [...e.target.files]) });
    const drop = el("div", { class: "drop", onclick: () => input.click() }, "Drop files or a .zip here, or click to choose", input);
    drop.addEventListener("dragover", e => { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", e => { e.preventDefault(); drop.classList.remove("over"); upload(cls, [...e.dataTransfer.files]); });
    const capture = el("div", { class: "capture-row" });
    if (info.capture === "microphone") {
      const rec = el("button", { type: "button", class: "small" }, "● Record");
      recorderButton(rec, f => upload(cls, [f]));
      capture.append(rec);
    } else if (info.capture === "webcam") {
      // The stream lives in `cameras`, so the webcam stays open while the cards re-render after each snap.
      const video = el("video", { class: "cam", autoplay: true, playsinline: true, muted: true });
      const box = el("div", { hidden: !cameras[cls.id] }, video,
        el("div", {}, el("button", { type: "button", class: "small primary", onclick: async () => upload(cls, [await snapshot(video)]) }, "Snap")));
      if (cameras[cls.id]) video.srcObject = cameras[cls.id];
      const cam = el("button", { type: "button", class: "small", onclick: async () => {
        if (cameras[cls.id]) { cameras[cls.id].getTracks().forEach(t => t.stop()); delete cameras[cls.id]; box.hidden = true; cam.textContent = "Webcam"; return; }
        try { cameras[cls.id] = video.srcObject = await navigator.mediaDevices.getUserMedia({ video: { width: 640, height: 480 } }); box.hidden = false; cam.textContent = "Close webcam"; }
        catch (e) { toast("Cannot use the webcam: " + e.message, true); } } }, cameras[cls.id] ? "Close webcam" : "Webcam");
      capture.append(cam, box);
    } else if (window.CAPTURES?.[info.capture]) {  // more capture kinds, each in its own file (motion.js)
      capture.append(window.CAPTURES[info.capture].samples(f => upload(cls, [f]), info, cls.id));
    }
    return el("div", { class: "class-card", "data-class": cls.name },
      el("div", { class: "head" }, el("h3", {}, cls.name), el("span", { class: "pill" }, `${cls.sample_count}`),
        el("button", { class: "small", title: "Rename", onclick: async () => {
          const name = prompt("New name for this class", cls.name);
          if (!name || name === cls.name) return;
          try { await api("PATCH", `/api/projects/${pid}/classes/${cls.id}`, { name }); await reload(); } catch (err) { toast(err.message, true); } } }, "Rename"),
        el("button", { class: "small danger", title: "Delete", onclick: async () => {
          if (!confirm(`Delete class “${cls.name}” and its ${cls.sample_count} examples?`)) return;
          await api("DELETE", `/api/projects/${pid}/classes/${cls.id}`); await reload(); } }, "Delete")),
      drop, capture, el("div", { class: "thumbs" }, cls.samples.map(sampleThumb)));
  }

  $("#new-class").addEventListener("submit", async ev => {
    ev.preventDefault();
    try { await api("POST", `/api/projects/${pid}/classes`, formValues(ev.target)); ev.target.reset(); await reload(); }
    catch (err) { showError(report, err); }
  });
  $("#rename-project").onclick = async () => {
    const name = prompt("New project name", $("#project-name").textContent);
    if (!name) return;
    const p = await api("PATCH", `/api/projects/${pid}`, { name }); $("#project-name").textContent = p.name;
  };
  $("#delete-project").onclick = async () => {
    if (!confirm("Delete this project with all its examples and runs?")) return;
    try { await api("DELETE", `/api/projects/${pid}`); location.href = "/"; } catch (err) { toast(err.message, true); }
  };

  // training form
  const pipes = seq?.pipelines || info.pipelines;
  const recommended = pipes.find(p => p.recommended);
  // "auto" always runs here: it starts from what this server has (info.auto says what, in words)
  // short names in the selector (a phone shows ~30 characters); the chosen one's sentence below it
  $("#pipeline-select").replaceChildren(el("option", { value: "auto" }, "auto — recommended"),
    ...pipes.map(p => el("option", { value: p.name, disabled: !p.available }, `${p.name}${p.offline ? " (offline)" : ""}${p.available ? "" : " — weights not on this server"}`)));
  const pipelineHint = () => {
    const v = $("#pipeline-select").value, p = pipes.find(x => x.name === v);
    $("#pipeline-hint").textContent = p ? (p.available ? p.description : `${p.description} — ${p.reason}`)
      : `Recommended: konstrukt picks the recipe for your data from what this server has${recommended ? ` (here it starts from ${recommended.name})` : ""} and says why in the results.`;
    $("#pipeline-hint").title = p ? "" : info.auto || "";  // the details, for those who want them
  };
  $("#pipeline-select").onchange = pipelineHint; pipelineHint();
  const rows = $("#layer-rows");
  const addLayer = (units = 256, act = "relu", dropout = 0.5) => {
    const row = el("div", { class: "layer" }, el("span", { class: "n" }),
      el("input", { type: "number", min: 1, value: units, "data-k": "units", title: "width (units)" }),
      el("select", { "data-k": "activation", title: "activation" }, ["relu", "leaky_relu", "gelu", "elu", "selu", "silu", "tanh", "sigmoid"].map(a => el("option", { selected: a === act }, a))),
      el("input", { type: "number", min: 0, max: 0.95, step: 0.05, value: dropout, "data-k": "dropout", title: "dropout" }),
      el("button", { type: "button", class: "small danger", onclick: () => { row.remove(); numberRows(); } }, "Remove"));
    rows.append(row); numberRows();
  };
  const numberRows = () => [...rows.children].forEach((r, i) => { r.querySelector(".n").textContent = `${i + 1}.`; });
  rows.before(el("div", { class: "layer small muted" }, el("span"), el("span", {}, "width"), el("span", {}, "activation"), el("span", {}, "dropout"), el("span")));
  $("#add-layer").onclick = () => addLayer();
  $("#head-mode").onchange = e => { $("#layers").hidden = e.target.value !== "custom"; if (e.target.value === "custom" && !rows.children.length) addLayer(); };

  const formConfig = form => {
    const v = formValues(form), config = {};
    for (const k of ["num_epochs", "batch_size", "cv", "seed", "target_size"]) if (v[k] !== "" && v[k] !== undefined) config[k] = parseInt(v[k], 10);
    for (const k of ["learning_rate", "weight_decay"]) if (v[k]) config[k] = parseFloat(v[k]);
    if (v.optimizer) config.optimizer = v.optimizer;
    if (v.early_stopping) config.early_stopping = v.early_stopping === "true";
    const mode = $("#head-mode").value;
    if (mode === "linear") config.head = "linear";
    if (mode === "custom") config.head = [...rows.children].map(r => ({
      units: parseInt(r.querySelector('[data-k="units"]').value, 10), activation: r.querySelector('[data-k="activation"]').value,
      dropout: parseFloat(r.querySelector('[data-k="dropout"]').value) || 0 }));
    return [v, config];
  };
  $("#train-form").addEventListener("submit", async ev => {
    ev.preventDefault();
    const [v, config] = formConfig(ev.target);
    $("#train-button").disabled = true;
    try { const job = await api("POST", `/api/projects/${pid}/jobs`, { pipeline: v.pipeline, config }); location.href = `/jobs/${job.id}`; }
    catch (err) { showError($("#train-error"), err); $("#train-button").disabled = false; }
  });

  // compare recipes: the same split and folds for every checked recipe
  $("#compare-pipes").replaceChildren(...pipes.map(p => el("label", { class: "field", title: p.description },
    el("span", {}, el("input", { type: "checkbox", value: p.name, checked: p.available && (p.recommended || p.offline) }), ` ${p.name}${p.offline ? " — offline" : ""}${p.available ? "" : " — weights not on this server"}`))));
  $("#compare-recipes-button").onclick = async () => {
    const chosen = [...document.querySelectorAll("#compare-pipes input:checked")].map(i => i.value);
    const [, config] = formConfig($("#train-form")); delete config.head;
    $("#compare-recipes-button").disabled = true;
    try { const job = await api("POST", `/api/projects/${pid}/compare`, { pipelines: chosen, config }); location.href = `/jobs/${job.id}`; }
    catch (err) { showError($("#compare-error"), err); $("#compare-recipes-button").disabled = false; }
  };

  // runs
  let firstLoad = true;
  async function loadJobs() {
    const jobs = await api("GET", `/api/projects/${pid}/jobs`);
    // the last recipe that trained here, if it can still run (a failed recipe is not offered again)
    const last = jobs.find(j => j.status === "succeeded" && j.pipeline !== "compare");
    if (firstLoad && last && (last.pipeline === "auto" || pipes.some(p => p.name === last.pipeline && p.available))) { $("#pipeline-select").value = last.pipeline; pipelineHint(); }
    firstLoad = false;
    $("#job-list").replaceChildren(jobs.length ? el("div", { class: "scroll-x" }, el("table", { id: "runs-table" },
      el("tr", {}, el("th"), el("th", {}, "Run"), el("th", {}, "Status"), el("th", {}, "Recipe"), el("th", { class: "num" }, "Test accuracy"), el("th", { class: "num" }, "CV accuracy"), el("th", { class: "wide-only" }, "Started")),
      jobs.map(j => el("tr", {}, el("td", {}, el("input", { type: "checkbox", value: j.id, disabled: j.status !== "succeeded" || j.pipeline === "compare" })),
        el("td", {}, el("a", { href: j.pipeline === "compare" && j.status === "succeeded" ? `/projects/${pid}/compare?compare=${j.id}` : `/jobs/${j.id}` }, `#${j.id}`)), el("td", {}, el("span", { class: `pill ${j.status}` }, j.status)),
        el("td", {}, j.pipeline === "compare" ? `compare: ${(j.config.pipelines || []).join(", ")}` : (j.summary?.pipeline || j.pipeline)), el("td", { class: "num" }, j.summary?.cer != null ? `CER ${pct(j.summary.cer)}` : pct(j.summary?.accuracy)),
        el("td", { class: "num" }, j.summary?.cv_cer_mean != null ? `CER ${pct(j.summary.cv_cer_mean)} ± ${pct(j.summary.cv_cer_std)}`
          : j.summary?.cv_accuracy_mean != null ? `${pct(j.summary.cv_accuracy_mean)} ± ${pct(j.summary.cv_accuracy_std)}` : "–"),
        el("td", { class: "small muted wide-only" }, when(j.created_at))))))
      : el("div", { class: "empty" }, "No runs yet. Add examples, then press Train."));
    if (jobs.some(j => !TERMINAL.includes(j.status))) setTimeout(loadJobs, 3000);
  }
  $("#compare-button").onclick = () => {
    const ids = [...document.querySelectorAll('#job-list input:checked')].map(i => i.value);
    location.href = `/projects/${pid}/compare` + (ids.length ? `?jobs=${ids.join(",")}` : "");
  };
  async function loadHealth() {
    const box = $("#health-list");
    try { (seq?.health || renderHealth)(box, await api("GET", `/api/projects/${pid}/health`), { preview: info.preview, classes: project.classes, onChange: reload }); }
    catch (err) { showError(box, err); }
  }
  $("#health-check").onclick = loadHealth;
  await Promise.all([reload(), loadJobs()]);
  await loadHealth();
};

pages.job = async () => {
  const id = document.body.dataset.job, task = document.body.dataset.task;
  const log = $("#log");
  // A compare job's pipelines can train side by side: the chart follows one until its last epoch.
  let losses = [], charted = null, chartDone = false;
  let job = await api("GET", `/api/jobs/${id}`);

  const setStatus = j => {
    const pill = $("#status-pill"); pill.className = `pill ${j.status}`; pill.textContent = j.status;
    $("#cancel-job").hidden = TERMINAL.includes(j.status);
    $("#job-sub").textContent = `Recipe ${j.summary?.pipeline || j.pipeline} · started ${when(j.started_at || j.created_at)}` + (j.attempts > 1 ? ` · attempt ${j.attempts}` : "");
    if (j.error) {
      showError($("#job-error"), { message: j.status === "cancelled" ? "Cancelled." : "Training did not finish:", problems: j.error.split("\n") });
      if (/pretrained|weights/i.test(j.error)) $("#job-error").append(el("div", { class: "notice warn" },
        "Go back to the project and train with “auto”: it uses what this server has. Recipes marked “weights not on this server” cannot train here."));
    }
  };
  const STAGES = { prepare: "Preparing the data", plan: "Planning", auto: e => `Trying ${e.candidate} (auto compares it on your data)`,
    embed: "Computing features", train: "Training the final model", cv: e => `Cross-validation fold ${e.fold}/${e.folds}`,
    evaluate: "Scoring the test split", reference: "Fitting the simple baseline", compare: "Starting", not_run: e => `Not run (${e.status})`, done: "Done" };
  const onEvent = e => {
    const recipe = e.pipeline ? `${e.pipeline} (${e.index}/${e.pipelines || e.total}) · ` : "";
    log.append(`${recipe}${e.message || e.stage}\n`); log.scrollTop = log.scrollHeight;
    const label = STAGES[e.stage] || e.stage, where = recipe + (typeof label === "function" ? label(e) : label);
    $("#stage").textContent = where + (e.epoch ? ` · epoch ${e.epoch}/${e.epochs}` : "") + (e.val_accuracy != null ? ` · validation accuracy ${pct(e.val_accuracy)}` : "");
    // one bar for the whole job (every stage, fold and pipeline, from the core), with the time left
    if (e.overall != null) {
      $("#bar").style.width = `${(100 * e.overall).toFixed(1)}%`;
      $("#eta").textContent = `${Math.floor(100 * e.overall)} % of the whole job · ${secs(e.elapsed_seconds)} so far` +
        (e.eta_seconds != null && e.overall < 1 ? ` · about ${secs(e.eta_seconds)} left` : "");
    }
    const who = e.pipeline || null;
    if (who === charted && e.stage !== "train" && losses.length) chartDone = true;  // its final fit ended
    if (e.stage === "train" && e.train_loss != null) {
      if (who !== charted && (chartDone || !losses.length)) { charted = who; losses = []; chartDone = false; }
      if (who === charted) { losses.push(e); drawChart(); }
    }
    if (e.stage === "done" || e.stage === "succeeded") $("#bar").style.width = "100%";
  };
  const drawChart = () => {
    const svg = $("#chart");
    svg.removeAttribute("hidden");
    const W = svg.clientWidth || 600, H = 160, pad = 28;
    svg.setAttribute("viewBox", `0 0 ${W} ${H}`);
    const keys = [["train_loss", "#4f46e5", "training loss"], ["val_loss", "#06b6d4", "validation loss"]];
    const max = Math.max(...losses.flatMap(e => keys.map(([k]) => e[k] || 0)), 1e-6);
    const total = Math.max(losses[losses.length - 1]?.epochs || losses.length, 2);
    const x = e => pad + (W - 2 * pad) * (e.epoch - 1) / (total - 1), y = v => H - pad - (H - 2 * pad) * v / max;
    const series = ([k, c]) => { const pts = losses.filter(e => e[k] != null);
      return `<polyline fill="none" stroke="${c}" stroke-width="2.5" points="${pts.map(e => `${x(e)},${y(e[k])}`).join(" ")}"/>` +
        pts.map(e => `<circle cx="${x(e)}" cy="${y(e[k])}" r="3" fill="${c}"/>`).join(""); };
    svg.innerHTML = `<line x1="${pad}" y1="${H - pad}" x2="${W - pad}" y2="${H - pad}" stroke="#d0d5dd"/>` +
      `<line x1="${pad}" y1="${pad / 2}" x2="${pad}" y2="${H - pad}" stroke="#d0d5dd"/>` +
      `<text x="${W - pad}" y="${H - 8}" font-size="11" fill="#667085" text-anchor="end">epoch ${total}</text>` +
      `<text x="${pad}" y="${H - 8}" font-size="11" fill="#667085">1</text>` +
      `<text x="${pad + 4}" y="${pad / 2 + 4}" font-size="11" fill="#667085">loss ${max.toFixed(2)}</text>` +
      keys.map(series).join("") +
      keys.map(([, c, label], i) => `<text x="${W - pad - 220 + i * 110}" y="14" font-size="12" fill="${c}">● ${label}</text>`).join("");
  };

  $("#cancel-job").onclick = async () => { job = await api("POST", `/api/jobs/${id}/cancel`); toast("Cancelling…"); setStatus(job); };
  setStatus(job);

  const finish = async () => {
    job = await api("GET", `/api/jobs/${id}`); setStatus(job);
    if (job.status === "succeeded" && job.pipeline === "compare") location.href = `/projects/${job.project_id}/compare?compare=${id}`;
    else if (job.status === "succeeded") await showResults();
  };
  const es = new EventSource(`/api/jobs/${id}/events`);
  es.addEventListener("progress", m => {
    const e = JSON.parse(m.data); onEvent(e);
    const status = e.stage === "queued" ? "queued" : TERMINAL.includes(e.stage) ? e.stage : "running";
    if (status !== job.status && !TERMINAL.includes(job.status)) { job = { ...job, status }; setStatus(job); }
  });
  es.addEventListener("status", async () => { es.close(); await finish(); });
  if (TERMINAL.includes(job.status)) $("#bar").style.width = "100%";

  async function showResults() {
    const r = await api("GET", `/api/jobs/${id}/report`);
    if (r.kind === "sequence") return window.SEQUENCE.results(r, id, setupTry);  // CER, worst examples (sequence.js)
    $("#progress-card").hidden = true; $("#results").hidden = false;
    $("#downloads").hidden = false; $("#download").href = `/api/jobs/${id}/download`;
    for (const b of document.querySelectorAll("[data-export]")) b.onclick = () => exportBundle(id, b);
    const t = r.test || r.val || {}, cv = r.cv;
    const big = [el("div", { class: "metric" }, el("div", { class: "v", id: "accuracy" }, pct(t.accuracy)), el("div", { class: "l" }, r.test ? `accuracy on ${t.n} test examples` : "validation accuracy"))];
    if (cv) big.push(el("div", { class: "metric" }, el("div", { class: "v" }, `${pct(cv.accuracy_mean)}`), el("div", { class: "l" }, `± ${pct(cv.accuracy_std)} · ${cv.folds}-fold cross-validation`)));
    // the whole wait (data, features, final model, every fold, the baseline) beside the final model's fit
    big.push(el("div", { class: "metric", id: "time-metric" }, el("div", { class: "v" }, r.wall_seconds != null ? secs(r.wall_seconds) : `${r.train_seconds.toFixed(1)} s`),
      el("div", { class: "l" }, `${r.wall_seconds != null ? `whole run · final model ${r.train_seconds.toFixed(1)} s` : "training time"} · ${r.params_trainable.toLocaleString()} trained parameters`)));
    $("#big-metrics").replaceChildren(...big);
    // the core's notes on how far to trust the figures (konstrukt.trust, the same words as the CLI,
    // summary.md and the model card) and its verdict against a simple model on the same folds
    const notes = (r.notes || []).map(n => n.text);
    const verdict = typeof r.baseline === "string" ? { verdict: "unknown", text: r.baseline } : r.baseline;
    if (verdict && verdict.verdict !== "better") notes.push(verdict.text);
    for (const w of r.data?.warnings || []) notes.push(w);
    // settings konstrukt chose from this data (clip length, whether to mirror images), with the reason
    const chosen = Object.entries(r.chosen_from_data || {}).filter(([, c]) => c.why)
      .map(([k, c]) => el("div", { class: "notice ok chosen" }, `Chosen from your data — ${c.why}`));
    const why = r.selection ? [el("div", { class: "notice ok", id: "selection" }, `auto ${r.selection.reason}`)] : [];
    const good = verdict && verdict.verdict === "better" ? [el("div", { class: "notice ok", id: "baseline" }, verdict.text)] : [];
    $("#trust").replaceChildren(...why, ...good, ...notes.map(n => el("div", { class: "notice warn" }, n)), ...chosen);
    const rows = [["Accuracy", t.accuracy], ["F1 (macro)", t.f1_macro], ["F1 (weighted)", t.f1_weighted], ["Precision (macro)", t.precision_macro], ["Recall (macro)", t.recall_macro]];
    if (t.top3_accuracy != null) rows.push(["Top-3 accuracy", t.top3_accuracy]);
    if (cv) rows.push([`CV accuracy (${cv.folds} folds)`, null, `${pct(cv.accuracy_mean)} ± ${pct(cv.accuracy_std)}`], ["CV F1 (macro)", null, `${pct(cv.f1_macro_mean)} ± ${pct(cv.f1_macro_std)}`]);
    $("#metrics-table").replaceChildren(...rows.map(([k, v, s]) => el("tr", {}, el("td", {}, k), el("td", { class: "num" }, s || pct(v)))));
    $("#class-table").replaceChildren(el("tr", {}, el("th", {}, "class"), el("th", { class: "num" }, "precision"), el("th", { class: "num" }, "recall"), el("th", { class: "num" }, "F1"), el("th", { class: "num" }, "examples")),
      ...Object.entries(t.per_class || {}).map(([c, m]) => el("tr", {}, el("td", {}, c), el("td", { class: "num" }, pct(m.precision)), el("td", { class: "num" }, pct(m.recall)), el("td", { class: "num" }, pct(m.f1)), el("td", { class: "num" }, m.support))));
    const project = await api("GET", `/api/projects/${document.body.dataset.project}`);
    const loadHealth = async () => renderHealth($("#health-list"), await api("GET", `/api/jobs/${id}/health`), { preview: (await taskInfo(task)).preview, classes: project.classes, onChange: loadHealth });
    await loadHealth().catch(err => showError($("#health-list"), err));
    $("#img-cm").src = `/api/jobs/${id}/files/confusion_matrix.png`;
    $("#img-curves").src = `/api/jobs/${id}/files/curves.png`;
    setupTry();
  }

  async function setupTry() {
    const info = await taskInfo(task), out = $("#try-result");
    const predict = async file => {
      const form = new FormData(); form.append("file", file, file.name);
      out.replaceChildren(el("div", { class: "muted" }, `Asking the model about ${file.name}…`));
      try {
        const p = await api("POST", `/api/jobs/${id}/predict`, form);
        if (p.text != null) return out.replaceChildren(window.SEQUENCE.answer(p, file));  // a sequence run's decoded text
        const preview = file.type.startsWith("image/") ? el("img", { src: URL.createObjectURL(file), style: "max-height:96px;border-radius:8px;image-rendering:pixelated" }) : null;
        out.replaceChildren(el("div", { class: "row" }, preview, el("div", {}, el("div", { class: "muted small" }, file.name), el("div", { class: "answer" }, p.unsure ? "Unsure — perhaps " : "It looks like ", el("b", { id: "predicted" }, p.label)),
          p.unsure ? el("div", { class: "small muted", id: "unsure" }, `The model is not sure: ${pct(Object.values(p.probabilities)[0])} for its best guess. Try a clearer example, or add more examples like this one.`) : null)),
          ...Object.entries(p.probabilities).map(([c, v], i) => el("div", { class: `bar ${i === 0 ? "top" : ""}` },
            el("span", { class: "name" }, c), el("div", { class: "track" }, el("div", { class: "fill", style: `width:${(100 * v).toFixed(1)}%` })), el("span", { class: "num" }, pct(v)))));
      } catch (err) { showError(out, err); }
    };
    $("#try-file").accept = info.accept;
    $("#try-file").onchange = e => e.target.files[0] && predict(e.target.files[0]);
    if (info.capture === "microphone") {
      const b = $("#try-record"); b.textContent = `● Record ${info.capture_seconds} s`; b.hidden = false;
      recorderButton(b, predict, info.capture_seconds);
    }
    if (info.capture === "webcam") {
      const b = $("#try-cam"); b.hidden = false; let close = null;
      b.onclick = async () => {
        if (close) { close(); close = null; $("#try-cam-box").hidden = true; return; }
        try { close = await openCamera($("#try-video")); $("#try-cam-box").hidden = false; } catch (e) { toast("Cannot use the webcam: " + e.message, true); }
      };
      $("#try-snap").onclick = async () => predict(await snapshot($("#try-video")));
    }
    if (window.CAPTURES?.[info.capture]?.tryIt && !$("#try [data-capture]")) $("#try-file").closest(".row").after(window.CAPTURES[info.capture].tryIt(predict, info, job));
  }
};

async function showLeaderboard(pid, id) {
  const b = await api("GET", `/api/jobs/${id}/leaderboard`), rec = b.recommendation;
  if (b.kind === "sequence") return window.SEQUENCE.leaderboard(b, id);  // CER, sequence.js
  $("#compare-card").hidden = true;
  document.querySelector("h1").textContent = "Compare recipes";
  document.querySelector(".sub").textContent = "Several recipes trained on the same examples, the same split and the same cross-validation folds.";
  const cv = r => r.cv_mean == null ? "–" : `${pct(r.cv_mean)} ± ${pct(r.cv_std)}`;
  // a row that did not run: a short reason in the table, the whole one folded beneath it
  const notRun = r => el("details", { class: "reason" }, el("summary", {}, `${r.status}: ${r.brief || "see why"}`), el("div", { class: "small" }, r.reason));
  // The recommendation is the best of the recipes tried; when the core's verdict says it does not
  // beat the simple baseline, the heading says so rather than "Recommended" above a warning.
  const beats = !b.verdict || b.verdict.verdict === undefined || b.verdict.verdict === "better";
  const recLabel = beats ? "recommended" : "best tried";
  const heading = !rec ? "No recommendation" : beats ? `Recommended: ${rec.name}` : `Best of the recipes tried: ${rec.name}`;  // the verdict below says how it fares
  const cols = [["Recipe", r => r.job_id ? el("a", { href: `/jobs/${r.job_id}` }, r.name) : r.name], ["CV accuracy", cv],
    ["Test accuracy", r => pct(r.test_accuracy)], ["F1 (macro)", r => pct(r.test_f1_macro)],
    ["Time (final model)", r => r.seconds == null ? "–" : `${secs(r.seconds)} (${r.train_seconds.toFixed(1)} s)`],
    ["Peak memory", r => r.peak_memory_mb == null ? "–" : `${r.peak_memory_mb.toFixed(0)} MB`],
    ["Parameters (trained)", r => r.params_total == null ? "–" : `${r.params_total.toLocaleString()} (${r.params_trainable.toLocaleString()})`],
    ["Model size", r => r.model_bytes == null ? "–" : `${(r.model_bytes / 1e6).toFixed(2)} MB`],
    ["Latency", r => r.latency_ms == null ? "–" : `${r.latency_ms.toFixed(1)} ms`],
    ["", r => r.kind === "reference" ? "simple baseline, not exported" : r.status !== "ok" ? notRun(r) : (rec && r.name === rec.name ? el("span", { class: "pill succeeded" }, recLabel) : "")]];
  $("#leaderboard").replaceChildren(
    el("section", { class: "card", id: "recommendation" }, el("h2", {}, heading),
      rec ? el("p", {}, rec.reason) : null, b.verdict ? el("div", { class: `notice ${b.verdict.verdict === "better" ? "ok" : "warn"}` }, b.verdict.text || b.verdict) : null,
      rec && rec.job_id ? el("a", { class: "btn primary", id: "open-winner", href: `/jobs/${rec.job_id}` }, beats ? "Open the recommended run" : "Open the best run") : null),
    el("section", { class: "card" }, el("h2", {}, "Leaderboard"),
      el("p", { class: "hint" }, `Every recipe was trained on the same split and cross-validated on the same ${b.folds} folds. Latency: one example at a time on the server.`),
      el("div", { class: "scroll-x" }, el("table", { id: "leaderboard-table" }, el("tr", {}, cols.map(([h]) => el("th", {}, h))),
        b.rows.map(r => el("tr", {}, cols.map(([, f]) => el("td", {}, f(r))))))),
      el("figure", {}, el("img", { src: `/api/jobs/${id}/files/leaderboard.png`, alt: "CV accuracy vs latency", class: "fit" }),
        el("figcaption", { class: "hint" }, "Cross-validated accuracy (error bars: spread over folds) against latency. Up and to the left is better; the grey band is the simple baseline."))));
}

pages.compare = async () => {
  const pid = document.body.dataset.project;
  const compareJob = new URLSearchParams(location.search).get("compare");
  if (compareJob) return showLeaderboard(pid, Number(compareJob));
  const wanted = new URLSearchParams(location.search).get("jobs")?.split(",").map(Number);
  const jobs = (await api("GET", `/api/projects/${pid}/jobs`)).filter(j => j.status === "succeeded" && j.pipeline !== "compare" && (!wanted || wanted.includes(j.id)));
  if (!jobs.length) { $("#compare-table").replaceChildren(el("div", { class: "empty" }, "No finished runs to compare yet.")); return; }
  const reports = await Promise.all(jobs.map(j => api("GET", `/api/jobs/${j.id}/report`)));
  const t = r => r.test || r.val || {};
  const rows = [
    ["Recipe", r => r.pipeline], ["Strategy", r => r.strategy],
    ["Test accuracy", r => pct(t(r).accuracy)], ["F1 (macro)", r => pct(t(r).f1_macro)],
    ["CV accuracy", r => r.cv ? `${pct(r.cv.accuracy_mean)} ± ${pct(r.cv.accuracy_std)}` : "–"],
    ["Test examples", r => t(r).n], ["Time (final model)", r => r.wall_seconds != null ? `${secs(r.wall_seconds)} (${r.train_seconds.toFixed(1)} s)` : `${r.train_seconds.toFixed(1)} s`],
    ["Trained parameters", r => r.params_trainable.toLocaleString()], ["Epochs (best)", r => `${r.history.length} (${r.best_epoch})`],
    ["Learning rate", r => r.config.learning_rate], ["Batch size", r => r.config.batch_size],
    ["Head", r => (r.model.head || []).map(b => `${b.units} ${b.activation}${b.dropout ? " drop " + b.dropout : ""}`).join(" → ") || "linear"],
  ];
  if (reports.some(r => r.kind === "sequence")) rows.splice(0, rows.length, ...window.SEQUENCE.compareRows(t));
  // the core's rule (cross-validation only), not a mix of one run's CV and another's test figure
  const pick = await api("GET", `/api/projects/${pid}/recommendation?jobs=${jobs.map(j => j.id).join(",")}`);
  $("#compare-table").replaceChildren(el("p", { class: "hint", id: "compare-reason" }, pick.reason), el("table", {},
    el("tr", {}, el("th"), jobs.map(j => el("th", {}, el("a", { href: `/jobs/${j.id}` }, `Run #${j.id}`), j.id === pick.job_id ? el("span", { class: "pill succeeded", style: "margin-left:6px" }, "recommended") : null))),
    rows.map(([k, f]) => el("tr", {}, el("td", { class: "muted" }, k), reports.map(r => el("td", {}, f(r)))))));
};

pages.account = async () => {
  const load = async () => {
    const tokens = await api("GET", "/api/tokens");
    $("#token-table").replaceChildren(el("tr", {}, el("th", {}, "Name"), el("th", {}, "Starts with"), el("th", {}, "Created"), el("th", {}, "Last used"), el("th")),
      ...tokens.map(t => el("tr", {}, el("td", {}, t.name), el("td", {}, el("code", {}, t.prefix + "…")), el("td", { class: "small" }, when(t.created_at)), el("td", { class: "small" }, when(t.last_used_at) || "never"),
        el("td", {}, el("button", { class: "small danger", onclick: async () => { await api("DELETE", `/api/tokens/${t.id}`); load(); } }, "Revoke")))));
  };
  $("#new-token").addEventListener("submit", async ev => {
    ev.preventDefault();
    const t = await api("POST", "/api/tokens", formValues(ev.target)); ev.target.reset();
    $("#token-secret").replaceChildren(el("div", { class: "notice ok" }, "Copy this token now — it is shown only once:",
      el("code", { class: "block" }, t.token), el("code", { class: "block" }, `curl -H "Authorization: Bearer ${t.token}" ${location.origin}/api/projects`)));
    load();
  });
  load();
};

document.addEventListener("DOMContentLoaded", () => {
  $("#logout")?.addEventListener("click", async () => { await api("POST", "/api/auth/logout"); location.href = "/login"; });
  const page = pages[document.body.dataset.page];
  if (page) Promise.resolve(page()).catch(err => toast(err.message, true));
});
