"""Strict, honest weight loading, heads and strategies (the contract itself: test_modalities.py)."""
import pytest
import torch

from konstrukt.errors import ConfigError, WeightsUnavailableError
from konstrukt.models.backbones import BACKBONES, build_backbone
from konstrukt.models.classifier import Classifier, count_parameters, set_trainable
from konstrukt.models.heads import build_head, head_blocks
from konstrukt.config import HeadBlock


def test_every_pipeline_names_a_registered_backbone():
    from konstrukt.pipelines import PIPELINES

    for name, spec in PIPELINES.items():
        assert spec.backbone in BACKBONES, name


def test_state_dict_file_with_official_keys_loads_strictly(tmp_path):
    import torchvision

    reference = torchvision.models.resnet18(weights=None)
    torch.save(reference.state_dict(), tmp_path / "resnet18.pth")
    model = build_backbone("resnet18", str(tmp_path / "resnet18.pth"))
    assert torch.equal(model.model.conv1.weight, reference.conv1.weight)


def test_checkpoint_of_another_architecture_is_refused_with_the_mismatch(tmp_path):
    import torchvision

    torch.save(torchvision.models.resnet18(weights=None).state_dict(), tmp_path / "r18.pth")
    with pytest.raises(WeightsUnavailableError, match="does not match torchvision mobilenet_v3_small"):
        build_backbone("mobilenet_v3_small", str(tmp_path / "r18.pth"))


def test_pickled_objects_are_never_loaded(tmp_path):
    torch.save({"weights": object()}, tmp_path / "evil.pth")
    with pytest.raises(WeightsUnavailableError, match="cannot read weights file"):
        build_backbone("scratch_cnn", str(tmp_path / "evil.pth"))


def test_offline_without_cached_weights_says_how_to_fix():
    with pytest.raises(WeightsUnavailableError) as err:
        build_backbone("efficientnet_b0", "imagenet")
    text = str(err.value)
    assert "not cached" in text and "--pretrained PATH" in text and "--pretrained none" not in text


def test_unknown_pretrained_value_lists_choices():
    with pytest.raises(ConfigError, match="choose one of: none, imagenet"):
        build_backbone("resnet18", "no-such-file.pth")


def test_heads_are_built_from_layer_specs():
    blocks = [HeadBlock(units=32, activation="gelu", dropout=0.2, batchnorm=True)]
    head = build_head(blocks, 16, 4)
    kinds = [type(m).__name__ for m in head]
    assert kinds == ["Linear", "BatchNorm1d", "GELU", "Dropout", "Linear"]
    assert head(torch.rand(3, 16)).shape == (3, 4)
    assert [b.units for b in head_blocks("mlp")] == [256]


@pytest.mark.parametrize("strategy,trained", [("probe", "head"), ("head", "head"),
                                              ("partial", "some"), ("full", "all")])
def test_strategies_freeze_the_right_parts(strategy, trained):
    model = Classifier(build_backbone("scratch_cnn", "none"), build_head([], 128, 2))
    set_trainable(model, strategy, partial_blocks=1)
    total, trainable = count_parameters(model)
    head_params = sum(p.numel() for p in model.head.parameters())
    expected = {"head": head_params, "all": total}.get(trained)
    if expected is not None:
        assert trainable == expected
    else:
        assert head_params < trainable < total
