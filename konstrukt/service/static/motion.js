// konstrukt motion recorder: a phone's or laptop's motion sensors as a signal recording.
// The browser's DeviceMotionEvent (acceleration with and without gravity, rotation rate) — or the
// Generic Sensor API where it is present and DeviceMotion stays silent — sampled at the device's
// rate, drawn live, cut to the project's window, and handed on as a CSV file with a time column
// (time_s), exactly like a file the user drops. app.js calls CAPTURES[info.capture] for tasks whose
// modality says capture "motion"; it uses app.js's el / api / toast helpers at call time.
"use strict";

const MOTION_COLUMNS = ["time_s", "acc_x", "acc_y", "acc_z", "acc_gravity_x", "acc_gravity_y", "acc_gravity_z",
  "rot_alpha", "rot_beta", "rot_gamma"];
const MOTION_GROUPS = [["acceleration (m/s²)", 0], ["with gravity (m/s²)", 3], ["rotation (°/s)", 6]];
const MOTION_COLOURS = ["#d92d20", "#12b76a", "#4f46e5"];
const QUIET_MS = 1000;  // no reading from DeviceMotion this long: try the Generic Sensor API
const GIVE_UP_MS = 2500;  // still nothing: this device has no sensors the page may read
const SENSOR_HZ = 60;  // the Generic Sensor API's sampling frequency (what phones' devicemotion gives)

// Why this page cannot read motion sensors here, in plain words (null: it may).
function motionBlocked() {
  if (!window.isSecureContext) return "Motion sensors work only on a secure page. This page was opened over plain http from another device, so the browser keeps its sensors from it. Start konstrukt with --tls-self-signed (see “Record on your phone” above) and open the https:// address.";
  if (!("DeviceMotionEvent" in window) && !("Accelerometer" in window)) return "This browser does not share motion sensors with pages. Open this page in a phone's browser (Chrome, Safari or Firefox).";
  return null;
}

// One recording: readings [t (s), 9 values] from whichever source answers, until `seconds` have passed.
class MotionRecording {
  constructor(seconds, onReading) { this.seconds = seconds; this.onReading = onReading; this.rows = []; this.source = ""; this.stops = []; }

  async start() {
    // iOS asks the user, and only inside a tap: this runs in the click handler, before any await
    if (typeof DeviceMotionEvent !== "undefined" && typeof DeviceMotionEvent.requestPermission === "function") {
      if (await DeviceMotionEvent.requestPermission() !== "granted") throw new Error("The browser was not allowed to use the motion sensors. Allow “Motion & Orientation Access” and try again.");
    }
    const onMotion = e => {
      const a = e.acceleration || {}, g = e.accelerationIncludingGravity || {}, r = e.rotationRate || {};
      const v = [a.x, a.y, a.z, g.x, g.y, g.z, r.alpha, r.beta, r.gamma].map(x => (x === null || x === undefined) ? NaN : Number(x));
      if (v.every(Number.isNaN)) return;  // a browser without sensors fires one empty event
      this.source = this.source || "DeviceMotion";
      if (this.source === "DeviceMotion") this.add(e.timeStamp / 1000, v);
    };
    window.addEventListener("devicemotion", onMotion);
    this.stops.push(() => window.removeEventListener("devicemotion", onMotion));
    this.quiet = setTimeout(() => { if (!this.rows.length) this.startSensors(); }, QUIET_MS);
    return new Promise((resolve, reject) => {
      this.resolve = resolve;
      this.giveUp = setTimeout(() => { if (!this.rows.length) { this.resolve = null; this.stop(); reject(new Error(
        "No motion readings arrived: this device has no motion sensors, or the browser does not share them. Open this page on a phone (scan the code under “Record on your phone”).")); } }, GIVE_UP_MS);
    });
  }

  // Generic Sensor API: accelerometer (with gravity), linear acceleration and gyroscope (rad/s → °/s).
  // A sensor reports a reading when it changes, so a still device says little: the latest readings
  // are sampled on a clock at the frequency asked for (the way the API is meant to be read).
  startSensors() {
    if (!("Accelerometer" in window)) return;
    try {
      const make = (name) => name in window ? new window[name]({ frequency: SENSOR_HZ }) : null;
      const acc = make("Accelerometer"), lin = make("LinearAccelerationSensor"), gyro = make("Gyroscope");
      const deg = 180 / Math.PI, val = (s, k, f = 1) => (s && s.hasReading && s[k] !== null) ? s[k] * f : NaN;
      const sample = () => {
        if (this.source && this.source !== "Generic Sensor API") return;
        if (!acc.hasReading) return;
        this.source = "Generic Sensor API"; this.rate = SENSOR_HZ;
        // rotation as Chrome's devicemotion gives it: alpha about x, beta about y, gamma about z
        this.add(performance.now() / 1000, [val(lin, "x"), val(lin, "y"), val(lin, "z"), acc.x, acc.y, acc.z,
          val(gyro, "x", deg), val(gyro, "y", deg), val(gyro, "z", deg)]);
      };
      for (const s of [acc, lin, gyro]) if (s) { s.addEventListener("error", () => s.stop()); s.start(); this.stops.push(() => s.stop()); }
      const clock = setInterval(sample, 1000 / SENSOR_HZ);
      this.stops.push(() => clearInterval(clock));
    } catch (e) { /* not allowed here (a permissions policy, no sensor): DeviceMotion stays the only source */ }
  }

  add(t, values) {
    if (!this.rows.length) {  // readings that stop early end the recording a second after its window
      this.t0 = t; this.deadline = setTimeout(() => this.stop(), (this.seconds + 1) * 1000);
    }
    const rel = t - this.t0;
    if (this.rows.length && rel <= this.rows[this.rows.length - 1][0]) return;  // a repeated timestamp adds nothing
    this.rows.push([rel, values]);  // the first reading past the window too: the window's end lies before it
    this.onReading(this.rows);
    if (rel >= this.seconds) this.stop();
  }

  stop() {
    clearTimeout(this.quiet); clearTimeout(this.giveUp); clearTimeout(this.deadline);
    this.stops.splice(0).forEach(f => f());
    if (this.resolve) { this.resolve(this.rows); this.resolve = null; }
  }
}

// The readings on an even grid at the device's rate — the median step between readings, or the rate
// a source was sampled at on a clock — which is what a time column promises. Gaps a channel left
// (null) take the nearest value; a channel the device never reported is 0.
// Returns { rate, csv, seconds, missing }.
function motionCsv(rows, maxSeconds, knownRate = null) {
  if (rows.length < 2) throw new Error("Too few motion readings to make a recording (fewer than 2). Record again, holding the device still for a moment first.");
  const steps = rows.slice(1).map((r, i) => r[0] - rows[i][0]).sort((a, b) => a - b);
  const raw = 1 / steps[Math.floor(steps.length / 2)];
  const rate = knownRate || (raw >= 10 ? Math.round(raw) : Math.round(raw * 100) / 100);
  const cols = rows[0][1].length, missing = [];
  for (let c = 0; c < cols; c++) {  // fill gaps: forward, then the first value backwards; never-seen: 0
    let last = NaN;
    for (const r of rows) { if (Number.isNaN(r[1][c])) r[1][c] = last; else last = r[1][c]; }
    const first = rows.find(r => !Number.isNaN(r[1][c]));
    if (!first) missing.push(MOTION_COLUMNS[c + 1]);
    for (const r of rows) if (Number.isNaN(r[1][c])) r[1][c] = first ? first[1][c] : 0;
  }
  const span = Math.min(rows[rows.length - 1][0], maxSeconds);
  const n = Math.min(Math.floor(span * rate + 1e-6) + 1, Math.round(maxSeconds * rate));
  const lines = [MOTION_COLUMNS.join(",")];
  for (let k = 0, j = 0; k < n; k++) {
    const t = k / rate;
    while (j < rows.length - 2 && rows[j + 1][0] <= t) j++;
    const [t0, a] = rows[j], [t1, b] = rows[j + 1], w = Math.min(1, Math.max(0, (t - t0) / (t1 - t0)));
    lines.push([+t.toFixed(9), ...a.map((v, c) => +(v + w * (b[c] - v)).toPrecision(6))].join(","));
  }
  return { rate, csv: lines.join("\n") + "\n", seconds: n / rate, missing };
}

// Three small panels (acceleration, with gravity, rotation), each scaled to what it shows.
function drawMotion(canvas, rows, seconds) {
  const ctx = canvas.getContext("2d"), W = canvas.width = canvas.clientWidth * devicePixelRatio || 600;
  const H = canvas.height = canvas.clientHeight * devicePixelRatio || 180, h = H / 3;
  ctx.clearRect(0, 0, W, H); ctx.font = `${11 * devicePixelRatio}px system-ui, sans-serif`;
  MOTION_GROUPS.forEach(([label, first], p) => {
    const top = p * h, vals = rows.flatMap(r => r[1].slice(first, first + 3)).filter(Number.isFinite);
    const lim = Math.max(1e-3, ...vals.map(Math.abs));
    ctx.strokeStyle = "#e4e7ec"; ctx.beginPath(); ctx.moveTo(0, top + h / 2); ctx.lineTo(W, top + h / 2); ctx.stroke();
    ctx.fillStyle = "#667085"; ctx.fillText(`${label} ±${lim.toPrecision(2)}`, 4, top + 12 * devicePixelRatio);
    for (let c = 0; c < 3; c++) {
      ctx.strokeStyle = MOTION_COLOURS[c]; ctx.beginPath();
      rows.forEach(([t, v], i) => {
        if (!Number.isFinite(v[first + c])) return;
        const x = W * t / seconds, y = top + h / 2 - (h / 2 - 4) * v[first + c] / lim;
        i ? ctx.lineTo(x, y) : ctx.moveTo(x, y);
      });
      ctx.stroke();
    }
  });
}

// The recorder: a button, a line of status and the live plot. onFile(File) gets the CSV.
function motionRecorder(onFile, seconds, label = "● Record motion", whose = "the project's window") {
  const blocked = motionBlocked();
  const status = el("div", { class: "small muted motion-status" }, blocked || `Records ${seconds} s (${whose}) from this device's motion sensors.`);
  const plot = el("canvas", { class: "motion-plot", hidden: true, "aria-label": "motion sensor readings" });
  const button = el("button", { type: "button", class: "small motion-record", disabled: !!blocked }, label);
  let rec = null, frame = 0;
  button.addEventListener("click", async () => {
    if (rec) { rec.stop(); return; }
    rec = new MotionRecording(seconds, rows => { if (!frame) frame = requestAnimationFrame(() => { frame = 0; drawMotion(plot, rows, seconds); }); });
    button.textContent = "■ Stop"; plot.hidden = false; status.textContent = "Recording… move the device now.";
    try {
      const rows = await rec.start();
      const made = motionCsv(rows, seconds, rec.rate);
      drawMotion(plot, rows, seconds);
      status.textContent = `${made.seconds.toFixed(2)} s at ${made.rate} Hz from ${rec.source}` + (made.missing.length ? ` — this device does not report ${made.missing.join(", ")} (written as 0)` : "");
      onFile(new File([made.csv], `motion-${Date.now()}.csv`, { type: "text/csv" }));
    } catch (err) { status.textContent = err.message; plot.hidden = true; }
    finally { rec = null; button.textContent = label; }
  });
  return el("div", { class: "motion" }, button, status, plot);
}

// The window a recording is cut to: the one a run trained with (its report's full config, which
// holds what was chosen from the data too); on a project page, its latest finished run's.
let motionProjectWindow = Promise.resolve(null);
const motionSlots = {};  // class id -> { box, onFile }
const runWindow = async id => (await api("GET", `/api/jobs/${id}/report`)).config?.signal?.window || null;
async function motionWindow(pid) {
  const run = (await api("GET", `/api/projects/${pid}/jobs`)).find(j => j.status === "succeeded" && j.pipeline !== "compare");
  return run ? runWindow(run.id) : null;
}

// "Record on your phone": the addresses of this server on the LAN as QR codes (GET /api/connect).
async function phonePanel(anchor, path) {
  const panel = el("details", { class: "phone-panel", id: "phone-panel", open: !matchMedia("(pointer: coarse)").matches },
    el("summary", {}, "Record on your phone"), el("div", { class: "muted small" }, "Looking up this server's address…"));
  anchor.before(panel);
  const c = await api("GET", `/api/connect?path=${encodeURIComponent(path)}`);
  panel.replaceChildren(panel.firstChild,
    el("p", { class: "hint" }, "Open this page on a phone on the same network (scan the code), then press “Record motion” on a class there. The phone's accelerometer and gyroscope become a recording of this project."),
    el("div", { class: "row" }, c.addresses.map(a => el("figure", { class: "qr" },
      el("img", { src: "data:image/svg+xml;charset=utf-8," + encodeURIComponent(a.qr_svg), alt: `QR code of ${a.url}`, width: 160, height: 160 }),
      el("figcaption", {}, el("a", { href: a.url, class: "small" }, a.url))))),
    c.note ? el("div", { class: `notice ${c.secure && c.addresses.length ? "ok" : "warn"}`, id: "phone-note" }, c.note) : null);
}

window.CAPTURES = Object.assign(window.CAPTURES || {}, {
  motion: {
    // a class card: the recorder, its CSV uploaded like a dropped file
    // a class card (key: its class): the recorder, its CSV uploaded like a dropped file. The cards are
    // drawn again after each upload; a class keeps its recorder, so the last recording stays in view.
    samples: (onFile, info, key) => {
      const slot = motionSlots[key] || (motionSlots[key] = { box: el("div", { class: "motion-slot" }) });
      slot.onFile = onFile;
      if (!slot.box.firstChild) motionProjectWindow.catch(() => null)
        .then(s => slot.box.replaceChildren(motionRecorder(f => slot.onFile(f), s || info.capture_seconds)));
      return slot.box;
    },
    // the project page, once: the window its runs use, and the phone panel with the QR codes
    page: (anchor, pid) => {
      motionProjectWindow = motionWindow(pid);
      phonePanel(anchor, `/projects/${pid}`).catch(err => toast(err.message, true));
    },
    // Try it: the same recorder, one window of the run's own length
    tryIt: (onFile, info, job) => {
      const box = el("div", { class: "motion-slot", "data-capture": "motion" });
      runWindow(job.id).catch(() => null).then(s => box.replaceChildren(motionRecorder(onFile, s || info.capture_seconds,
        "● Record motion and predict", "the window this model was trained on")));
      return box;
    },
  },
});
