"""The bundled example: a digits classifier on scikit-learn's load_digits (ships with sklearn, no download).

A StandardScaler → multinomial LogisticRegression pipeline: the server serves it on its verified linear fast path
(four numpy arrays, no sklearn at start-up)."""

from __future__ import annotations

from typing import Any

import numpy as np

from cxops.config.schema import Dataset as DatasetSpec
from cxops.errors import CxopsError
from cxops.model.interface import Dataset, Evaluation, data_digest

ALLOWED_PARAMS = {"C", "max_iter", "tol", "solver"}


def load_digits_split(spec: DatasetSpec) -> Dataset:
    """load_digits (1797 rows of 64 pixel intensities 0..16, labels 0..9), split stratified by `spec`."""
    from sklearn.datasets import load_digits
    from sklearn.model_selection import train_test_split

    if spec.name != "digits":
        raise CxopsError(f"model.dataset.name {spec.name!r}: this project loads 'digits'")
    bunch = load_digits()
    X = bunch.data.astype(np.float64)
    y = bunch.target.astype(np.int64)
    X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=spec.test_size, random_state=spec.seed, stratify=y)
    return Dataset(
        X_train=X_tr,
        y_train=y_tr,
        X_test=X_te,
        y_test=y_te,
        feature_names=[f"pixel_{i // 8}_{i % 8}" for i in range(X.shape[1])],
        class_names=[str(c) for c in bunch.target_names],
        digest=data_digest(X_tr, y_tr, X_te, y_te),
    )


class DigitsProject:
    """model.project: cxops.model.digits:DigitsProject. Params: C, max_iter, tol, solver (LogisticRegression)."""

    def load_data(self, spec: DatasetSpec) -> Dataset:
        return load_digits_split(spec)

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
        """The standard classification metrics (the optional hook; subclasses may add to them). `model` is the
        logged model as cxops loads it (`proba_checked(X)` gives its probabilities)."""
        from cxops.model.evaluation import classification_metrics

        return classification_metrics(model.proba_checked(np.asarray(X, dtype=np.float64)), y, class_names)

    def log_model(self, model: Any, data: Dataset, *, name: str, metadata: dict[str, Any]) -> Any:
        import mlflow
        import sklearn
        from mlflow.models import infer_signature

        example = data.X_train[:2]
        # pyfunc predict = predict_proba (the interface's contract); explicit requirements: MLflow's inference
        # of them spawns a subprocess and costs seconds per run.
        return mlflow.sklearn.log_model(
            model,
            name=name,
            signature=infer_signature(example, model.predict_proba(example)),
            input_example=example,
            pyfunc_predict_fn="predict_proba",
            metadata=metadata,
            pip_requirements=[f"scikit-learn=={sklearn.__version__}", f"numpy=={np.__version__}"],
        )
