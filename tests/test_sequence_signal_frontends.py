"""The signal wing's other sequence front ends (``minirocket``: frozen per-frame MiniRocket
features; ``emg_spectrogram``: the sEMG study's normalised spectrogram and rotation-invariant MLP),
the frozen-feature cache of training, and scoring that agrees with one-file prediction."""
from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

import konstrukt
from konstrukt.errors import ConfigError
from konstrukt.models.portable.sequence_frontends import EmgSpectrogramFrontEnd, MiniRocketFrontEnd
from konstrukt.runtime import torch_threads
from konstrukt.sequences.frozen import Precomputed, frozen_features
from konstrukt.sequences.training import Item, frame_log_probs

from sequence_data import RATE, TOY, train_toy, write_sequences

TINY = {**TOY, "num_epochs": 12, "frontend": "minirocket"}


def arrays(n=6, channels=2, seed=0):
    rng = np.random.default_rng(seed)
    return [rng.normal(size=(channels, int(rng.integers(40, 200)))).astype(np.float32) for _ in range(n)]


@pytest.fixture(scope="module")
def run_dir(tmp_path_factory):
    """A tiny minirocket run on the toy bursts (its test split: the recordings to check)."""
    root = tmp_path_factory.mktemp("seqfe")
    return root, train_toy(root, TINY, n=36)


def test_minirocket_frames_match_the_forward_pass_at_any_length():
    fe = MiniRocketFrontEnd(2, RATE)
    fe.fit(arrays())
    assert fe.window % 2 == 0 and fe.window >= 32 and fe.hop == fe.window // 8
    assert fe.out_channels == fe.rocket.num_features and fe.fps == RATE / fe.hop
    with torch.no_grad():
        for length in (1, 9, fe.window - 1, fe.window, 101, 257):
            out = fe(torch.randn(3, 2, length))
            assert out.shape == (3, fe.out_channels, fe.frames(length)), length
            assert torch.isfinite(out).all()


def test_minirocket_frames_see_only_their_own_window():
    """A frame's features are those of the window around it: far-away samples do not change it."""
    fe = MiniRocketFrontEnd(1, RATE)
    fe.fit(arrays(channels=1))
    x = torch.randn(1, 1, 400)
    y = x.clone()
    y[..., 300:] += 5.0
    reach = fe.window // 2 + 4 * max(fe.rocket.dilations)  # the window plus the widest kernel's half
    first_touched = (300 - reach) // fe.hop
    with torch.no_grad():
        a, b = fe(x), fe(y)
    assert torch.equal(a[..., :first_touched], b[..., :first_touched])
    assert not torch.equal(a[..., -5:], b[..., -5:])


def test_minirocket_fit_is_deterministic_and_standardises_the_training_frames():
    data = arrays(seed=3)
    one, two, other = MiniRocketFrontEnd(2, RATE), MiniRocketFrontEnd(2, RATE), MiniRocketFrontEnd(2, RATE, seed=1)
    for fe in (one, two, other):
        fe.fit(data)
    for k, v in one.state_dict().items():
        assert torch.equal(v, two.state_dict()[k]), k
    assert not torch.equal(one.rocket.biases, other.rocket.biases)
    with torch.no_grad():
        frames = torch.cat([one(torch.from_numpy(a)[None])[0] for a in data], dim=1)  # (F, all frames)
    varied = one.feature_std.flatten() != 1  # constant features are left as they are
    assert varied.sum() > 0.5 * one.out_channels
    assert frames[varied].mean(1).abs().max() < 1e-3
    assert torch.allclose(frames[varied].std(1, unbiased=False), torch.ones(int(varied.sum())), atol=1e-3)


def test_emg_spectrogram_shapes_normalisation_and_rotation_mlp():
    fe = EmgSpectrogramFrontEnd(4, 2000.0, hidden=24)
    assert (fe.n_fft, fe.hop, fe.bins) == (32, 16, 17)  # the study's 16 ms window, 8 ms hop at 2 kHz
    data = arrays(channels=4)
    fe.fit(data)
    with torch.no_grad():
        s = torch.cat([(fe.spectrogram(torch.from_numpy(a)[None]) - fe.mean) / fe.std for a in data], dim=-1)
        assert s.mean(-1).abs().max() < 1e-3  # each (channel, frequency) normalised on the training data
        for length in (5, 32, 33, 150):
            out = fe(torch.randn(2, 4, length))
            assert out.shape == (2, 24, fe.frames(length))
        x = torch.randn(1, 4, 120)
        # the shared MLP over the rollings (-1, 0, +1): rolling the electrodes by one keeps two of
        # the three terms, so the output moves less than under an unrelated input
        rolled = fe(torch.roll(x, 1, dims=1))
        assert (rolled - fe(x)).abs().mean() < (fe(torch.randn(1, 4, 120)) - fe(x)).abs().mean()


def test_frozen_features_are_computed_once_and_the_front_end_put_back():
    from konstrukt.sequences.models import SequenceNet

    fe = MiniRocketFrontEnd(2, RATE)
    data = arrays()
    fe.fit(data)
    model = SequenceNet(fe, 4, "rescnn", widths=(16,))
    items = [Item(a, [1, 2]) for a in data]
    calls = []
    hook = fe.register_forward_hook(lambda *a: calls.append(1))
    with frozen_features(model, items, device=torch.device("cpu")) as (cached,):
        assert isinstance(model.frontend, Precomputed) and len(calls) == len(items)
        for it, c in zip(items, cached):
            assert c.x.shape == (fe.out_channels, fe.frames(it.x.shape[1])) and c.ids == it.ids
            assert model.frames(c.x.shape[1]) == model.frames.__func__(model, c.x.shape[1])
        with torch.no_grad():  # the cached_features hook gives what the forward pass gives
            np.testing.assert_allclose(cached[0].x, fe(torch.from_numpy(data[0])[None])[0].numpy(), atol=1e-6)
        calls.clear()
        with torch.no_grad():
            model.eval()(torch.from_numpy(cached[0].x)[None])
        assert not calls  # the pass-through: no second front-end pass
    hook.remove()
    assert model.frontend is fe


def test_minirocket_run_trains_reloads_and_predicts_identically(run_dir):
    from konstrukt.sequences.runfolder import SequenceRun

    root, run = run_dir
    assert run.settings.frontend == "minirocket" and isinstance(run.model.frontend, MiniRocketFrontEnd)
    assert run.report["test"]["cer"] < 0.5  # it learns the toy bursts (chance is near 1)
    files = [Path(f) for f in run.report["data_files"]["test"]]
    again = SequenceRun.load(root / "run")
    assert again.predict(files) == run.predict(files)
    with pytest.raises(ConfigError, match="frontend"):
        from konstrukt.sequences.run import train_sequences
        train_sequences(root / "data" / "labels.csv", out=root / "bad", config={**TINY, "frontend": "nope"},
                        verbose=False)


def test_minirocket_onnx_export_decodes_the_same_texts(run_dir, tmp_path):
    root, run = run_dir
    with torch_threads(1):
        cfg = konstrukt.export(root / "run", tmp_path / "bundle", format="onnx")
    results = cfg["parity"]["results"]
    assert results and all(r["all_identical"] and r["n"] >= 1 for r in results.values())
    assert cfg["preprocessing"]["frontend"] == "MiniRocketFrontEnd"


def test_batch_scoring_equals_one_file_prediction(run_dir):
    """Recordings of different lengths scored together give each one's own output (no padding
    reaches the BiLSTM), so a split's metrics are the texts ``predict`` gives file by file."""
    from konstrukt.sequences.models import SequenceNet
    from konstrukt.sequences.runfolder import decode_all
    from konstrukt.models.portable.sequence_nets import SignalFrontEnd

    torch.manual_seed(0)
    model = SequenceNet(SignalFrontEnd(2, RATE), 5, "rescnn+bilstm+se", widths=(16,), hidden_size=8).eval()
    data = arrays(n=8) + [arrays(n=1, seed=5)[0]] * 2  # two of one length: they share a batch
    batched = frame_log_probs(model, data, torch.device("cpu"), batch_size=16)
    with torch.no_grad():
        for a, lp in zip(data, batched):
            alone = model(torch.from_numpy(a)[None])[0].numpy()
            assert lp.shape == alone.shape and np.allclose(lp, alone, atol=1e-5)
    root, run = run_dir
    files = [Path(f) for f in run.report["data_files"]["test"]]
    texts, _, _ = decode_all(run.model, [run.hooks.read(f, run.rate)[0] for f in files], run.alphabet,
                             run.device, batch_size=16)
    assert texts == [p["text"] for p in run.predict(files, beam=1)]


def test_waveform_augmentation_keeps_texts_and_frozen_runs_get_augmented_copies():
    from konstrukt.models.portable.sequence_nets import SignalFrontEnd
    from konstrukt.sequences.augment import augmented_views, waveform_augment
    from konstrukt.sequences.config import SequenceConfig

    settings = SequenceConfig(gain=0.2, time_shift=0.2, stretch=0.25)
    items = [Item(a, [1, 2, 3]) for a in arrays(n=4)]
    assert waveform_augment(SequenceConfig(), RATE, SignalFrontEnd(2, RATE)) is None  # off by default
    assert waveform_augment(settings, RATE, Precomputed(SignalFrontEnd(2, RATE))) is None  # cached features
    augment = waveform_augment(settings, RATE, SignalFrontEnd(2, RATE))
    out = augment(items, [0, 2])
    for it, new in zip([items[0], items[2]], out):
        n = it.x.shape[1]
        assert new.ids == it.ids and new.x.dtype == np.float32 and new.x.shape[0] == 2
        assert 0.75 * (n - 10) - 1 <= new.x.shape[1] <= 1.25 * n + 1  # at most 0.2 s cut, ± 25 % stretch
        assert new.x.shape != it.x.shape or not np.allclose(new.x, it.x)
    views = augmented_views(items, augment, 3)
    assert len(views) == 12 and views[:4] == items
    assert augmented_views(items, None, 3) is items


def test_minirocket_window_is_sized_by_the_texts_and_reloads_with_it():
    data = arrays(n=6, seed=2)
    fe = MiniRocketFrontEnd(2, RATE)
    fe.fit(data, token_counts=[2] * len(data))
    per_token = sum(a.shape[1] for a in data) / (2 * len(data))
    assert abs(fe.window - per_token) <= 2 and fe.hop == fe.window // 8 and fe.fps == RATE / fe.hop
    fresh = MiniRocketFrontEnd(2, RATE)
    assert fresh.window != fe.window
    fresh.load_state_dict(fe.state_dict(), strict=True)  # rebuilt at the saved window first
    x = torch.from_numpy(data[0])[None]
    with torch.no_grad():
        assert fresh.window == fe.window and torch.equal(fresh(x), fe(x))
    fixed = MiniRocketFrontEnd(2, RATE, window=40)
    fixed.fit(data, token_counts=[2] * len(data))
    assert fixed.window == 40  # a window given by hand stays


def test_emg_spectrogram_run_trains_and_reloads(tmp_path):
    from konstrukt.sequences.runfolder import SequenceRun

    run = train_toy(tmp_path, {**TINY, "frontend": "emg_spectrogram", "num_epochs": 6}, n=24, seed=4)
    losses = [h["train_loss"] for h in run.report["history"]]
    assert isinstance(run.model.frontend, EmgSpectrogramFrontEnd) and losses[-1] < 0.8 * losses[0]
    files = [Path(f) for f in run.report["data_files"]["test"]]
    assert SequenceRun.load(tmp_path / "run").predict(files) == run.predict(files)


def test_minirocket_features_agree_in_onnx_on_flat_and_quantised_signals(tmp_path):
    """Flat stretches give kernel outputs of zero up to rounding, and quantised sensors tie:
    ONNX (another summation order) must fall on the same side of every bias as torch."""
    import onnxruntime as ort

    rng = np.random.default_rng(7)

    def rec(n):
        x = np.round(rng.normal(size=(3, n)) * 4) / 4  # a coarse sensor: many equal values
        x[:, n // 3: n // 2] = 0.7  # standing still
        return x.astype(np.float32)

    data = [rec(int(rng.integers(80, 200))) for _ in range(8)]
    fe = MiniRocketFrontEnd(3, 10.0).eval()
    fe.fit(data, token_counts=[2] * len(data))
    path = tmp_path / "fe.onnx"
    import warnings
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(fe, (torch.from_numpy(data[0])[None],), str(path), input_names=["x"], output_names=["y"],
                          dynamic_axes={"x": {0: "b", 2: "t"}, "y": {0: "b", 2: "f"}}, dynamo=False, opset_version=17)
    session = ort.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    for x in data:
        got = session.run(["y"], {"x": x[None]})[0]
        with torch.no_grad():
            want = fe(torch.from_numpy(x)[None]).numpy()
        assert got.shape == want.shape and np.abs(got - want).max() < 1e-4


def test_specaugment_time_stripe_is_sized_at_the_fitted_front_ends_frame_rate(tmp_path):
    """MiniRocket chooses its window, so its frame rate, in fit(): the stripe is sized after it."""
    from konstrukt.sequences.config import build_sequence_config
    from konstrukt.sequences.dataset import load
    from konstrukt.sequences.run import fit_model

    settings = build_sequence_config({**TINY, "num_epochs": 1, "time_mask": 2.0})
    loaded = load(write_sequences(tmp_path, n=8), settings)
    unfitted = MiniRocketFrontEnd(loaded.channels, loaded.rate).fps
    with torch_threads(1):
        model, *_ = fit_model(loaded, list(range(6)), [6, 7], settings, torch.device("cpu"))
    assert isinstance(model.frontend, MiniRocketFrontEnd) and model.frontend.fps != unfitted
    assert model.mask.time_mask == round(2.0 * model.frontend.fps) != round(2.0 * unfitted)
