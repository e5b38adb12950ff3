"use strict";
// Sequence projects (a recording → its text): the recordings card of the project page, the
// sequence model ladder in the train form, a sequence run's results (CER, worst examples) and
// Try it's decoded text. app.js calls in here where a page differs; helpers (el, api, $, pct…) are its.

(() => {
  // the model variants of sequence runs (konstrukt.sequences.models; docs/sequences.md)
  const LADDER = [
    ["rescnn+mlp480+dropout+bilstm+se", "the default: per-frame MLP, residual CNN with squeeze-and-excitation, a BiLSTM"],
    ["rescnn", "residual 1-D CNN blocks only: the smallest and fastest"],
    ["rescnn+mlp480", "a per-frame MLP in front of the CNN"],
    ["rescnn+mlp480+dropout", "… with dropout 0.3"],
    ["rescnn+mlp480+dropout+bilstm", "… with a 2-layer BiLSTM over the frames"],
    ["cnn_transformer", "CNN blocks, then a Transformer encoder"],
    ["transformer_only", "a Transformer encoder on the front end's frames"],
  ];
  const pipelines = LADDER.map(([name, description], i) => ({ name, description, available: true, offline: true, recommended: i === 0 }));

  function project(pid, info, reload) {
    const report = $("#upload-report"), box = $("#classes");
    $("#new-class").hidden = true;
    document.querySelector("#examples h2").textContent = "Recordings and their text";
    document.querySelector("#examples .hint").textContent = "Each recording comes with its text: what it says, or the keys typed during it. " +
      "Drop a .zip holding the recordings and one CSV with a header path,text (each row: a recording's path inside the zip, its text); " +
      "or record a clip and type its text beside it. At most 500 printable characters per text.";
    document.querySelector(".sub").textContent = "Three steps: add recordings with their text, train, then look at the character error rate and try the model.";
    const compareHint = document.querySelector("#compare-recipes .hint");
    if (compareHint) compareHint.textContent = "Train several models of the ladder on the same split and the same cross-validation folds. " +
      "konstrukt ranks them by character error rate and recommends the lowest cross-validation CER — never chosen on the test split. The settings above apply to every model.";
    const healthHint = document.querySelector("#health .hint");
    if (healthHint) healthHint.textContent = "Your recordings and texts checked before training: durations, text lengths, the alphabet, copies, " +
      "characters seen once, and texts too long for their recording at the model's frame rate (CTC cannot align those).";
    $("#download-project").title = "recordings, their texts and the settings in one file";
    for (const name of ["optimizer", "target_size", "early_stopping"]) { const f = document.querySelector(`#train-form [name="${name}"]`); if (f) f.closest(".field").hidden = true; }
    $("#head-mode")?.closest(".gap-top")?.setAttribute("hidden", "");

    async function send(files, text) {
      const form = new FormData();
      for (const f of files) form.append("files", f, f.name);
      if (text !== undefined) form.append("text", text);
      report.replaceChildren(el("div", { class: "notice warn" }, `Checking ${count(files.length, "file")}…`));
      try {
        const r = await api("POST", `/api/projects/${pid}/recordings`, form);
        const parts = [];
        if (r.added.length) parts.push(el("div", { class: "notice ok" }, `Added ${count(r.added.length, "recording")}.`));
        if (r.rejected.length) parts.push(el("div", { class: "notice bad" }, el("b", {}, `${count(r.rejected.length, "file")} could not be used:`),
          el("ul", {}, r.rejected.map(x => el("li", {}, el("b", {}, x.file), ": ", x.error)))));
        report.replaceChildren(...parts);
        await reload();
        return true;
      } catch (err) { showError(report, err); return false; }
    }

    // the zip drop, and the recorder: a clip (recorded, captured or chosen) with its typed text
    const zipInput = el("input", { type: "file", hidden: true, accept: ".zip", onchange: e => send([...e.target.files]) });
    const drop = el("div", { class: "drop", id: "seq-drop", onclick: () => zipInput.click() }, "Drop a .zip (recordings + a path,text CSV) here, or click to choose", zipInput);
    drop.addEventListener("dragover", e => { e.preventDefault(); drop.classList.add("over"); });
    drop.addEventListener("dragleave", () => drop.classList.remove("over"));
    drop.addEventListener("drop", e => { e.preventDefault(); drop.classList.remove("over"); send([...e.dataTransfer.files]); });
    const text = el("input", { id: "seq-text", maxlength: 500, placeholder: "Its text, e.g. hello world", class: "grow" });
    const withText = async f => {
      if (!text.value.trim()) { showError(report, new Error("Type the recording's text first: what it says, or what was typed.")); return; }
      if (await send([f], text.value)) text.value = "";
    };
    const clipInput = el("input", { type: "file", hidden: true, accept: info.accept, onchange: e => e.target.files[0] && withText(e.target.files[0]) });
    const capture = el("div", { class: "capture-row" });
    if (info.capture === "microphone") {
      const rec = el("button", { type: "button", class: "small" }, "● Record");
      recorderButton(rec, withText, Math.max(info.capture_seconds || 3, 10));
      capture.append(rec);
    } else if (window.CAPTURES?.[info.capture]) capture.append(window.CAPTURES[info.capture].samples(withText, info, "seq"));
    const recorder = el("div", { class: "class-card", id: "seq-recorder" }, el("div", { class: "head" }, el("h3", {}, "One recording with its text")),
      el("div", { class: "row" }, text, el("label", { class: "btn small" }, "Choose a file", clipInput)), capture);

    function row(s) {
      const edit = el("input", { value: s.text || "", maxlength: 500, class: "grow", "aria-label": `text of ${s.filename}` });
      edit.addEventListener("change", async () => {
        try { await api("PATCH", `/api/samples/${s.id}/text`, { text: edit.value }); edit.classList.remove("bad"); toast("Text saved"); }
        catch (err) { edit.classList.add("bad"); toast(err.message, true); }
      });
      const del = el("button", { class: "small danger", title: "Delete this recording", onclick: async () => { await api("DELETE", `/api/samples/${s.id}`); await reload(); } }, "×");
      return el("div", { class: "seq-row" }, el("div", { class: "seq-file small" }, previewKind(info.preview).make(`/api/samples/${s.id}/file`, s.filename),
        info.preview === "audio" ? el("span", { class: "muted" }, s.filename) : null), el("div", { class: "row" }, edit, del));
    }

    // data health: the counts (konstrukt/sequences/health.py), then the findings as class projects show them
    function health(box, h, opts) {
      const st = h.stats, found = el("div", { id: "seq-findings" });
      renderHealth(found, h, opts);
      if (!st) { box.replaceChildren(found); return; }
      const spread = (s, unit) => s ? `${s.min}–${s.max}${unit} (median ${s.median}${unit})` : "–";
      const rows = [["Recordings", `${st.recordings}${st.subjects ? ` · per subject: ${Object.entries(st.subjects).map(([k, n]) => `${k} ${n}`).join(", ")}` : ""}`],
        ["Durations", spread(st.duration_seconds, " s")], ["Text lengths", spread(st.text_length, " tokens")],
        ["Alphabet", Object.entries(st.alphabet || {}).map(([t, n]) => `${t === " " ? "␣" : t}×${n}`).join("  ") || "–"]];
      if (st.output_frames_per_second) rows.push(["Model output", `about ${st.output_frames_per_second} frames per second`]);
      box.replaceChildren(el("table", { class: "small", id: "seq-stats" }, rows.map(([k, v]) => el("tr", {}, el("td", { class: "muted" }, k), el("td", {}, v)))), found);
    }

    return {
      pipelines,
      health,
      render(p) {
        const samples = p.classes.flatMap(c => c.samples);
        $("#sample-total").textContent = count(samples.length, "recording");
        box.classList.remove("grid");
        box.replaceChildren(el("div", { class: "grid" }, el("div", { class: "class-card" }, el("div", { class: "head" }, el("h3", {}, "A zip with a CSV")), drop), recorder),
          el("div", { class: "seq-list gap-top", id: "seq-list" }, samples.length ? samples.map(row)
            : [el("div", { class: "empty" }, "No recordings yet: a few dozen with their text are a start, more is better.")]));
      },
    };
  }

  function results(r, id, setupTry) {
    $("#progress-card").hidden = true; $("#results").hidden = false;
    $("#downloads").hidden = false; $("#download").href = `/api/jobs/${id}/download`;
    // exports decode to text (predict.py: greedy, --beam N); there is no web page for sequence runs yet
    const web = document.querySelector('[data-export="web"]');
    if (web) web.closest(".dl").hidden = true;
    for (const b of document.querySelectorAll("[data-export]")) b.onclick = () => exportBundle(id, b);  // app.js: an export job
    document.querySelector("#downloads .hint").textContent = "Each download is a zip with the model and a predict.py that prints the decoded text of a recording (greedy, or --beam N), checked to give the same texts as here.";
    const t = r.test || r.val || {}, cv = r.cv;
    const big = [el("div", { class: "metric" }, el("div", { class: "v", id: "cer" }, pct(t.cer)), el("div", { class: "l" }, `character error rate on ${t.n} ${r.test ? "test" : "validation"} recordings (lower is better)`))];
    if (cv && cv.cer_mean != null) big.push(el("div", { class: "metric" }, el("div", { class: "v" }, pct(cv.cer_mean)), el("div", { class: "l" }, `± ${pct(cv.cer_std)} · ${cv.k}-fold cross-validation CER`)));
    big.push(el("div", { class: "metric" }, el("div", { class: "v" }, pct(t.exact_match)), el("div", { class: "l" }, "recordings decoded exactly")));
    $("#big-metrics").replaceChildren(...big);
    $("#trust").replaceChildren(...(r.notes || []).map(n => el("div", { class: "notice warn" }, n.text)));
    const rows = [["Character error rate", pct(t.cer)], ["Exact match", pct(t.exact_match)],
      ["Substitutions · insertions · deletions", `${t.substitutions ?? "–"} · ${t.insertions ?? "–"} · ${t.deletions ?? "–"}`]];
    if (t.wer != null) rows.splice(1, 0, ["Word error rate", pct(t.wer)]);
    if (cv && cv.cer_mean != null) rows.push([`CV CER (${cv.k} folds)`, `${pct(cv.cer_mean)} ± ${pct(cv.cer_std)}`]);
    if (r.val && r.test) rows.push(["Validation CER", pct(r.val.cer)]);
    rows.push(["Training time", `${(r.train_seconds || 0).toFixed(1)} s · ${(r.params || 0).toLocaleString()} parameters`]);
    $("#metrics-table").replaceChildren(...rows.map(([k, v]) => el("tr", {}, el("td", {}, k), el("td", { class: "num" }, v))));
    const table = $("#class-table");
    table.closest(".cols").querySelectorAll("h3")[1].textContent = "Worst examples";
    table.replaceChildren(el("tr", {}, el("th", {}, "recording"), el("th", {}, "text"), el("th", {}, "decoded"), el("th", { class: "num" }, "CER")),
      ...(t.worst || []).map(w => el("tr", {}, el("td", { class: "small" }, w.name || w.file), el("td", {}, el("code", {}, w.text)), el("td", {}, w.decoded ? el("code", {}, w.decoded) : el("span", { class: "muted small" }, "(nothing)")), el("td", { class: "num" }, pct(w.cer)))));
    $("#health").hidden = true;
    $("#img-cm").closest("figure").hidden = true;
    $("#img-curves").src = `/api/jobs/${id}/files/curves.png`;
    document.querySelector("#try .hint").textContent = "Give the model a new recording it has not seen; it shows the text it decodes and how sure it is.";
    setupTry();
  }

  // a compare job's leaderboard: CER per model (konstrukt/sequences/compare.py), each row a run
  function leaderboard(b, id) {
    const rec = b.recommendation;
    $("#compare-card").hidden = true;
    document.querySelector("h1").textContent = "Compare models";
    document.querySelector(".sub").textContent = "Several sequence models trained on the same recordings, the same split and the same cross-validation folds.";
    const cv = r => r.cv_cer_mean == null ? "–" : `${pct(r.cv_cer_mean)} ± ${pct(r.cv_cer_std)}`;
    const cols = [["Model", r => r.job_id ? el("a", { href: `/jobs/${r.job_id}` }, r.name) : r.name], ["CV CER", cv],
      ["Test CER", r => pct(r.test_cer)], ["Exact", r => pct(r.exact_match)], ["Training", r => `${(r.train_seconds || 0).toFixed(1)} s`],
      ["Parameters", r => (r.params || 0).toLocaleString()], ["Latency", r => r.latency_ms_batch1 == null ? "–" : `${r.latency_ms_batch1.toFixed(1)} ms`],
      ["", r => rec && r.name === rec.name ? el("span", { class: "pill succeeded" }, "recommended") : ""]];
    $("#leaderboard").replaceChildren(
      el("section", { class: "card", id: "recommendation" }, el("h2", {}, rec ? `Recommended: ${rec.name}` : "No recommendation"),
        rec ? el("p", {}, rec.reason) : null,
        rec && rec.job_id ? el("a", { class: "btn primary", id: "open-winner", href: `/jobs/${rec.job_id}` }, "Open the recommended run") : null),
      el("section", { class: "card" }, el("h2", {}, "Leaderboard"),
        el("p", { class: "hint" }, b.folds ? `Every model was trained on the same split and cross-validated on the same ${b.folds} folds. Lower CER is better.` : "Every model was trained on the same split (no cross-validation: too many recordings, or cv 0). Lower CER is better."),
        el("div", { class: "scroll-x" }, el("table", { id: "leaderboard-table" }, el("tr", {}, cols.map(([h]) => el("th", {}, h))),
          b.rows.map(r => el("tr", {}, cols.map(([, f]) => el("td", {}, f(r))))))),
        el("figure", {}, el("img", { src: `/api/jobs/${id}/files/leaderboard.png`, alt: "CER per model", class: "fit" }))));
  }

  // runs picked by hand on the compare page: the rows of sequence reports
  const compareRows = t => [["Model", r => r.pipeline], ["Test CER", r => pct(t(r).cer)], ["Exact", r => pct(t(r).exact_match)],
    ["CV CER", r => r.cv && r.cv.cer_mean != null ? `${pct(r.cv.cer_mean)} ± ${pct(r.cv.cer_std)}` : "–"],
    ["Test recordings", r => t(r).n], ["Training", r => `${(r.train_seconds || 0).toFixed(1)} s`],
    ["Parameters", r => (r.params || 0).toLocaleString()], ["Epochs (best)", r => `${(r.history || []).length} (${r.best_epoch})`]];

  // Try it: the decoded text and its confidence (geometric mean of the frame probabilities)
  const answer = (p, file) => el("div", {}, el("div", { class: "muted small" }, file.name),
    el("div", { class: "answer" }, "It reads ", el("b", { id: "decoded" }, p.text ? `“${p.text}”` : "nothing (no text decoded)")),
    el("div", { class: "small muted", id: "confidence" }, `confidence ${pct(p.confidence)}`));

  window.SEQUENCE = { project, results, answer, leaderboard, compareRows };

  // the projects page: "answers a text" only for tasks whose recordings can carry text
  if (document.body.dataset.page === "projects") document.addEventListener("DOMContentLoaded", async () => {
    const kind = $("#kind-select"), task = $("#task-select");
    if (!kind || !task) return;
    const tasks = await api("GET", "/api/tasks").catch(() => []);
    const sync = () => {
      const t = tasks.find(x => x.name === task.value), ok = !t || t.sequence;
      kind.querySelector('[value="sequence"]').disabled = !ok;
      if (!ok) kind.value = "classes";
    };
    task.addEventListener("change", sync);
    new MutationObserver(sync).observe(task, { childList: true });
    sync();
  });
})();
