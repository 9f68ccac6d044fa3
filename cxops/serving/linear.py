"""Softmax-linear models (optionally behind a StandardScaler) as four numpy arrays.

sklearn's predict_proba spends ~170 us per 1-row call on validation, and importing sklearn costs seconds at
server start; the arithmetic itself is ~6 us. A model qualifies only if these arrays reproduce its predict_proba
exactly on probe rows, so binary/one-vs-rest or any other model keeps the estimator's own path.

The softmax exponentiates the logits directly and falls back to sklearn's max-shifted form only when that loses
range: when a row's sum of exponentials overflows, or is so small (every logit below about -667) that subnormal
terms would cost precision.
"""

from __future__ import annotations

import functools
import math
from dataclasses import dataclass
from itertools import repeat
from math import exp
from operator import add, truediv
from pathlib import Path
from typing import Any

import numpy as np

# Rows up to which proba_rows computes the softmax on Python floats: one numpy product, then plain arithmetic.
# Timed in a loop on the digits model (64 features, 10 classes), the two forms cost the same at 4 rows; at one row
# the Python form takes 2.6 us against 5.9 us. In the running server numpy's calls cost several times their loop
# figure (docs/performance.md), so the Python form loses nothing up to here.
SMALL_BATCH = 4
# A row's sum of exponentials must lie in (TINY, inf): below TINY the largest term may be subnormal and the ratios
# imprecise, so the max-shifted form is used instead (exp(-667) is about 1e-290).
TINY = 1e-290


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

    @functools.cached_property
    def _bias(self) -> list[float]:
        return self.folded[1].tolist()

    def standardize(self, X: np.ndarray) -> np.ndarray:
        return (X - self.mean) / self.scale

    def proba(self, X: np.ndarray) -> np.ndarray:
        """(rows, classes) softmax probabilities of (rows, features) X: the exponentiated logits over their row sum;
        the max-shifted form sklearn uses when a row sum is outside (TINY, inf). FloatingPointError when even that
        is not finite (inputs beyond float64)."""
        w, b = self.folded
        z = np.dot(X, w)
        z += b
        np.exp(z, out=z)
        sums = np.add.reduce(z, axis=1, keepdims=True)
        # NaN fails both comparisons
        if np.minimum.reduce(sums, axis=None) > TINY and np.maximum.reduce(sums, axis=None) < math.inf:
            z /= sums
            return z
        return self._shifted(X)

    def proba_rows(self, X: np.ndarray) -> list[list[float]]:
        """proba(X) as Python lists, rows of per-class floats (what a JSON answer is made of). Up to SMALL_BATCH
        rows the softmax runs on Python floats after one numpy product (same arithmetic, same fallback; results
        equal to about 1e-16); more rows take proba's vectorised form. FloatingPointError as proba."""
        if len(X) > SMALL_BATCH:
            return self.proba(X).tolist()
        bias, out = self._bias, []
        try:  # map over C functions: no Python frame per element or per comprehension
            for logits in np.dot(X, self.folded[0]).tolist():
                e = list(map(exp, map(add, logits, bias)))  # OverflowError past float64
                total = sum(e)
                if not TINY < total < math.inf:  # NaN fails too
                    raise OverflowError
                out.append(list(map(truediv, e, repeat(total, len(e)))))
        except OverflowError:
            return self._shifted(X).tolist()
        return out

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
