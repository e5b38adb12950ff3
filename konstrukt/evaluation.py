"""Metrics of a classifier on labelled data, computed with scikit-learn."""
from __future__ import annotations

import numpy as np


def classification_metrics(y_true: list[int] | np.ndarray, proba: np.ndarray,
                           classes: list[str]) -> dict:
    """Accuracy; weighted, macro and per-class precision/recall/F1; confusion matrix; top-k (C > 5)."""
    # imported here: scikit-learn takes ~1 s to import, which a run hides behind its embedding pass
    from sklearn.metrics import (accuracy_score, confusion_matrix, precision_recall_fscore_support,
                                 top_k_accuracy_score)

    y_true = np.asarray(y_true)
    proba = np.asarray(proba)
    y_pred = proba.argmax(1)
    labels = list(range(len(classes)))
    out: dict = {"n": int(len(y_true)), "accuracy": float(accuracy_score(y_true, y_pred))}
    for avg in ("weighted", "macro"):
        p, r, f, _ = precision_recall_fscore_support(y_true, y_pred, labels=labels, average=avg,
                                                     zero_division=0)
        out.update({f"precision_{avg}": float(p), f"recall_{avg}": float(r), f"f1_{avg}": float(f)})
    p, r, f, s = precision_recall_fscore_support(y_true, y_pred, labels=labels, zero_division=0)
    out["per_class"] = {c: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]),
                            "support": int(s[i])} for i, c in enumerate(classes)}
    cm = confusion_matrix(y_true, y_pred, labels=labels)
    out["confusion_matrix"] = cm.tolist()  # rows = true class, columns = predicted
    rows = cm.sum(1, keepdims=True)
    out["confusion_matrix_normalized"] = np.divide(cm, rows, out=np.zeros_like(cm, dtype=float),
                                                   where=rows > 0).round(4).tolist()
    if len(classes) > 5:
        for k in (3, 5):
            out[f"top{k}_accuracy"] = float(top_k_accuracy_score(y_true, proba, k=k, labels=labels))
    return out


def summarize_folds(folds: list[dict]) -> dict:
    """Mean ± std over CV folds of accuracy and macro F1."""
    acc = np.array([f["accuracy"] for f in folds])
    f1 = np.array([f["f1_macro"] for f in folds])
    return {"folds": len(folds), "accuracy_mean": float(acc.mean()), "accuracy_std": float(acc.std()),
            "f1_macro_mean": float(f1.mean()), "f1_macro_std": float(f1.std()),
            "per_fold": [{"accuracy": f["accuracy"], "f1_macro": f["f1_macro"], "n": f["n"]}
                         for f in folds]}
