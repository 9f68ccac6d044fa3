"""Evaluation of any classifier from its class probabilities: the model is loaded through MLflow's pyfunc loader
(the same path serving uses), so what is measured is what is served."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np

from cxops.errors import CxopsError
from cxops.model.interface import Dataset, Evaluation


def load_classifier(model_uri: str) -> Any:
    """The model at `model_uri` (runs:/..., models:/...) as a cxops PyfuncScorer: validated signature, classes
    from its metadata. CxopsError when the model breaks the interface (no signature, non-numeric inputs)."""
    import mlflow

    from cxops.serving.model_dir import ModelLoadError, model_classes, read_mlmodel
    from cxops.serving.pyfunc_model import PyfuncScorer
    from cxops.serving.signature import SignatureError, parse_signature

    local = model_uri if Path(model_uri).is_dir() else mlflow.artifacts.download_artifacts(artifact_uri=model_uri)
    mlmodel = read_mlmodel(Path(local))
    try:
        schema = parse_signature(mlmodel)
        classes, _names = model_classes(mlmodel)
    except (SignatureError, ModelLoadError) as exc:
        raise CxopsError(f"{model_uri}: {exc}") from None
    return PyfuncScorer(Path(local), schema, len(classes), mlmodel.get("flavors") or {})


def probabilities(scorer: Any, X: np.ndarray, what: str) -> np.ndarray:
    """scorer.proba_checked on the held-out rows (through pyfunc's public predict); CxopsError naming `what`
    when the output is not class probabilities (the interface's contract)."""
    from cxops.serving.pyfunc_model import ContractError

    try:
        return scorer.proba_checked(np.asarray(X, dtype=np.float64))
    except ContractError as exc:
        raise CxopsError(f"{what}: {exc}") from None


def project_evaluation(project: Any, scorer: Any, data: Dataset, what: str) -> Evaluation:
    """The held-out evaluation of `scorer` (a load_classifier result): the project's own `evaluate(scorer, X, y,
    class_names)` when it defines one (optional, e.g. to add metrics), else `evaluate` on the model's
    probabilities. CxopsError naming `what` when the model breaks the output contract."""
    from cxops.serving.pyfunc_model import ContractError

    custom = getattr(project, "evaluate", None)
    if not callable(custom):
        return evaluate(probabilities(scorer, data.X_test, what), data)
    try:
        return custom(scorer, data.X_test, data.y_test, data.class_names)
    except ContractError as exc:
        raise CxopsError(f"{what}: {exc}") from None


def evaluate(proba: np.ndarray, data: Dataset) -> Evaluation:
    """accuracy, macro_f1, log_loss and mean_confidence on the held-out split, per-class precision/recall/f1,
    the confusion matrix; `proba` is (rows, classes) for data.X_test."""
    return classification_metrics(proba, data.y_test, data.class_names)


def classification_metrics(proba: np.ndarray, y: np.ndarray, class_names: list[str]) -> Evaluation:
    """`evaluate` for explicit arrays: `proba` (rows, classes), `y` (rows,) labels 0..k-1."""
    from sklearn.metrics import accuracy_score, confusion_matrix, f1_score, log_loss, precision_recall_fscore_support

    pred = proba.argmax(axis=1)
    labels = list(range(len(class_names)))
    p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
    per_class = {
        name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
        for i, name in enumerate(class_names)
    }
    metrics = {
        "accuracy": float(accuracy_score(y, pred)),
        "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0)),
        "log_loss": float(log_loss(y, np.clip(proba, 1e-15, 1), labels=labels)),
        "mean_confidence": float(proba.max(axis=1).mean()),
    }
    cm = confusion_matrix(y, pred, labels=labels).tolist()
    return Evaluation(metrics=metrics, per_class=per_class, confusion=cm, predictions=pred.tolist())
