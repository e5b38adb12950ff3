"""A closed-form ridge head on frozen features: scikit-learn's ``RidgeClassifierCV``, as a Linear layer.

MiniRocket's paper (and aeon's pipeline) put a ``RidgeClassifierCV`` on its ~10k features: targets
±1 per class, an intercept, and the penalty ``alpha`` chosen from ``ALPHAS`` by the efficient
leave-one-out error of the training examples themselves. A logistic head trained by gradient on the
same features was a few examples behind on JapaneseVowels (docs/benchmarks.md), so ridge pipelines
fit their head here instead of by gradient. The result is an ordinary ``nn.Linear`` (weights and
bias), so export, serving and INT8 see nothing new.

Ridge decisions are not probabilities: their softmax would be nearly flat. A temperature, fitted on
the *leave-one-out* decisions (held-out by construction, so not the training fit's overconfidence),
scales the layer so that its softmax is calibrated; it changes no prediction.
"""
from __future__ import annotations

import numpy as np
import torch
from torch import nn

ALPHAS = np.logspace(-3, 3, 10)  # RidgeClassifierCV's grid in aeon's MiniRocket pipeline


def _targets(y: np.ndarray, classes: int) -> np.ndarray:
    """±1 one-hot targets (N, C) (LabelBinarizer(neg_label=-1), one column per class)."""
    t = -np.ones((y.size, classes))
    t[np.arange(y.size), y] = 1.0
    return t


def ridge_loo(x: np.ndarray, t: np.ndarray, alphas=ALPHAS):
    """(alpha, dual coefficients (N, C), leave-one-out decisions (N, C)) of ridge with an unpenalised
    intercept, alpha chosen by the least leave-one-out squared error (scikit-learn's ``_RidgeGCV``:
    the N × N kernel's eigenvectors when N ≤ D, else the design matrix's SVD, so neither side's
    cube is paid where it is the large one). ``x`` and ``t`` are centred."""
    n, d = x.shape
    ones = np.ones(n) / np.sqrt(n)
    if n <= d:
        eigvals, q = np.linalg.eigh(x @ x.T)  # (N,), (N, N)
        extra = 0.0  # no null space left out
    else:  # SVD of [X, 1]: the N − D − 1 directions it leaves out have eigenvalue 0
        q, sing, _ = np.linalg.svd(np.hstack([x, ones[:, None]]), full_matrices=False)  # (N, D + 1)
        eigvals = sing ** 2
        extra = 1.0
    qt_t = q.T @ t  # (k, C)
    # The intercept direction (the constant vector) is not penalised: scikit-learn drops it.
    intercept_dim = int(np.argmax(np.abs(q.T @ ones)))
    best = None
    for alpha in alphas:
        w = 1.0 / (eigvals + alpha) - extra / alpha
        w[intercept_dim] = -extra / alpha
        c = q @ (w[:, None] * qt_t) + extra / alpha * t  # (N, C) dual coefficients
        g_diag = (q ** 2) @ w + extra / alpha  # (N,) diagonal of the inverse
        loo_residual = c / g_diag[:, None]  # t − LOO prediction
        err = float(np.mean(loo_residual ** 2))
        if best is None or err < best[0] - 1e-12:
            best = (err, float(alpha), c, t - loo_residual)
    _, alpha, c, loo = best
    return alpha, c, loo


def _temperature(decisions: np.ndarray, y: np.ndarray) -> float:
    """The scale s > 0 minimising the cross-entropy of softmax(s · decisions) (a 1-D search)."""
    def nll(s: float) -> float:
        z = s * decisions
        z = z - z.max(axis=1, keepdims=True)
        return float(np.mean(np.log(np.exp(z).sum(axis=1)) - z[np.arange(y.size), y]))

    grid = np.logspace(-1, 3, 81)
    return float(grid[int(np.argmin([nll(s) for s in grid]))])


def fit_ridge(head: nn.Sequential, feats: torch.Tensor, labels: torch.Tensor) -> dict:
    """Fit ``head`` (a single Linear layer) in closed form on embeddings (N, D) and labels (N,);
    returns the one history row of this "epoch" (training loss and accuracy, alpha, LOO accuracy)."""
    linear = head[-1]
    if len(head) != 1 or not isinstance(linear, nn.Linear):
        raise ValueError("a ridge head is one Linear layer (head: linear); hidden layers need gradient training")
    x = feats.double().numpy()  # (N, D)
    y = labels.numpy().astype(int)
    classes = linear.out_features
    t = _targets(y, classes)
    x_mean, t_mean = x.mean(axis=0), t.mean(axis=0)
    alpha, c, loo = ridge_loo(x - x_mean, t - t_mean)
    coef = (x - x_mean).T @ c  # (D, C) primal weights
    scale = _temperature(loo + t_mean, y)
    with torch.no_grad():
        linear.weight.copy_(torch.from_numpy(scale * coef.T))
        linear.bias.copy_(torch.from_numpy(scale * (t_mean - x_mean @ coef)))
    train = scale * (x @ coef + (t_mean - x_mean @ coef))  # (N, C) logits of the fitted layer
    train = train - train.max(axis=1, keepdims=True)
    train_loss = float(np.mean(np.log(np.exp(train).sum(axis=1)) - train[np.arange(y.size), y]))
    train_acc = float(np.mean(train.argmax(axis=1) == y))
    loo_acc = float(np.mean((loo + t_mean).argmax(axis=1) == y))
    row = {"epoch": 1, "train_loss": train_loss, "train_accuracy": train_acc, "val_loss": None,
           "val_accuracy": None, "ridge_alpha": alpha, "loo_accuracy": loo_acc, "temperature": scale}
    return row
