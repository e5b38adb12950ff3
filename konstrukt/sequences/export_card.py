"""The model card (README.md) of an exported sequence run: what it decodes, its CER, the parity
of decoded text, how to run it. Every value comes from the bundle's config.json."""
from __future__ import annotations

from ..exporting.card import how_to_run

FILES = {"onnx": "ONNX model, fp32 (front end inside; dynamic time axis; per-frame log-probabilities)",
         "onnx_int8": "ONNX model, INT8-quantised (decodes the held-out recordings to the same text)",
         "torch_weights": "PyTorch weights and the front end's training statistics (safetensors)",
         "torch_predict": "predict script for PyTorch (konstrukt's network code, verbatim)",
         "predict": "predict script (command line and `from predict import predict`)",
         "requirements": "what predict.py needs, with compatible version ranges",
         "torch_requirements": "what predict_torch.py needs",
         "config": "alphabet, token mode, preprocessing, network settings, metrics, parity, versions",
         "card": "this model card",
         "notice": "where the front end's pretrained weights come from, and their licence",
         "license": "the full text of the pretrained weights' licence"}


def _pct(x) -> str:
    return "–" if x is None else f"{100 * x:.1f} %"


def _metrics(cfg: dict) -> list[str]:
    out = []
    for split in ("test", "val"):
        m = (cfg.get("metrics") or {}).get(split)
        if m:
            wer = f", WER {_pct(m['wer'])}" if m.get("wer") is not None else ""
            out.append(f"- {split}: **CER {_pct(m['cer'])}**{wer}, exact sequences {_pct(m.get('exact_match'))} "
                       f"(n = {m['n']}, decoding {m.get('decoding', 'greedy')})")
    cv = (cfg.get("metrics") or {}).get("cv")
    if cv and "cer_mean" in cv:
        out.append(f"- cross-validation ({cv['k']} folds): CER {_pct(cv['cer_mean'])} ± {_pct(cv['cer_std'])}")
    return out or ["- no held-out metrics were recorded"]


def _parity(cfg: dict) -> list[str]:
    par = cfg["parity"]
    lines = [f"Every predict script was run on {par['samples']} held-out recordings ({par['source']}) and "
             "compared with konstrukt's own decoding:", "", "| model (decoding) | identical texts |", "|---|---|"]
    lines += [f"| {k} | {r['identical']} / {r['n']} |" for k, r in par["results"].items()]
    if "int8_size_ratio" in par:
        lines += ["", f"The INT8 file is {par['int8_size_ratio']:.1f}x smaller than fp32 ({par.get('int8_method')})."]
    for fmt, why in (cfg.get("refused") or {}).items():
        lines += ["", f"Not written: {fmt} — {why}"]
    return lines


def sequence_card(cfg: dict) -> str:
    """Markdown for a sequence bundle's config.json."""
    alpha, pre, files = cfg["alphabet"], cfg["preprocessing"], cfg["files"]
    unit = "space-separated tokens" if alpha["mode"] == "space" else "characters"
    lines = [f"# Sequence model: {cfg['pipeline']['name']} ({cfg['task']})", "",
             f"Decodes a whole recording ({pre['channels']} channel(s) at {pre['sample_rate']:g} Hz) to text: "
             f"{len(alpha['tokens'])} {unit} (listed in config.json), trained with the CTC loss; "
             f"{pre['frames_per_second']:g} frames per second enter the network (front end: {pre['frontend']}).", "",
             "## How good it is", "", *_metrics(cfg), "",
             "## Parity of decoded text", "", *_parity(cfg), ""]
    lines += how_to_run(files, ["python predict.py FILE... --json            # greedy: best token per frame",
                                "python predict.py FILE... --beam 8 --json   # CTC prefix beam search"],
                        '{"text": ..., "confidence": 0..1}')
    lines += ["confidence: the geometric mean of the decoded path's frame probabilities.", ""]
    weights = cfg.get("weights")
    if weights:  # a pretrained front end (e.g. the speech embedding) travels with its licence
        lines += ["## Pretrained weights", "", f"The front end is {weights['source']}; licence **{weights['license']}**"
                  + (f" ({weights['url']})" if weights.get("url") else "")
                  + f". See {' and '.join(f'`{f}`' for f in weights['files'])}.", ""]
    if cfg.get("notes"):
        lines += ["## Notes", "", *[f"- {n}" for n in cfg["notes"]], ""]
    lines += ["## Files", "", *[f"- `{name}`: {FILES.get(key, '')}" for key, name in files.items()], ""]
    return "\n".join(lines)
