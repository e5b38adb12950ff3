"""The modality record's export hooks: the generic exporter, bundle loader, card and upload check
ask the modality (no branch on its name), a modality that fills in nothing gets the defaults, and
each wing answers for its own backbones."""
from __future__ import annotations

import numpy as np
import pytest
import soundfile

from konstrukt.errors import DataError, RunError
from konstrukt.exporting.hooks import IdentityAdapter, Int8Policy, OnnxInput
from konstrukt.tasks import MODALITIES, ExportHooks, Modality, UICapabilities


@pytest.fixture
def toy_modality(monkeypatch):
    """A registered modality that fills in no export hook ("toy")."""
    toy = Modality(name="toy", extensions=frozenset({".toy"}), preprocessor=lambda spec, config: None,
                   augmentations=lambda: None, example_input=lambda spec, batch=1, small=False: None,
                   ui=UICapabilities(accept=(".toy",)))
    MODALITIES.names()  # fill the registry first: the toy joins the real modalities
    monkeypatch.setitem(MODALITIES._entries, "toy", toy)
    return toy


def test_a_modality_without_export_hooks_exports_with_the_defaults(toy_modality):
    from konstrukt.architecture import build_preprocessor
    from konstrukt.exporting.bundle import input_adapter
    from konstrukt.exporting.card import _preprocessing_words
    from konstrukt.exporting.onnx import int8_policy, onnx_input
    from konstrukt.exporting.writer import runtime_dists

    assert toy_modality.export == ExportHooks()
    assert onnx_input("toy", "any") == OnnxInput() and not OnnxInput().unpadded
    assert int8_policy("toy", "any") == Int8Policy() and not Int8Policy().dynamic  # static, calibrated
    adapter = input_adapter("toy", None)
    assert isinstance(adapter, IdentityAdapter) and adapter.extra_state() == {}
    inputs = [np.zeros((2, 3), np.float32)]
    assert adapter.to_graph(inputs) is inputs
    assert runtime_dists("onnx", "toy", "any") == ["onnxruntime", "numpy"]
    assert _preprocessing_words({"kind": "toy"}, None) == "toy preprocessing"
    with pytest.raises(RunError) as err:  # no restore hook: a saved toy preprocessor cannot come back
        build_preprocessor({"preprocessing": {"kind": "toy"}})
    assert "'toy'" in err.value.message and "toy" not in err.value.problems[0]


def test_the_bundle_needs_and_card_words_come_from_the_modality(monkeypatch, toy_modality):
    from konstrukt.exporting.card import _preprocessing_words
    from konstrukt.exporting.writer import runtime_dists

    hooks = ExportHooks(noun="toy", reader_dists=("toyreader",), torch_dists=("toyvision",),
                        describe=lambda pre: f"{pre['beads']} beads")
    monkeypatch.setitem(MODALITIES._entries, "toy", Modality(**{**vars(toy_modality), "export": hooks}))
    assert runtime_dists("onnx", "toy", "scratch_cnn") == ["onnxruntime", "numpy", "toyreader"]
    assert runtime_dists("torch", "toy", "scratch_cnn") == ["torch", "toyvision", "safetensors", "numpy",
                                                            "toyreader"]
    assert _preprocessing_words({"kind": "toy", "beads": 3, "in_model": {"normalise": {}}},
                                hooks.describe) == "3 beads; inside the model: mean/std normalisation"


def test_each_wing_answers_for_its_own_backbones():
    from konstrukt.exporting.onnx import int8_policy, onnx_input

    w2v = onnx_input("audio", "wav2vec2_base")
    assert w2v.unpadded and w2v.dynamic_axes[0][:2] == (1, "time") and w2v.wrap and "padding" in w2v.notes[0]
    cnn = onnx_input("audio", "scratch_melcnn")
    assert not cnn.unpadded and cnn.trace and cnn.finish and "log-mel" in cnn.notes[0]
    assert int8_policy("audio", "ast").dynamic and int8_policy("audio", "ast").float_nodes  # front end in float
    assert not int8_policy("audio", "cnn14").dynamic and int8_policy("audio", "cnn14").finish  # float16 front end
    assert int8_policy("signal", "minirocket").op_types == ("Gemm", "MatMul")  # the head only
    assert int8_policy("signal", "rescnn") == Int8Policy(dynamic=True, per_channel=True)
    assert onnx_input("image", "resnet18") == OnnxInput() and int8_policy("image", "resnet18") == Int8Policy()
    assert MODALITIES.get("signal").export.adapter and not MODALITIES.get("image").export.adapter


@pytest.mark.parametrize("modality, backbone, task", [("image", "scratch_cnn", "image"),
                                                      ("audio", "scratch_melcnn", "sound")])
def test_a_saved_preprocessor_is_restored_by_its_modality(modality, backbone, task):
    from konstrukt.architecture import build_preprocessor
    from konstrukt.config import TrainConfig
    from konstrukt.models.backbones import BACKBONES

    pre = MODALITIES.get(modality).preprocessor(BACKBONES.get(backbone), TrainConfig(task=task))
    again = build_preprocessor({"preprocessing": pre.state()})
    assert type(again) is type(pre) and again.state() == pre.state()
    assert MODALITIES.get(modality).export.describe(pre.state())


def test_only_audio_uploads_have_a_length_rule(tmp_path):
    from konstrukt.service.storage import modality_rule

    short = tmp_path / "click.wav"
    soundfile.write(short, np.zeros(800, np.float32), 16000)  # 50 ms
    with pytest.raises(DataError, match="50 ms of audio, shorter than the minimum of 100 ms"):
        modality_rule("sound", short)
    modality_rule("image", short)  # images have no rule beyond being readable
    assert MODALITIES.get("image").check_upload is None and MODALITIES.get("signal").check_upload is None
