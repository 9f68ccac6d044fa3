"""Load a build directory: manifest check, then the exported linear arrays (fast, no sklearn import) or the
MLflow model files (sklearn flavor, skops or pickle)."""

from __future__ import annotations

import json
import pickle
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from cxops.serving.linear import LinearModel
from cxops.serving.manifest import verify_manifest

LINEAR_FILE = Path("fast") / "linear.npz"
# skops refuses types outside its defaults; extra ones are accepted only from these trusted packages.
TRUSTED_PREFIXES = ("sklearn.", "numpy.", "scipy.")


class ModelLoadError(Exception):
    pass


@dataclass
class LoadedModel:
    n_features: int
    classes: list[int]
    version: dict[str, Any]
    linear: LinearModel | None = None
    estimator: Any = None

    def proba(self, X: np.ndarray) -> np.ndarray:
        return self.linear.proba(X) if self.linear is not None else self.estimator.predict_proba(X)


def load_estimator(model_dir: Path) -> Any:
    """The sklearn estimator from MLflow model files (MLmodel → flavors.sklearn)."""
    import yaml

    flavor = yaml.safe_load((model_dir / "MLmodel").read_text())["flavors"]["sklearn"]
    path, fmt = model_dir / flavor["pickled_model"], flavor.get("serialization_format")
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


def load_model_dir(build_dir: Path, check_manifest: bool = True) -> LoadedModel:
    try:
        if check_manifest and (problem := verify_manifest(build_dir)):
            raise ModelLoadError(problem)
        version = json.loads((build_dir / "version.json").read_text())
        if (build_dir / LINEAR_FILE).exists():
            linear = LinearModel.load(build_dir / LINEAR_FILE)
            return LoadedModel(linear.n_features, [int(c) for c in linear.classes], version, linear=linear)
        estimator = load_estimator(build_dir / "model")
        n_features = int(getattr(estimator, "n_features_in_", 0))
        classes = [int(c) for c in getattr(estimator, "classes_", [])]
        if not n_features or not classes:
            raise ModelLoadError("the estimator has no n_features_in_/classes_; not a fitted classifier")
    except ModelLoadError:
        raise
    except Exception as exc:  # any corruption: report, do not crash the server (readyz says false)
        raise ModelLoadError(f"{type(exc).__name__}: {exc}") from exc
    return LoadedModel(n_features, classes, version, estimator=estimator)
