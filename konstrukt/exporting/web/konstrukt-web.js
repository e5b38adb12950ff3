// The exported konstrukt model in the browser: the same for every modality.
//
// The embedded files (self.konstruktFiles: model.onnx, config.json, onnxruntime-web's WASM glue and
// binary, as base64) are decoded here; onnxruntime-web runs single-threaded WASM, so the page needs
// no SharedArrayBuffer and works from file:// as from any static host. The modality's own script
// (input.js, from its wing in konstrukt) sets self.konstruktInput: how a file becomes the model's
// inputs, exactly as konstrukt preprocesses it.
//
//   await konstrukt.ready                      // {classes, config}; konstrukt.readyAt: ms after navigation
//   await konstrukt.predict(fileOrBlob)        // {label, probabilities: {class: p, ...}} (high to low)
(function () {
  "use strict";
  const files = self.konstruktFiles || {};
  const input = self.konstruktInput;

  function bytes(name) {
    const text = files[name];
    if (text === undefined) throw new Error(`${name} is missing from this page's folder`);
    if (Uint8Array.fromBase64) return Uint8Array.fromBase64(text);
    const raw = atob(text), out = new Uint8Array(raw.length);
    for (let i = 0; i < raw.length; i++) out[i] = raw.charCodeAt(i);
    return out;
  }

  const config = JSON.parse(new TextDecoder().decode(bytes("config.json")));
  const classes = config.classes;
  let session = null;

  async function load() {
    if (!self.ort) throw new Error("onnxruntime-web (ort.wasm.min.js) did not load");
    ort.env.wasm.numThreads = 1; // no SharedArrayBuffer: works from file:// and any host
    ort.env.wasm.wasmBinary = bytes("ort-wasm-simd-threaded.wasm");
    // the WASM glue is an ES module: imported from a blob: URL (file:// refuses module files)
    const glue = new Blob([bytes("ort-wasm-simd-threaded.mjs")], { type: "text/javascript" });
    ort.env.wasm.wasmPaths = { mjs: URL.createObjectURL(glue), wasm: "embedded.wasm" };
    session = await ort.InferenceSession.create(bytes("model.onnx"), { executionProviders: ["wasm"] });
    self.konstrukt.readyAt = performance.now(); // ms since the page began loading
    return { classes: classes.slice(), config };
  }

  function softmax(logits) {
    const m = Math.max(...logits), e = logits.map(v => Math.exp(v - m)), s = e.reduce((a, b) => a + b, 0);
    return e.map(v => v / s);
  }

  // Every input (a long recording's windows) is classified on its own; the file gets their mean
  // probabilities, as konstrukt and predict.py do.
  async function predict(blob) {
    await ready;
    if (!(blob instanceof Blob)) throw new TypeError("predict() takes a File or a Blob");
    const inputs = await input.inputs(blob, config.preprocessing, config);
    const mean = new Array(classes.length).fill(0);
    for (const x of inputs) {
      const tensor = new ort.Tensor("float32", x.data, [1, ...x.dims]);
      const out = await session.run({ input: tensor });
      softmax(Array.from(out.logits.data)).forEach((p, i) => { mean[i] += p / inputs.length; });
    }
    const order = mean.map((p, i) => i).sort((a, b) => mean[b] - mean[a]);
    const probabilities = {};
    for (const i of order) probabilities[classes[i]] = mean[i];
    return { label: classes[order[0]], probabilities };
  }

  const ready = load();
  self.konstrukt = { ready, predict, classes: classes.slice(), config };

  // ------------------------------------------------------------------ the page
  const $ = sel => document.querySelector(sel);

  function show(result) {
    $("#result").hidden = false;
    $("#label").textContent = result.label;
    const body = $("#probabilities tbody");
    body.replaceChildren();
    for (const [name, p] of Object.entries(result.probabilities)) {
      const row = document.createElement("tr"), bar = document.createElement("div");
      bar.className = "bar";
      bar.style.width = `${(100 * p).toFixed(1)}%`;
      for (const cell of [name, bar, `${(100 * p).toFixed(1)} %`]) {
        const td = document.createElement("td");
        td.append(cell);
        row.append(td);
      }
      row.lastChild.className = "p";
      body.append(row);
    }
  }

  function status(text, error) {
    $("#status").textContent = text;
    $("#status").classList.toggle("error", Boolean(error));
  }

  async function classify(blob, name) {
    try {
      show(await predict(blob));
      status(name ? `${name}:` : "");
    } catch (exc) {
      status(`${name || "input"}: ${exc.message || exc}`, true);
    }
  }

  function page() {
    $("#title").textContent = `${config.pipeline.name}: ${classes.join(", ")}`;
    $("#file").accept = input.accept || "";
    $("#file").onchange = e => { const f = e.target.files[0]; if (f) classify(f, f.name); };
    const drop = $("#drop");
    drop.ondragover = e => { e.preventDefault(); drop.classList.add("over"); };
    drop.ondragleave = () => drop.classList.remove("over");
    drop.ondrop = e => {
      e.preventDefault();
      drop.classList.remove("over");
      const f = e.dataTransfer.files[0];
      if (f) classify(f, f.name);
    };
    // the camera or microphone, when the modality has one (its script builds the controls)
    if (input.live) input.live($("#live"), config.preprocessing, blob => classify(blob, "live"), status);
    $("#pick").hidden = false;
  }

  ready.then(() => { status("Ready: choose a file."); page(); },
             exc => status(`The model did not load: ${exc.message || exc}`, true));
})();
