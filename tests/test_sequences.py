"""Sequence runs (recording → text, CTC): decoding, metrics, data, models and a run that learns."""
from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch

from konstrukt.errors import ConfigError, DataError
from konstrukt.sequences import ctc
from konstrukt.sequences.config import build_sequence_config
from konstrukt.sequences.data import Alphabet, Event, cut_windows, group_folds, group_split, read_text_csv
from konstrukt.sequences.dataset import hooks_of
from konstrukt.sequences.metrics import align, error_rate, sequence_metrics
from konstrukt.sequences.models import LADDER, build_model

from sequence_data import TOY, train_toy, write_sequences


@pytest.fixture(scope="module")
def toy_run(tmp_path_factory):
    """One trained toy run shared by the tests that read it (it takes ~15 s on one thread)."""
    root = tmp_path_factory.mktemp("seq")
    return train_toy(root, TOY), root


# --------------------------------------------------------------------------- decoding


def test_collapse_merges_repeats_then_drops_blanks():
    assert ctc.collapse([0, 1, 1, 0, 1, 2, 2, 0]) == [1, 1, 2]
    assert ctc.collapse([0, 0, 0]) == []


def test_beam_finds_the_text_greedy_misses():
    # Two frames, blank 0.6 / "a" 0.4 each: the best single path is blank-blank ("", 0.36) but
    # "a" collects a-a, a-blank and blank-a: 0.16 + 0.24 + 0.24 = 0.64.
    lp = np.log(np.array([[0.6, 0.4], [0.6, 0.4]]))
    assert ctc.greedy_decode(lp)[0] == []
    ids, conf = ctc.beam_decode(lp, beam=4)
    assert ids == [1]
    assert math.isclose(ctc.path_log_prob(lp, [1]), math.log(0.64), rel_tol=1e-9)
    assert math.isclose(conf, math.exp(math.log(0.64) / 2), rel_tol=1e-6)
    assert ctc.path_log_prob(lp, ids) >= ctc.path_log_prob(lp, ctc.greedy_decode(lp)[0])


def test_beam_equals_greedy_when_paths_are_sure_and_the_scorer_hook_steers():
    lp = np.log(np.array([[0.05, 0.9, 0.05], [0.9, 0.05, 0.05], [0.05, 0.05, 0.9]]))
    assert ctc.beam_decode(lp, beam=3)[0] == ctc.greedy_decode(lp)[0] == [1, 2]
    # a lexicon hook that forbids token 2 after token 1: the search must go elsewhere
    ids, _ = ctc.beam_decode(lp, beam=3, scorer=lambda prefix, tok: -math.inf if prefix[-1:] == (1,) and tok == 2 else 0.0)
    assert ids != [1, 2] and ids[:1] == [1]


# --------------------------------------------------------------------------- metrics


def test_alignment_and_error_rates_by_hand():
    ops = [op for op, _, _ in align("kitten", "sitting")]
    assert ops.count("S") == 2 and ops.count("I") == 1 and ops.count("D") == 0
    assert error_rate([list("kitten")], [list("sitting")]) == pytest.approx(3 / 6)
    m = sequence_metrics(["abc", "ab"], ["abc", "b"], ["x", "y"])
    assert m["cer"] == pytest.approx(1 / 5) and m["exact_match"] == 0.5 and m["deletions"] == 1
    assert m["per_character"] == {"a": {"S": 0, "I": 0, "D": 1}}
    assert m["worst"][0]["file"] == "y" and m["worst"][0]["decoded"] == "b"
    w = sequence_metrics(["the cat sat"], ["the bat sat down"], tokens="space")
    assert w["wer"] == pytest.approx(2 / 3, abs=1e-4)  # cat→bat, + down
    assert w["cer"] == pytest.approx(error_rate(["the cat sat"], ["the bat sat down"]), abs=1e-4)


# --------------------------------------------------------------------------- data


def test_alphabet_reports_unseen_tokens_instead_of_crashing():
    a = Alphabet.from_texts(["abc", "cab"])
    assert a.tokens == ["a", "b", "c"] and len(a) == 4  # + blank
    assert a.encode("abz") == ([1, 2], ["z"])
    assert a.unseen(["zz", "a?"]) == {"?": 1, "z": 2}
    assert a.decode([3, 1]) == "ca"
    words = Alphabet.from_texts(["one two", "two three"], "space")
    assert words.decode(words.encode("three one")[0]) == "three one"


def test_event_windows_hold_the_keys_inside_them():
    f = Path("rec.npy")
    keys = [Event(f, t, t, k, "s1") for t, k in [(0.5, "h"), (1.5, "i"), (2.0, "!"), (3.9, "x")]]
    win = cut_windows(keys, {f: 4.0}, window=2.0, hop=1.0)
    assert [(w.start, w.text) for w in win] == [(0.0, "hi"), (1.0, "i!"), (2.0, "!x")]
    spans = [Event(f, 0.2, 0.8, "ab", "s1"), Event(f, 0.9, 1.3, "c", "s1")]
    assert [w.text for w in cut_windows(spans, {f: 2.0}, 1.0, 1.0, " ")] == ["ab", ""]  # c straddles
    with pytest.raises(DataError):
        cut_windows(keys, {f: 4.0}, window=0, hop=1)


def test_group_split_and_folds_keep_subjects_apart():
    groups = [f"s{i % 7}" for i in range(70)]
    split = group_split(groups, 0.15, 0.2, seed=3)
    sets = {k: {groups[i] for i in v} for k, v in split.items()}
    assert not (sets["train"] & sets["test"]) and not (sets["train"] & sets["val"]) and sets["test"]
    assert sum(len(v) for v in split.values()) == 70
    for tr, te in group_folds(groups, 3, seed=0):
        assert not ({groups[i] for i in tr} & {groups[i] for i in te})
    with pytest.raises(DataError, match="at least 3"):
        group_split(["a", "a", "b"], 0.2, 0.2, 0)


def test_bad_rows_are_named_with_the_fix(tmp_path):
    np.save(tmp_path / "r.npy", np.zeros((2, 10)))
    (tmp_path / "ev.csv").write_text("file,start,end,text\nr.npy,0,x,a\nmissing.npy,0,1,b\nr.npy,2,1,c\n"
                                     "r.npy,0,1,\tq\n", encoding="utf-8")
    with pytest.raises(DataError) as err:
        read_text_csv(tmp_path / "ev.csv")
    text = str(err.value)
    assert "row 2" in text and "row 3" in text and "row 4" in text and "row 5" in text and "not printable" in text
    assert str(tmp_path) not in text  # names the file, not the folder it sits in


def test_config_refuses_classification_flags_and_unknown_models():
    assert build_sequence_config({"tokens": "space"}, {"signal": {"window": 2.0}, "num_epochs": 3}).window == 2.0
    with pytest.raises(ConfigError, match="strategy"):
        build_sequence_config(None, {"strategy": "probe"})
    with pytest.raises(ConfigError, match="base model"):
        build_model(hooks_of("signal"), 2, 50.0, 5, build_sequence_config({"pipeline": "rescnn+wings"}))


# --------------------------------------------------------------------------- models


@pytest.mark.parametrize("variant", LADDER)
def test_every_ladder_variant_gives_one_log_prob_row_per_frame(variant):
    settings = build_sequence_config({"pipeline": variant, "widths": [8, 8], "hidden_size": 8, "heads": 2})
    model = build_model(hooks_of("signal"), 3, 200.0, 6, settings).eval()
    for length in (37, 200):
        out = model(torch.randn(2, 3, length))
        assert out.shape == (2, model.frames(length), 6)
        assert torch.allclose(out.exp().sum(-1), torch.ones(2, model.frames(length)), atol=1e-4)


def test_audio_front_end_frames_match():
    settings = build_sequence_config({"widths": [8], "hidden_size": 8, "frontend": "mel"})
    model = build_model(hooks_of("sound"), 1, 16000.0, 4, settings).eval()
    for length in (100, 8000, 16001):
        assert model(torch.randn(1, 1, length)).shape[1] == model.frames(length)


# --------------------------------------------------------------------------- a run


def test_ctc_learns_the_toy_alphabet_without_alignments(toy_run):
    run, _ = toy_run
    report = run.report
    assert report["kind"] == "sequence" and report["alphabet"]["tokens"] == list("abcd")
    # chance (blank only, or random letters) is a CER of ~1; a learning model gets well below
    assert report["test"]["cer"] < 0.35, report["test"]["worst"]
    assert report["history"][-1]["train_loss"] < report["history"][0]["train_loss"] / 3
    assert (run.path / "summary.md").read_text(encoding="utf-8").count("Test CER") == 1
    assert (run.path / "curves.png").stat().st_size > 1000


def test_predict_and_evaluate_on_other_data_with_an_unseen_character(toy_run, tmp_path):
    from konstrukt.inference import load_run

    run, root = toy_run
    loaded = load_run(run.path)
    other = write_sequences(tmp_path, n=6, seed=5, alphabet="abcde")  # "e": never in training
    metrics = loaded.evaluate(other)
    assert metrics["n"] == 6 and 0 <= metrics["cer"] <= 1.5
    texts = [line.split(",")[1] for line in other.read_text(encoding="utf-8").splitlines()[1:]]
    assert metrics["unseen_tokens"] == ({"e": sum(t.count("e") for t in texts)} if "e" in "".join(texts) else {})
    preds = loaded.predict(sorted(tmp_path.glob("*.npz"))[:2])
    assert set(preds[0]) == {"file", "text", "confidence"} and 0 < preds[0]["confidence"] <= 1
    assert set(preds[0]["text"]) <= set("abcd")


def test_an_unknown_sequence_front_end_is_refused_naming_the_choices():
    from konstrukt.sequences.dataset import hooks_of

    hooks = hooks_of("signal")
    assert hooks.resolve("auto") in hooks.names()
    with pytest.raises(ConfigError) as err:
        hooks.resolve("no_such_front_end")
    assert "no_such_front_end" in str(err.value)
    assert any(hooks.default_name in p and "auto" in p for p in err.value.problems)
