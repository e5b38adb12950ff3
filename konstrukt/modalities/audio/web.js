// The audio modality's part of the exported web page (copied as input.js): a recording becomes the
// model's input as konstrukt makes it — decoded, resampled to the model's rate (by the browser:
// WebAudio's resampler, not soxr, so a file at another rate differs slightly from konstrukt's
// waveform; a file at the model's rate is the same sample for sample), mono (mean of the channels),
// the first `duration` seconds cropped or zero-padded, or every window of a long file (they vote).
// The log-mel front end runs inside the model.
(function () {
  "use strict";

  async function waveform(blob, rate) {
    const data = await blob.arrayBuffer();
    let audio;
    try {
      // an OfflineAudioContext at the model's rate decodes and resamples to that rate
      audio = await new OfflineAudioContext(1, 1, rate).decodeAudioData(data);
    } catch (exc) {
      throw new Error("not a recording this browser can decode");
    }
    if (audio.length === 0) throw new Error("contains no audio samples");
    const wave = new Float32Array(audio.length);
    for (let c = 0; c < audio.numberOfChannels; c++) {
      const ch = audio.getChannelData(c);
      for (let i = 0; i < wave.length; i++) wave[i] += ch[i];
    }
    if (audio.numberOfChannels > 1) for (let i = 0; i < wave.length; i++) wave[i] /= audio.numberOfChannels;
    return wave;
  }

  function fixLength(wave, n) {
    const out = new Float32Array(n); // zero padding at the end
    out.set(wave.subarray(0, Math.min(n, wave.length)));
    return out;
  }

  // models that take the waveform without its zero padding (wav2vec2): cut it, as predict.py does
  function trim(wave, unpadded, minimum = 400) {
    if (!unpadded) return wave;
    let last = wave.length - 1;
    while (last >= 0 && wave[last] === 0) last--;
    return wave.subarray(0, Math.max(last + 1, Math.min(minimum, wave.length)));
  }

  async function inputs(blob, pre, config) {
    const n = pre.length, unpadded = Boolean(config.web && config.web.unpadded);
    const wave = await waveform(blob, pre.sample_rate);
    const one = w => { const x = trim(fixLength(w, n), unpadded); return { data: x, dims: [x.length] }; };
    if (pre.long_files !== "windows") return [one(wave)];
    const starts = [];
    for (let s = 0; s < Math.max(wave.length, 1); s += n) starts.push(s);
    if (starts.length > 1 && wave.length - starts[starts.length - 1] < Math.floor(n / 4)) starts.pop();
    return starts.map(s => one(wave.subarray(s, s + n)));
  }

  // the microphone: records `duration` seconds, then classifies them
  function live(box, pre, classify, status) {
    const button = document.createElement("button"), seconds = Math.max(1, pre.duration);
    button.textContent = `Record ${seconds} s`;
    button.onclick = async () => {
      let stream;
      try {
        stream = await navigator.mediaDevices.getUserMedia({ audio: true });
      } catch (exc) {
        status(`microphone: ${exc.message || exc}`, true);
        return;
      }
      const recorder = new MediaRecorder(stream), chunks = [];
      recorder.ondataavailable = e => chunks.push(e.data);
      recorder.onstop = () => {
        stream.getTracks().forEach(t => t.stop());
        button.disabled = false;
        classify(new Blob(chunks, { type: recorder.mimeType }));
      };
      button.disabled = true;
      status("Recording…");
      recorder.start();
      setTimeout(() => recorder.stop(), seconds * 1000);
    };
    box.append(button);
  }

  self.konstruktInput = { accept: "audio/*,.wav,.flac,.ogg,.mp3", inputs, live };
})();
