"""The one set of notes on how far to trust a run's figures (konstrukt/trust.py), and every face
showing the same words: the CLI, summary.md and the model card."""
from __future__ import annotations

from konstrukt.artifacts import summary_markdown
from konstrukt.trust import trust_notes


def metrics(n: int, accuracy: float = 0.9, per_class: dict | None = None) -> dict:
    return {"n": n, "accuracy": accuracy, "f1_macro": accuracy, "f1_weighted": accuracy,
            "precision_macro": accuracy, "recall_macro": accuracy,
            "per_class": per_class or {c: {"precision": accuracy, "recall": accuracy, "f1": accuracy,
                                           "support": n // 2} for c in ("a", "b")}}


def report(test=None, cv=None, val=None) -> dict:
    return {"task": "image", "pipeline": "scratch_cnn", "strategy": "full", "classes": ["a", "b"],
            "data": {"n": 100, "per_split": {"train": {"a": 30, "b": 30}}}, "train_seconds": 1.0,
            "peak_memory_mb": 10.0, "params_total": 10, "params_trainable": 10,
            "test": test, "cv": cv, "val": val}


CV = {"folds": 5, "accuracy_mean": 0.9, "accuracy_std": 0.05, "f1_macro_mean": 0.9, "f1_macro_std": 0.05}


def kinds(r: dict) -> list[str]:
    return [n["kind"] for n in trust_notes(r)]


def test_a_small_test_split_points_to_cross_validation_when_there_is_one():
    with_cv = trust_notes(report(test=metrics(20), cv=CV))
    assert [n["kind"] for n in with_cv] == ["small_test"]
    assert "only 20 examples" in with_cv[0]["text"] and "5 points" in with_cv[0]["text"]
    assert "cross-validation figure" in with_cv[0]["text"]
    alone = trust_notes(report(test=metrics(20)))
    assert "cross-validation" not in alone[0]["text"] and "more examples" in alone[0]["text"]
    assert kinds(report(test=metrics(30), cv=CV)) == []  # 30 and more: no note


def test_near_chance_judges_the_steadier_figure():
    # CV says guessing (55 % for 2 classes) even though the test split looked fine
    assert "near_chance" in kinds(report(test=metrics(40, 0.95), cv={**CV, "accuracy_mean": 0.55}))
    assert "near_chance" not in kinds(report(test=metrics(40, 0.55), cv=CV))
    assert "near_chance" in kinds(report(test=metrics(40, 0.55)))


def test_few_examples_of_a_class_and_unsteady_folds():
    per_class = {"a": {"precision": 1, "recall": 1, "f1": 1, "support": 3},
                 "b": {"precision": 1, "recall": 1, "f1": 1, "support": 40}}
    notes = trust_notes(report(test=metrics(43, per_class=per_class), cv={**CV, "accuracy_std": 0.15}))
    assert [n["kind"] for n in notes] == ["few_per_class", "unsteady_cv"]
    assert "only 3 test example(s)" in notes[0]["text"]
    # no test split: the validation split is what is shown, and named
    val_only = trust_notes(report(val=metrics(43, per_class=per_class)))
    assert "only 3 validation example(s)" in val_only[-1]["text"]


def test_nothing_measured_gives_no_notes():
    assert trust_notes(report()) == [] and trust_notes({}) == []


def test_the_cli_summary_and_model_card_show_the_same_words(capsys, tmp_path):
    from konstrukt.cli.output import print_results
    from konstrukt.exporting.card import model_card

    r = report(test=metrics(12), cv={**CV, "accuracy_std": 0.2})
    texts = [n["text"] for n in trust_notes(r)]
    assert len(texts) == 2
    print_results({**r, "data": {**r["data"]}}, tmp_path)
    cli = " ".join(capsys.readouterr().out.split())  # the CLI wraps lines
    summary = summary_markdown(r)
    card = model_card(card_config(r, texts))
    for text in texts:
        assert text in cli and text in summary and text in card


def card_config(r: dict, trust: list[str]) -> dict:
    arch = {"backbone": {"name": "scratch_cnn", "modality": "image"}, "head": [], "num_classes": 2,
            "preprocessing": {"kind": "image", "size": 32}}
    return {"task": "image", "classes": r["classes"], "metrics": {"test": r["test"], "cv": r["cv"]},
            "data": {"n": 100, "per_class": {"a": 50, "b": 50}, "per_split": {}}, "architecture": arch,
            "pipeline": {"name": "scratch_cnn", "strategy": "full", "backbone": "scratch_cnn"},
            "training": {}, "versions": {"konstrukt": "0"}, "files": {}, "parity": {}, "trust": trust}
