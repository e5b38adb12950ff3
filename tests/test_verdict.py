"""The one baseline verdict rule (konstrukt/verdict.py): better / about the same / worse, with the
uncertainty of small folds; and advice that names only what exists for the task."""
from __future__ import annotations

from konstrukt.auto import advice
from konstrukt.verdict import BETTER, SAME, WORSE, baseline_verdict, verdict_text

REF = "pixels + HOG + logistic regression"


def cv(scores, fingerprint="f1", n=8):
    import numpy as np

    return {"folds": len(scores), "accuracy_mean": float(np.mean(scores)), "accuracy_std": float(np.std(scores)),
            "folds_fingerprint": fingerprint, "per_fold": [{"accuracy": s, "n": n} for s in scores]}


def run(scores, fingerprint="f1"):
    return {"cv": cv(scores, fingerprint)}


def ref(scores, fingerprint="f1", test=None):
    return {"name": "hog_logreg", "description": REF, "cv": cv(scores, fingerprint) if scores else None,
            "test": test}


def test_a_clear_win_on_the_same_folds_is_better():
    v = baseline_verdict(run([1.0, 1.0, 1.0, 1.0, 1.0]), ref([0.875, 0.75, 0.875, 0.75, 0.833]))
    assert v["verdict"] == BETTER and v["paired"]
    assert v["text"].startswith("The model is better than a simple baseline (" + REF)
    assert "100.0 % vs 81.7 % 5-fold cross-validated accuracy" in v["text"]
    assert "NOT" not in v["text"] and "worse" not in v["text"]


def test_a_tie_at_100_percent_is_about_the_same_and_says_the_task_is_easy():
    v = baseline_verdict(run([1.0] * 5), ref([1.0] * 5), advice=["more examples per class"])
    assert v["verdict"] == SAME
    assert "about as good as" in v["text"] and "easy even for a simple model" in v["text"]
    assert "What may help" not in v["text"]  # nothing to fix


def test_a_difference_within_the_fold_spread_is_about_the_same():
    # +25, -12.5, +12.5, 0, +12.5 points: the mean gain (7.5) is smaller than its fold-to-fold spread
    v = baseline_verdict(run([1.0, 0.75, 1.0, 0.875, 1.0]), ref([0.75, 0.875, 0.875, 0.875, 0.875]),
                         advice=["more examples per class"])
    assert v["verdict"] == SAME and v["difference"] > 0
    assert "within what 5 folds of this data can tell apart" in v["text"]
    assert "What may help: more examples per class." in v["text"]


def test_one_example_never_makes_a_model_better():
    # the same folds, one more example right in one fold of 8: below one example's worth of 40
    v = baseline_verdict(run([1.0, 1.0, 1.0, 1.0, 1.0]), ref([1.0, 1.0, 1.0, 1.0, 0.875]))
    assert v["verdict"] == SAME and v["uncertainty"] >= 1 / 40


def test_worse_with_advice_and_unpaired_folds():
    v = baseline_verdict(run([0.5, 0.625, 0.5, 0.5, 0.625], fingerprint="a"),
                         ref([0.875, 1.0, 0.875, 1.0, 0.875], fingerprint="b"),
                         advice=["more examples per class", "the recipe x (pretrained image features)"])
    assert v["verdict"] == WORSE and not v["paired"]
    assert v["text"].startswith("The model is worse than a simple baseline")
    assert v["text"].endswith("What may help: more examples per class; the recipe x (pretrained image features).")


def test_test_split_only_uses_the_binomial_spread():
    mine = {"cv": None, "test": {"accuracy": 0.9, "n": 10}}
    assert baseline_verdict(mine, ref(None, test={"accuracy": 0.8, "n": 10}))["verdict"] == SAME
    big = {"cv": None, "test": {"accuracy": 0.95, "n": 400}}
    v = baseline_verdict(big, ref(None, test={"accuracy": 0.6, "n": 400}))
    assert v["verdict"] == BETTER and v["measure"] == "test accuracy"


def test_no_reference_or_no_scores_give_no_verdict():
    assert baseline_verdict(run([1.0, 1.0]), None) is None
    assert baseline_verdict({"cv": None, "test": None}, ref([1.0, 1.0])) is None
    assert verdict_text(None) is None and verdict_text("old words") == "old words"
    assert verdict_text({"verdict": SAME, "text": "t"}) == "t"


def test_advice_names_only_recipes_that_exist_here():
    # signal has no pretrained pipeline: never told to use one
    assert not any("pretrained" in a for a in advice("signal", {"rescnn_bilstm_se"}))
    assert advice("image", {"scratch_cnn"})[0] == "more examples per class"
    # what was tried already is not suggested again
    assert not any("scratch_cnn" in a for a in advice("image", {"scratch_cnn"}))
