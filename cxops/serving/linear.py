"""Softmax-linear models (optionally behind a StandardScaler) as four numpy arrays.

sklearn's predict_proba spends ~170 us per 1-row call on validation, and importing sklearn costs seconds at
server start; the arithmetic itself is ~6 us. A model qualifies only if these arrays reproduce its predict_proba
exactly on probe rows, so binary/one-vs-rest or any other model keeps the estimator's own path.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np


@dataclass(frozen=True)
class LinearModel:
    mean: np.ndarray  # zeros when there is no scaler
    scale: np.ndarray  # ones when there is no scaler
    coef: np.ndarray  # (classes, features)
    intercept: np.ndarray  # (classes,)
    classes: np.ndarray

    @property
    def n_features(self) -> int:
        return int(self.coef.shape[1])

    @functools.cached_property
    def folded(self) -> tuple[np.ndarray, np.ndarray]:
        """The scaler folded into the weights: (features, classes) W and (classes,) b with
        z @ coef.T + intercept == X @ W + b for z = (X - mean) / scale (to rounding)."""
        w = self.coef / self.scale  # (classes, features)
        return np.ascontiguousarray(w.T), self.intercept - w @ self.mean

    def standardize(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean) / self.scale

    def proba(self, X: np.ndarray) -> np.ndarray:
        """(rows, classes) softmax probabilities of (rows, features) X. Exponentiates the logits directly (five
        numpy calls: on a one-row request numpy's per-call overhead, not the 64x10 product, is the cost); when
        that overflows or underflows (a logit beyond about +-709), the max-shifted form sklearn uses instead.
        FloatingPointError when even that is not finite (inputs beyond float64)."""
        w, b = self.folded
        z = X @ w
        z += b
        np.exp(z, out=z)
        z /= np.add.reduce(z, axis=1, keepdims=True)
        if math.isfinite(np.add.reduce(z, axis=None)):
            return z
        return self._shifted(X)

    def _shifted(self, X: np.ndarray) -> np.ndarray:
        with np.errstate(all="ignore"):
            z = self.standardize(X) @ self.coef.T + self.intercept
            z -= np.maximum.reduce(z, axis=1, keepdims=True)
            np.exp(z, out=z)
            z /= np.add.reduce(z, axis=1, keepdims=True)
        if not np.isfinite(z).all():
            raise FloatingPointError("the model's scores are not finite for these inputs")
        return z

    def contributions(self, X: np.ndarray, top: np.ndarray) -> np.ndarray:
        """Per-feature contribution to the predicted class's logit: coef[class, j] * z_j."""
        return self.coef[top] * self.standardize(X)

    def save(self, path: Path) -> None:
        np.savez(path, mean=self.mean, scale=self.scale, coef=self.coef, intercept=self.intercept, classes=self.classes)

    @classmethod
    def load(cls, path: Path) -> LinearModel:
        with np.load(path, allow_pickle=False) as z:
            return cls(z["mean"], z["scale"], z["coef"], z["intercept"], z["classes"])


def extract(estimator: Any, probe: np.ndarray) -> LinearModel | None:
    """The arrays of a [StandardScaler →] linear softmax classifier, if they reproduce predict_proba on `probe`."""
    steps = [s for _, s in getattr(estimator, "steps", [("model", estimator)])]
    scaler, last = (steps[0], steps[1]) if len(steps) == 2 else (None, steps[-1])
    if len(steps) > 2 or not all(hasattr(last, a) for a in ("coef_", "intercept_", "classes_")):
        return None
    n = last.coef_.shape[1]
    if scaler is not None:
        if type(scaler).__name__ != "StandardScaler":
            return None
        mean = scaler.mean_ if scaler.with_mean else np.zeros(n)
        scale = scaler.scale_ if scaler.with_std else np.ones(n)
    else:
        mean, scale = np.zeros(n), np.ones(n)
    model = LinearModel(
        np.asarray(mean, float),
        np.asarray(scale, float),
        np.asarray(last.coef_, float),
        np.asarray(last.intercept_, float),
        np.asarray(last.classes_),
    )
    try:
        same = np.allclose(model.proba(probe), estimator.predict_proba(probe), rtol=0, atol=1e-9)
    except (ValueError, FloatingPointError):
        same = False
    return model if same else None
