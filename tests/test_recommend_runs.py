"""Runs set side by side are ranked by the core's rule on cross-validation only (issue 21, item 3)."""
from konstrukt.pipelines import recommend_runs


def _report(folds: list[float] | None, test: float, params: int = 1000) -> dict:
    cv = {"per_fold": [{"accuracy": a} for a in folds]} if folds else None
    return {"cv": cv, "test": {"accuracy": test}, "params_total": params}


def test_the_test_split_never_decides_and_runs_without_cv_are_named():
    # run #1: best test figure but no CV; run #2 vs #3: #3 is better in CV though worse on its test split
    runs = {"run #1": _report(None, 1.0), "run #2": _report([0.6, 0.7, 0.65], 0.95),
            "run #3": _report([0.9, 0.95, 0.92], 0.80)}
    name, why = recommend_runs(runs)
    assert name == "run #3"
    assert "run #1: no cross-validation, so not ranked" in why


def test_a_smaller_run_within_one_fold_std_is_recommended():
    runs = {"big": _report([0.90, 0.80, 1.0], 0.9, params=5_000_000),
            "small": _report([0.85, 0.85, 0.95], 0.9, params=10_000)}
    name, why = recommend_runs(runs)
    assert name == "small" and "within one fold std" in why


def test_nothing_to_rank_says_so():
    name, why = recommend_runs({"run #4": _report(None, 0.9)})
    assert name is None and "no cross-validation" in why


def test_the_reason_speaks_in_percentages_and_makes_sense_with_one_candidate():
    from konstrukt.pipelines import recommend

    name, why = recommend([{"name": "only", "scores": [0.8, 0.9, 1.0], "params": 5}])
    assert name == "only" and why == "only: the only candidate with a cross-validation figure (90.0 ± 8.2 % over 3 folds)"
    _, why = recommend([{"name": "a", "scores": [0.9, 0.8, 1.0], "params": 1000},
                        {"name": "b", "scores": [0.5, 0.6, 0.5], "params": 10}])
    assert "90.0 ± 8.2 %" in why and "53.3 ± 4.7 %" in why and "0.900" not in why
