"""One overall progress over a whole job (#21 item 4): stages, CV folds and pipelines."""
from konstrukt.progress import Overall, with_overall


class Clock:
    def __init__(self):
        self.t = 0.0

    def __call__(self):
        return self.t


def fit_events(fold, epochs, folds=None):
    stage = "cv" if fold else "train"
    return [{"stage": stage, "fold": fold, "folds": folds, "epoch": e, "epochs": epochs} for e in range(1, epochs + 1)]


def test_the_bar_runs_once_through_the_final_fit_and_every_fold():
    clock = Clock()
    overall = Overall(clock=clock)
    events = [{"stage": "prepare"}, {"stage": "plan", "fits": 4}]
    events += [{"stage": "embed", "done": d, "total": 10} for d in (5, 10)]
    events += fit_events(0, 10) + sum((fit_events(n, 5, 3) for n in (1, 2, 3)), []) + [{"stage": "done"}]
    seen = []
    for e in events:
        clock.t += 1.0
        seen.append(overall.update(e))
    fractions = [e["overall"] for e in seen]
    assert fractions == sorted(fractions)  # never restarts for a fold
    # 5 units: the embedding pass, the final fit and 3 folds; the final fit ends at 2/5
    end_of_final = seen[3 + 10]
    assert abs(end_of_final["overall"] - 0.4) < 1e-3
    assert abs(seen[3 + 10 + 5]["overall"] - 0.6) < 1e-3  # the first fold's last epoch
    assert fractions[-1] == 1.0 and seen[-1]["eta_seconds"] == 0.0
    # the time left: the time so far scaled by what is left (elapsed 13 s at 40 %)
    assert end_of_final["elapsed_seconds"] == 13.0 and abs(end_of_final["eta_seconds"] - 19.5) < 0.1
    assert seen[0]["eta_seconds"] is None  # nothing done yet: no guess


def test_pipelines_of_a_comparison_share_the_bar_and_skipped_ones_count_as_done():
    overall = Overall(clock=Clock())
    tag = lambda name, i, e: {**e, "pipeline": name, "index": i, "pipelines": 3}
    out = [overall.update(tag("c", 3, {"stage": "not_run", "status": "skipped"}))]
    assert abs(out[-1]["overall"] - 1 / 3) < 1e-3
    out.append(overall.update(tag("a", 1, {"stage": "plan", "fits": 1})))
    for e in fit_events(0, 4):
        out.append(overall.update(tag("a", 1, e)))
    assert abs(out[-1]["overall"] - 2 / 3) < 1e-3
    out.append(overall.update(tag("b", 2, {"stage": "plan", "fits": 2})))
    out += [overall.update(tag("b", 2, e)) for e in fit_events(0, 2)]
    assert abs(out[-1]["overall"] - (2 / 3 + 1 / 6)) < 1e-3
    assert [e["overall"] for e in out] == sorted(e["overall"] for e in out)


def test_auto_candidates_run_one_after_another():
    overall = Overall()
    overall.update({"stage": "auto", "candidate": "a", "candidates": 2})
    overall.update({"stage": "plan", "fits": 1})
    last = [overall.update(e) for e in fit_events(0, 2)][-1]
    assert abs(last["overall"] - 0.5) < 1e-3
    overall.update({"stage": "auto", "candidate": "b", "candidates": 2})
    overall.update({"stage": "plan", "fits": 1})
    assert abs(overall.update(fit_events(0, 2)[0])["overall"] - 0.75) < 1e-3


def test_with_overall_keeps_the_event_and_passes_none_through():
    got = []
    callback = with_overall(got.append)
    callback({"stage": "train", "epoch": 1, "epochs": 2, "train_loss": 0.5})
    assert got[0]["train_loss"] == 0.5 and got[0]["overall"] == 0.5
    assert with_overall(None) is None
