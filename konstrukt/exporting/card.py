"""The model card (a bundle's README.md): what the model does, how good it is, how far to trust it."""
from __future__ import annotations

import numpy as np

from ..tasks import MODALITIES


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def confused_pairs(metrics: dict | None, classes: list[str], top: int = 3) -> list[str]:
    """The most frequent off-diagonal cells of the confusion matrix, in words."""
    if not metrics or not metrics.get("confusion_matrix"):
        return []
    cm = np.asarray(metrics["confusion_matrix"])
    cells = [(int(cm[i, j]), i, j) for i in range(len(cm)) for j in range(len(cm)) if i != j and cm[i, j] > 0]
    return [f"`{classes[i]}` taken for `{classes[j]}`: {n} of {int(cm[i].sum())}"
            for n, i, j in sorted(cells, reverse=True)[:top]]


FILES = {"torch_weights": "PyTorch weights and the model's constants (safetensors)",
         "torch_predict": "predict script for PyTorch (torch, torchvision)",
         "onnx": "ONNX model, fp32 (normalisation and front end inside)",
         "onnx_int8": "ONNX model, INT8-quantised",
         "predict": "predict script (command line and `from predict import predict`)",
         "requirements": "what predict.py needs, with the versions it was checked with",
         "torch_requirements": "what predict_torch.py needs",
         "config": "classes, architecture, preprocessing, metrics, parity, versions",
         "card": "this model card",
         "notice": "where the pretrained weights come from, and their licence",
         "license": "the full text of the pretrained weights' licence",
         "code_license": "the full text of the licence of the network's code",
         "web_page": "the model as a web page: open it in a browser (offline; from disk or any static host)",
         "web_model": "the ONNX model, embedded for the page",
         "web_runtime": "onnxruntime-web's WASM build, embedded for the page (with ort.wasm.min.js)",
         "web_runtime_license": "onnxruntime-web's licence (MIT)"}


def how_to_run(files: dict, commands: list[str], returns: str) -> list[str]:
    """The card's "How to run it" section of a bundle with ``files``: install, the predict.py
    ``commands``, the PyTorch and INT8 variants the bundle has, and the Python call (``returns``:
    what ``predict("file")`` gives)."""
    lines = ["## How to run it", "", "```bash", "pip install -r requirements.txt", *commands]
    if files.get("torch_predict") == "predict_torch.py":
        lines.append("pip install -r requirements-torch.txt && python predict_torch.py FILE...   # PyTorch")
    if "onnx_int8" in files and "onnx" in files:
        lines.append("python predict.py FILE... --model model.int8.onnx   # the INT8 model")
    return lines + ["```", "", "```python", "from predict import predict", f'predict("file")  # {returns}', "```", ""]


def _how_to_run(cfg: dict) -> list[str]:
    files = cfg["files"]
    lines = how_to_run(files, ["python predict.py FILE... --json"], '{"label": ..., "probabilities": {class: p, ...}}')
    if "web_page" in files:
        lines += ["In a browser: open `index.html` (offline, from disk or any static host); drop or pick a "
                  "file. From your own page's JavaScript, with the same scripts loaded:", "",
                  "```js", "await konstrukt.ready;", "const {label, probabilities} = await konstrukt.predict(file);",
                  "```", ""]
    return lines


def model_card(cfg: dict) -> str:
    """Markdown for a bundle's config.json (see :mod:`konstrukt.exporting.bundle`)."""
    m, data, train = cfg.get("metrics", {}), cfg.get("data", {}), cfg["training"]
    test, cv, classes = m.get("test"), m.get("cv"), cfg["classes"]
    arch, pipe = cfg["architecture"], cfg["pipeline"]
    words = MODALITIES.get(arch["backbone"]["modality"]).export  # the modality's own words
    lines = [f"# {cfg['task']} classifier — {pipe['name']}", "",
             f"Classifies a {words.noun} "
             f"into one of {len(classes)} classes: {', '.join(f'`{c}`' for c in classes)}. "
             f"Exported by konstrukt {cfg['versions'].get('konstrukt', '?')}; runs without konstrukt.", ""]
    lines += ["## Data", "", "| class | examples |", "|---|---|"]
    lines += [f"| {c} | {data.get('per_class', {}).get(c, '?')} |" for c in classes]
    lines += ["", f"{data.get('n', '?')} examples in all; split "
              + ", ".join(f"{k} {sum(v.values())}" for k, v in data.get("per_split", {}).items()) + ".", ""]
    lines += ["## How good it is", ""]
    if test:
        lines += [f"Test split (held out, touched once): accuracy **{_pct(test['accuracy'])}**, "
                  f"F1 (macro) {_pct(test['f1_macro'])}, on {test['n']} examples.", ""]
    if cv:
        lines += [f"{cv['folds']}-fold cross-validation: accuracy {_pct(cv['accuracy_mean'])} ± "
                  f"{_pct(cv['accuracy_std'])}, F1 (macro) {_pct(cv['f1_macro_mean'])} ± {_pct(cv['f1_macro_std'])}.", ""]
    if not test and not cv:
        lines += ["No held-out score was recorded for this run.", ""]
    if cfg.get("baseline"):
        lines += [f"Compared with a simple baseline: {cfg['baseline']}", ""]
    if cfg.get("selection"):
        lines += [f"Why this pipeline: `auto` {cfg['selection']}", ""]
    lines += ["## How it was trained", "",
              f"- pipeline `{pipe['name']}`: backbone `{arch['backbone']['name']}` "
              f"({pipe['strategy']}, pretrained: {train.get('pretrained')}), head "
              f"{' → '.join(str(b['units']) for b in arch['head']) + ' → ' if arch['head'] else ''}"
              f"{arch['num_classes']} (linear out)",
              f"- {train.get('optimizer')} lr {train.get('learning_rate')}, weight decay {train.get('weight_decay')}, "
              f"batch {train.get('batch_size')}, {train.get('epochs_run')} epochs (best {train.get('best_epoch')}), "
              f"augmentation {'on' if train.get('augment') else 'off'}, seed {train.get('seed')}",
              f"- preprocessing: {_preprocessing_words(arch['preprocessing'], words.describe)}", ""]
    weights = cfg.get("weights")
    if weights:
        lines += ["## Pretrained weights", "", f"{weights['source']}; licence **{weights['license']}**"
                  + (f" ({weights['url']})" if weights.get("url") else "")
                  + f". See {' and '.join(f'`{f}`' for f in weights['files'])}.", ""]
    code = cfg.get("code")
    if code:  # the network's own code is not konstrukt's (Ultralytics YOLO11: AGPL-3.0)
        lines += ["## Licence", "", f"Built with code under **{code['license']}**: {code['source']}, {code['url']}. "
                  f"Check what the {code['license']} asks of you before you share or serve this model"
                  + (f" (full text: {' and '.join(f'`{f}`' for f in code['files'])})." if code["files"] else "."), ""]
    lines += ["## Known limits", ""]
    limits = []
    limits += cfg.get("trust", [])  # the core's notes on how far to trust the figures (konstrukt.trust)
    pairs = confused_pairs(test or m.get("val"), classes)
    if pairs:
        limits.append("Classes it confuses: " + "; ".join(pairs) + ".")
    limits.append(f"It only knows these {len(classes)} classes: anything else is forced into one of them.")
    limits += cfg.get("notes", [])
    lines += [f"- {x}" for x in limits] + [""]
    lines += ["## Export parity", "",
              f"Checked on {cfg['parity'].get('samples', '?')} held-out files ({cfg['parity'].get('source', '')}), "
              "same inputs through both models:", "",
              "| model | max abs logit diff vs PyTorch | top-1 agreement |", "|---|---|---|"]
    for name, r in cfg["parity"].get("results", {}).items():
        lines.append(f"| {name} | {r['max_abs_logit_diff']:.2e} | {_pct(r['top1_agreement'])} |")
    lines.append("")
    int8 = cfg["parity"].get("results", {}).get("onnx int8")
    if int8 and "onnx_int8" in cfg["files"]:  # (a refused INT8 model is named in the notes)
        ratio = cfg["parity"].get("int8_size_ratio")
        lines += [f"INT8: {int8.get('method', '?')} quantisation"
                  + (f", {ratio:.2f}× smaller than fp32" if ratio else "")
                  + "".join(f"; tried first: {a['method']} ({_pct(a['top1_agreement'])} agreement)"
                            for a in int8.get("attempts", [])) + ".", ""]
    lines += _how_to_run(cfg)
    lines += ["## Files", ""] + [f"- `{f}` — {FILES.get(key, key)}" for key, f in cfg["files"].items()] + [""]
    return "\n".join(lines)


def _preprocessing_words(pre: dict, describe) -> str:
    """The modality's words for its saved preprocessing (``describe`` hook), then what runs inside the model."""
    words = describe(pre) if describe else f"{pre.get('kind', '?')} preprocessing"
    inside = pre.get("in_model", {})
    extra = [f"{v['type']} (n_fft {v['n_fft']}, hop {v.get('hop_length', v.get('hop'))}, {v.get('n_mels', '?')} mels)"
             for k, v in inside.items() if isinstance(v, dict) and "type" in v]
    if "normalise" in inside:
        extra.append("mean/std normalisation")
    return words + ("; inside the model: " + ", ".join(extra) if extra else "")
