"""Load a build's model directory: MLflow model files (sklearn flavor) plus version.json lineage."""

from __future__ import annotations

import json
import pickle
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import yaml


class ModelLoadError(Exception):
    pass


@dataclass
class LoadedModel:
    estimator: Any
    n_features: int
    classes: list[int]
    version: dict[str, Any]
    fast: Callable[[np.ndarray], np.ndarray] | None = None

    def proba(self, X: np.ndarray) -> np.ndarray:
        return self.fast(X) if self.fast is not None else self.estimator.predict_proba(X)

    def compile_linear(self, probe: np.ndarray) -> None:
        """Use plain numpy for scaler + softmax-linear models, only if it matches predict_proba on `probe`.

        sklearn's predict_proba spends ~170 us per call on validation for a 1-row batch; the arithmetic is ~6 us.
        Verifying against the estimator keeps the shortcut honest (binary/OvR models fail the check and keep
        the estimator's own path).
        """
        parts = self.linear_parts()
        if parts is None:
            return
        scaler, coef, intercept = parts
        mean = getattr(scaler, "mean_", None) if scaler is not None else None
        scale = getattr(scaler, "scale_", None) if scaler is not None else None
        if scaler is not None and (type(scaler).__name__ != "StandardScaler" or mean is None or scale is None):
            return
        coef_t = np.ascontiguousarray(coef.T)

        def softmax_linear(X: np.ndarray) -> np.ndarray:
            Z = (X - mean) / scale if scaler is not None else X
            logits = Z @ coef_t + intercept
            logits -= logits.max(axis=1, keepdims=True)
            np.exp(logits, out=logits)
            logits /= logits.sum(axis=1, keepdims=True)
            return logits

        try:
            ok = np.allclose(softmax_linear(probe), self.estimator.predict_proba(probe), rtol=0, atol=1e-9)
        except (ValueError, FloatingPointError):
            ok = False
        if ok:
            self.fast = softmax_linear

    def linear_parts(self) -> tuple[Any, Any, Any] | None:
        """(scaler or None, coef, intercept) when the model is linear, for per-feature contributions."""
        est = self.estimator
        steps = getattr(est, "steps", None)
        scaler, last = None, est
        if steps:
            last = steps[-1][1]
            if len(steps) == 2 and hasattr(steps[0][1], "transform"):
                scaler = steps[0][1]
            elif len(steps) != 1:
                return None
        if hasattr(last, "coef_") and hasattr(last, "intercept_"):
            return scaler, last.coef_, last.intercept_
        return None


# skops refuses types outside its defaults; extra ones are accepted only from these trusted packages.
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.")


def _load_estimator(path: Path, fmt: str | None) -> Any:
    if fmt == "skops":
        import skops.io as sio

        untrusted = sio.get_untrusted_types(file=path)
        unknown = [t for t in untrusted if not t.startswith(TRUSTED_PREFIXES)]
        if unknown:
            raise ModelLoadError(f"model file holds types outside sklearn/numpy/scipy: {unknown}")
        return sio.load(path, trusted=untrusted)
    if fmt in ("pickle", "cloudpickle"):
        # Only for models this project's own train step wrote (the registry is ours), never for uploads.
        with open(path, "rb") as fh:
            return pickle.load(fh)
    raise ModelLoadError(f"unsupported sklearn serialization_format {fmt!r}; expected skops or pickle")


def load_model_dir(build_dir: Path) -> LoadedModel:
    """Read version.json and model/MLmodel, then unpickle the sklearn model the build recorded."""
    try:
        version = json.loads((build_dir / "version.json").read_text())
        mlmodel = yaml.safe_load((build_dir / "model" / "MLmodel").read_text())
        flavor = mlmodel["flavors"]["sklearn"]
        estimator = _load_estimator(build_dir / "model" / flavor["pickled_model"], flavor.get("serialization_format"))
        n_features = int(getattr(estimator, "n_features_in_", 0))
        classes = [int(c) for c in getattr(estimator, "classes_", [])]
        if not n_features or not classes:
            raise ModelLoadError("the estimator has no n_features_in_/classes_; not a fitted classifier")
    except ModelLoadError:
        raise
    except Exception as exc:  # any corruption: report, do not crash the server (readyz says false)
        raise ModelLoadError(f"{type(exc).__name__}: {exc}") from exc
    model = LoadedModel(estimator, n_features, classes, version)
    model.compile_linear(_probe(build_dir, n_features))
    return model


def _probe(build_dir: Path, n_features: int) -> np.ndarray:
    """Inputs to check a compiled path against: the build's golden rows, else deterministic random rows."""
    try:
        rows = json.loads((build_dir / "golden.json").read_text())["inputs"]
        return np.asarray(rows, dtype=np.float64)
    except (OSError, ValueError, KeyError):
        return np.random.default_rng(0).normal(size=(32, n_features)) * 5
