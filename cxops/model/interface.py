"""The model-project interface: the one contract a team implements so cxops can train, evaluate, build, serve and
gate its model (selected by `model.project: package.module:Class` in cxops.yaml). docs/models.md walks through it.

A project does three things; cxops does everything else (the MLflow run, params, lineage tags, cost, evaluation
metrics, gates, build, serving, canary):

1. `load_data(spec)` → `Dataset`: the same fixed train/test split every time for the same `model.dataset` settings
   (the held-out part is what evaluation measures and what the canary replays). Labels are integers 0..k-1 that
   index `class_names`.
2. `train(params, data)` → `(model, train_metrics)`: fit on the training part; `params` are `model.params`.
3. `log_model(model, data, name=..., metadata=...)`: log the fitted model with the MLflow flavor that fits
   (sklearn, pytorch, pyfunc, ...) under artifact `name`, WITH a signature, an input example (a few rows of
   `data.X_train`), exact pip requirements and cxops' `metadata` passed through. Its pyfunc `predict` must return
   class probabilities, shape (rows, k), column j = class j.

Optionally, `evaluate(model, X_test, y_test, class_names)` → `Evaluation` replaces cxops' standard metrics
(accuracy, macro_f1, log_loss, mean_confidence; cxops.model.evaluation) for a project that needs others; `model`
is the logged model as cxops loads it (`model.proba_checked(X)` gives its probabilities).

cxops checks the last point when it evaluates the logged model (a model that returns labels or logits is refused
with the reason), so a broken contract stops at the evaluation gate, not in production.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Protocol, runtime_checkable

import numpy as np

from cxops.config.schema import Dataset as DatasetSpec
from cxops.errors import CxopsError

TASK = "classification"  # the only task so far; serving and the gates read it from the model's metadata


@dataclass(frozen=True)
class Dataset:
    """A fixed split. X arrays are (rows, *feature_shape), e.g. (n, 64) or (n, 1, 8, 8); y arrays are (rows,)
    integers 0..k-1; `feature_names` name the columns of a 2-D X (a DataFrame signature) or are empty;
    `digest` is the sha256 over the exact arrays (the data-hash lineage tag; see `data_digest`)."""

    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    feature_names: list[str]
    class_names: list[str]
    digest: str


@dataclass
class Evaluation:
    """Held-out evaluation: scalar metrics, per-class precision/recall/f1/support, the confusion matrix
    (rows = true class, columns = predicted) and the predicted class per held-out row."""

    metrics: dict[str, float]
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]
    predictions: list[int] = field(default_factory=list)


@runtime_checkable
class ModelProject(Protocol):
    """What a team implements (see the module docstring). The class is instantiated with no arguments."""

    def load_data(self, spec: DatasetSpec) -> Dataset:
        """The fixed split for `spec` (model.dataset); raise CxopsError for settings it cannot honour."""
        ...

    def train(self, params: dict[str, Any], data: Dataset) -> tuple[Any, dict[str, float]]:
        """Fit on data.X_train / y_train; return the fitted model and training metrics (logged on the run)."""
        ...

    def log_model(self, model: Any, data: Dataset, *, name: str, metadata: dict[str, Any]) -> Any:
        """Log `model` to the active MLflow run under artifact `name` with signature, input example, pinned
        pip requirements and `metadata`; its pyfunc predict returns class probabilities. Returns MLflow's
        ModelInfo."""
        ...


def model_metadata(data: Dataset) -> dict[str, Any]:
    """What cxops stores in the MLflow model's metadata (MLmodel `metadata.cxops`): the task, the class labels
    the probability columns stand for (0..k-1) and their names. The server and the gates read it back."""
    return {
        "cxops": {"task": TASK, "classes": list(range(len(data.class_names))), "class_names": list(data.class_names)}
    }


def data_digest(*arrays: np.ndarray) -> str:
    """sha256 (hex) over each array's dtype, shape and bytes: equal data, equal digest."""
    import hashlib

    h = hashlib.sha256()
    for a in arrays:
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


def load_project(entry: str) -> ModelProject:
    """Import `package.module:Class` (from the installed packages or the directory of cxops.yaml), instantiate it
    and check it has the interface's methods.
    CxopsError naming the entry when it cannot be imported or lacks a method."""
    import sys

    from cxops.config import config_path

    module_name, _, cls_name = entry.partition(":")
    root = str(config_path().resolve().parent)  # a team's project package lives beside cxops.yaml
    if root not in sys.path:
        sys.path.append(root)
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as exc:
        raise CxopsError(f"model.project {entry!r} cannot be loaded ({exc}); expected 'package.module:Class'") from None
    project = cls()
    missing = [m for m in ("load_data", "train", "log_model") if not callable(getattr(project, m, None))]
    if missing:
        raise CxopsError(f"model.project {entry!r} lacks {', '.join(missing)} (see cxops.model.interface)")
    return project


def check_logged(info: Any, entry: str) -> None:
    """Refuse a logged model without a signature or an input example (MLflow's ModelInfo from log_model):
    serving validates requests against the signature and the build's golden predictions come from the example.
    CxopsError naming the project."""
    if info is None or not hasattr(info, "model_uri"):
        raise CxopsError(
            f"model.project {entry!r}: log_model must return MLflow's ModelInfo (return the value "
            "of mlflow.<flavor>.log_model)"
        )
    if getattr(info, "signature", None) is None:
        raise CxopsError(
            f"model.project {entry!r} logged a model without a signature; pass signature= "
            "(mlflow.models.infer_signature(example, probabilities))"
        )
    if not getattr(info, "saved_input_example_info", None):
        raise CxopsError(f"model.project {entry!r} logged a model without an input example; pass input_example=")
