// The image modality's part of the exported web page (copied as input.js): a picture file becomes
// the model's input as konstrukt makes it — RGB (transparency on white, EXIF orientation applied,
// no colour-profile conversion, as Pillow reads it), stretched to size × size with Pillow's
// antialiased bilinear resampling (its fixed-point arithmetic, reproduced below), scaled to [0, 1],
// channels first. Normalisation runs inside the model.
(function () {
  "use strict";
  const PRECISION_BITS = 32 - 8 - 2; // Pillow's Resample.c, 8 bits per channel

  // Pillow's precompute_coeffs + normalize_coeffs_8bpc for the bilinear (triangle) filter
  function coefficients(inSize, outSize) {
    const scale = inSize / outSize, filterscale = Math.max(scale, 1.0), support = filterscale;
    const ksize = Math.ceil(support) * 2 + 1;
    const kk = new Int32Array(outSize * ksize), bounds = new Int32Array(outSize * 2);
    const w = new Float64Array(ksize);
    for (let xx = 0; xx < outSize; xx++) {
      const center = (xx + 0.5) * scale;
      let xmin = Math.trunc(center - support + 0.5), xmax = Math.trunc(center + support + 0.5);
      if (xmin < 0) xmin = 0;
      if (xmax > inSize) xmax = inSize;
      xmax -= xmin;
      let ww = 0.0;
      for (let x = 0; x < xmax; x++) {
        const t = Math.abs((x + xmin - center + 0.5) / filterscale);
        w[x] = t < 1.0 ? 1.0 - t : 0.0;
        ww += w[x];
      }
      for (let x = 0; x < xmax; x++) {
        const k = ww !== 0.0 ? w[x] / ww : w[x];
        kk[xx * ksize + x] = Math.trunc(k < 0 ? -0.5 + k * (1 << PRECISION_BITS) : 0.5 + k * (1 << PRECISION_BITS));
      }
      bounds[xx * 2] = xmin;
      bounds[xx * 2 + 1] = xmax;
    }
    return { kk, bounds, ksize };
  }

  function clip8(v) {
    const x = Math.floor(v / (1 << PRECISION_BITS)); // >> PRECISION_BITS (v may exceed 2^31)
    return x < 0 ? 0 : x > 255 ? 255 : x;
  }

  // one pass along an axis of a (h, w, 3) uint8 image; Pillow does the width first, then the height
  function resampleAxis(src, w, h, outSize, horizontal) {
    const { kk, bounds, ksize } = coefficients(horizontal ? w : h, outSize);
    const ow = horizontal ? outSize : w, oh = horizontal ? h : outSize;
    const out = new Uint8ClampedArray(ow * oh * 3);
    for (let y = 0; y < oh; y++) {
      for (let x = 0; x < ow; x++) {
        const o = horizontal ? x : y, min = bounds[o * 2], n = bounds[o * 2 + 1], k = o * ksize;
        let r = 1 << (PRECISION_BITS - 1), g = r, b = r;
        for (let i = 0; i < n; i++) {
          const s = horizontal ? (y * w + min + i) * 3 : ((min + i) * w + x) * 3, c = kk[k + i];
          r += src[s] * c; g += src[s + 1] * c; b += src[s + 2] * c;
        }
        const d = (y * ow + x) * 3;
        out[d] = clip8(r); out[d + 1] = clip8(g); out[d + 2] = clip8(b);
      }
    }
    return out;
  }

  function resize(rgb, w, h, size) {
    let out = rgb;
    if (w !== size) out = resampleAxis(out, w, h, size, true);
    if (h !== size) out = resampleAxis(out, w === size ? w : size, h, size, false);
    return out;
  }

  async function rgbPixels(blob) {
    let bitmap;
    try {
      bitmap = await createImageBitmap(blob, { imageOrientation: "from-image", premultiplyAlpha: "none",
                                               colorSpaceConversion: "none" });
    } catch (exc) {
      throw new Error("not an image this browser can read");
    }
    const { width: w, height: h } = bitmap;
    const canvas = new OffscreenCanvas(w, h), ctx = canvas.getContext("2d");
    ctx.fillStyle = "#fff"; // transparency composited onto white, as konstrukt does
    ctx.fillRect(0, 0, w, h);
    ctx.drawImage(bitmap, 0, 0);
    bitmap.close();
    const rgba = ctx.getImageData(0, 0, w, h).data, rgb = new Uint8ClampedArray(w * h * 3);
    for (let i = 0, j = 0; i < rgba.length; i += 4, j += 3) {
      rgb[j] = rgba[i]; rgb[j + 1] = rgba[i + 1]; rgb[j + 2] = rgba[i + 2];
    }
    return { rgb, w, h };
  }

  async function inputs(blob, pre) {
    const size = pre.size, { rgb, w, h } = await rgbPixels(blob);
    const px = resize(rgb, w, h, size), plane = size * size, data = new Float32Array(3 * plane);
    for (let i = 0; i < plane; i++) {
      for (let c = 0; c < 3; c++) data[c * plane + i] = px[i * 3 + c] / 255.0;
    }
    return [{ data, dims: [3, size, size] }];
  }

  // the camera: a button that classifies a frame every second while it runs
  function live(box, pre, classify, status) {
    const button = document.createElement("button"), video = document.createElement("video");
    button.textContent = "Use the camera";
    video.muted = true;
    video.playsInline = true;
    let timer = null;
    button.onclick = async () => {
      if (timer) {
        clearInterval(timer);
        timer = null;
        video.srcObject.getTracks().forEach(t => t.stop());
        video.remove();
        button.textContent = "Use the camera";
        return;
      }
      try {
        video.srcObject = await navigator.mediaDevices.getUserMedia({ video: true });
      } catch (exc) {
        status(`camera: ${exc.message || exc}`, true);
        return;
      }
      box.append(video);
      await video.play();
      button.textContent = "Stop the camera";
      const canvas = document.createElement("canvas");
      timer = setInterval(() => {
        canvas.width = video.videoWidth;
        canvas.height = video.videoHeight;
        canvas.getContext("2d").drawImage(video, 0, 0);
        canvas.toBlob(b => b && classify(b), "image/png");
      }, 1000);
    };
    box.append(button);
  }

  self.konstruktInput = { accept: "image/*", inputs, live };
})();
