"""The bundled example: a digits classifier on scikit-learn's load_digits (ships with sklearn, no download)."""

from __future__ import annotations

import hashlib
from typing import Any

import numpy as np

from cxops.config.schema import Dataset as DatasetSpec
from cxops.errors import CxopsError
from cxops.model.interface import Dataset, Evaluation

ALLOWED_PARAMS = {"C", "max_iter", "tol", "solver"}


def data_digest(*arrays: np.ndarray) -> str:
    h = hashlib.sha256()
    for a in arrays:
        h.update(str(a.dtype).encode() + str(a.shape).encode())
        h.update(np.ascontiguousarray(a).tobytes())
    return h.hexdigest()


class DigitsProject:
    def load_data(self, spec: DatasetSpec) -> Dataset:
        from sklearn.datasets import load_digits
        from sklearn.model_selection import train_test_split

        bunch = load_digits()
        X = bunch.data.astype(np.float64)
        y = bunch.target.astype(np.int64)
        X_tr, X_te, y_tr, y_te = train_test_split(
            X, y, test_size=spec.test_size, random_state=spec.seed, stratify=y
        )
        return Dataset(
            X_train=X_tr, y_train=y_tr, X_test=X_te, y_test=y_te,
            feature_names=[f"pixel_{i // 8}_{i % 8}" for i in range(X.shape[1])],
            class_names=[str(c) for c in bunch.target_names],
            digest=data_digest(X_tr, y_tr, X_te, y_te),
        )  # fmt: skip

    def train(self, params: dict[str, Any], data: Dataset) -> tuple[Any, dict[str, float]]:
        from sklearn.linear_model import LogisticRegression
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import StandardScaler

        unknown = set(params) - ALLOWED_PARAMS
        if unknown:
            raise CxopsError(f"model.params: unknown parameter(s) {sorted(unknown)}; valid: {sorted(ALLOWED_PARAMS)}")
        model = make_pipeline(StandardScaler(), LogisticRegression(**params))
        try:
            model.fit(data.X_train, data.y_train)
        except ValueError as exc:
            raise CxopsError(f"model.params rejected by LogisticRegression: {exc}") from None
        return model, {"train_accuracy": float(model.score(data.X_train, data.y_train))}

    def evaluate(self, model: Any, X: np.ndarray, y: np.ndarray, class_names: list[str]) -> Evaluation:
        from sklearn.metrics import (
            accuracy_score,
            confusion_matrix,
            f1_score,
            precision_recall_fscore_support,
        )

        pred = model.predict(X)
        labels = list(range(len(class_names)))
        p, r, f, s = precision_recall_fscore_support(y, pred, labels=labels, zero_division=0)
        per_class = {
            name: {"precision": float(p[i]), "recall": float(r[i]), "f1": float(f[i]), "support": int(s[i])}
            for i, name in enumerate(class_names)
        }
        metrics = {
            "accuracy": float(accuracy_score(y, pred)),
            "macro_f1": float(f1_score(y, pred, average="macro", zero_division=0)),
        }
        cm = confusion_matrix(y, pred, labels=labels).tolist()
        return Evaluation(metrics=metrics, per_class=per_class, confusion=cm, predictions=pred.tolist())
