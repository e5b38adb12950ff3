// The signal modality's part of the exported web page (copied as input.js): a CSV or NPY file
// becomes the model's raw (channels, length) windows as the bundle's predict.py makes them — columns
// are channels, an optional header and time column; NPY 1-D or 2-D, the longer axis time unless the
// run's layout says; a file shorter than a window padded (channel mean, or the last value), a longer
// one cut into windows that vote. The standardisation runs inside the model. Not here: NPZ files,
// and files at a sampling rate other than the model's (predict.py resamples those).
(function () {
  "use strict";
  const TIME_NAMES = new Set(["time", "t", "timestamp", "times", "seconds", "sec", "secs", "s", "time_s",
                              "time (s)", "time[s]", "t_s", "elapsed"]);
  const MS_NAMES = new Set(["ms", "time_ms", "time (ms)", "time[ms]", "timestamp_ms"]);
  const isNumber = c => c.trim() !== "" && Number.isFinite(Number(c));

  function parseCsv(text, sig) {
    const rows = text.replace(/^\ufeff/, "").split(/\r?\n/).map(l => l.split(",")).filter(r => r.some(c => c.trim()));
    let header = null;
    if (rows.length && !rows[0].every(isNumber)) header = rows.shift();
    if (!rows.length) throw new Error("no data rows");
    const width = header ? header.length : rows[0].length;
    if (rows.some(r => r.length !== width)) throw new Error(`ragged rows (expected ${width} cells per row)`);
    const values = rows.map(r => r.map(Number));
    if (values.some(r => r.some(v => !Number.isFinite(v)))) throw new Error("NaN or infinite values");
    let isTime = false, scale = 1.0;
    if (sig.time_column === "first" && width >= 2) isTime = true;
    else if (sig.time_column === "auto" && width >= 2) {
      if (header) {
        const name = header[0].trim().toLowerCase();
        if (MS_NAMES.has(name)) { isTime = true; scale = 1e-3; } else isTime = TIME_NAMES.has(name);
      } else {
        const steps = values.slice(1).map((r, i) => r[0] - values[i][0]);
        const lo = Math.min(...steps), hi = Math.max(...steps), mean = steps.reduce((a, b) => a + b, 0) / steps.length;
        isTime = steps.length >= 2 && lo > 0 && hi - lo <= 1e-3 * mean;
      }
    }
    let rate = null;
    if (isTime) {
      const steps = values.slice(1).map((r, i) => (r[0] - values[i][0]) * scale).sort((a, b) => a - b);
      if (!steps.length || steps[0] <= 0) throw new Error("the time column does not increase");
      const mid = steps.length >> 1, median = steps.length % 2 ? steps[mid] : (steps[mid - 1] + steps[mid]) / 2;
      rate = Number((1 / median).toPrecision(6));
    }
    const first = isTime ? 1 : 0, channels = width - first, t = values.length, data = new Float32Array(channels * t);
    for (let c = 0; c < channels; c++) for (let i = 0; i < t; i++) data[c * t + i] = values[i][c + first];
    return { data, channels, t, rate };
  }

  const NPY_TYPES = { "f4": Float32Array, "f8": Float64Array, "i1": Int8Array, "i2": Int16Array, "i4": Int32Array,
                      "u1": Uint8Array, "u2": Uint16Array, "u4": Uint32Array, "i8": BigInt64Array, "u8": BigUint64Array,
                      "b1": Uint8Array };

  function parseNpy(buf, sig) {
    const u8 = new Uint8Array(buf);
    if (u8[0] !== 0x93 || String.fromCharCode(...u8.subarray(1, 6)) !== "NUMPY") throw new Error("not an NPY file");
    const major = u8[6], view = new DataView(buf);
    const hlen = major === 1 ? view.getUint16(8, true) : view.getUint32(8, true), start = major === 1 ? 10 : 12;
    const header = new TextDecoder("latin1").decode(u8.subarray(start, start + hlen));
    const descr = /'descr':\s*'([<>|=])(\w\d)'/.exec(header), order = /'fortran_order':\s*(True|False)/.exec(header);
    const shape = /'shape':\s*\(([^)]*)\)/.exec(header);
    if (!descr || !order || !shape) throw new Error("an NPY header this page cannot read");
    const Type = NPY_TYPES[descr[2]];
    if (!Type || (descr[1] === ">" && Type.BYTES_PER_ELEMENT > 1)) throw new Error(`not a numeric array this page reads (${descr[1]}${descr[2]})`);
    const dims = shape[1].split(",").map(s => s.trim()).filter(Boolean).map(Number);
    const size = dims.reduce((a, b) => a * b, 1);
    if (!size) throw new Error("not a non-empty numeric array");
    const raw = new Type(buf.slice(start + hlen, start + hlen + size * Type.BYTES_PER_ELEMENT));
    const flat = Float32Array.from(raw, Number);
    if (dims.length === 1) return { data: flat, channels: 1, t: dims[0], rate: null };
    if (dims.length !== 2) throw new Error(`a ${dims.length}-D array; a signal is 1-D or 2-D`);
    let [a, b] = dims;
    // row-major (a, b) element [i][j]; Fortran order stores it transposed
    const at = order[1] === "True" ? (i, j) => flat[j * a + i] : (i, j) => flat[i * b + j];
    let timeFirst = sig.layout === "time_first" || (sig.layout === "auto" && a > b);
    if (sig.layout === "auto" && a === b) throw new Error(`square (${a}, ${b}): which axis is time cannot be told`);
    const channels = timeFirst ? b : a, t = timeFirst ? a : b, data = new Float32Array(channels * t);
    for (let c = 0; c < channels; c++) for (let i = 0; i < t; i++) data[c * t + i] = timeFirst ? at(i, c) : at(c, i);
    if (!data.every(Number.isFinite)) throw new Error("NaN or infinite values");
    return { data, channels, t, rate: null };
  }

  function window(x, start, n, pre, padValue) {
    const { data, channels, t } = x, out = new Float32Array(channels * n), sig = pre.signal;
    for (let c = 0; c < channels; c++) {
      for (let i = 0; i < n; i++) {
        const k = start + i;
        out[c * n + i] = k < t ? data[c * t + k] : sig.pad === "edge" ? data[c * t + t - 1] : padValue[c];
      }
    }
    return { data: out, dims: [channels, n] };
  }

  async function inputs(blob, pre) {
    const sig = pre.signal, name = (blob.name || "").toLowerCase();
    const x = name.endsWith(".csv") || blob.type === "text/csv" ? parseCsv(await blob.text(), sig)
                                                               : parseNpy(await blob.arrayBuffer(), sig);
    if (x.channels !== pre.channels) throw new Error(`has ${x.channels} channels; the model was trained on ${pre.channels}`);
    const rate = x.rate || sig.sample_rate, model = Number(pre.sample_rate);
    if (rate && pre.unit !== "samples" && Math.abs(rate - model) > 1e-3 * Math.max(rate, model)) {
      throw new Error(`recorded at ${rate} Hz; this page takes ${model} Hz files (predict.py resamples)`);
    }
    const n = pre.length, hop = Math.max(1, Math.round((sig.hop || sig.window / 2) * model));
    const padValue = sig.standardize && pre.mean ? pre.mean : new Array(x.channels).fill(0);
    const starts = [];
    for (let s = 0; x.t >= n && s <= x.t - n; s += hop) starts.push(s);
    if (starts.length <= 1) {
      const start = x.t > n && sig.crop === "center" ? Math.floor((x.t - n) / 2) : 0;
      return [window(x, start, n, pre, padValue)];
    }
    return starts.map(s => window(x, s, n, pre, padValue));
  }

  self.konstruktInput = { accept: ".csv,.npy", inputs, live: null };
})();
