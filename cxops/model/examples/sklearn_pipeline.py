"""Example project: a non-linear scikit-learn pipeline with preprocessing on the wine data (ships with sklearn):
imputation and quantile scaling of every column → a small neural network (MLPClassifier).
Named columns, so its signature is a DataFrame schema; served through MLflow's pyfunc loader (no fast path applies
to a network). An MLP rather than boosted trees: skops refuses the tree predictor's raw node arrays as untrusted,
and a project should not trust types it has not reviewed."""

from __future__ import annotations

from typing import Any

import numpy as np

from cxops.config.schema import Dataset as DatasetSpec
from cxops.errors import CxopsError
from cxops.model.interface import Dataset, data_digest

DEFAULTS: dict[str, Any] = {"hidden": 32, "alpha": 0.001, "max_iter": 600, "random_state": 0}


class WinePipeline:
    """model.project: cxops.model.examples.sklearn_pipeline:WinePipeline (dataset name: wine). Params: hidden
    (units of the one hidden layer), alpha, max_iter, random_state (MLPClassifier's)."""

    def load_data(self, spec: DatasetSpec) -> Dataset:
        from sklearn.datasets import load_wine
        from sklearn.model_selection import train_test_split

        if spec.name != "wine":
            raise CxopsError(f"model.dataset.name {spec.name!r}: this project loads 'wine'")
        bunch = load_wine()
        X = bunch.data.astype(np.float64)
        y = bunch.target.astype(np.int64)
        X_tr, X_te, y_tr, y_te = train_test_split(X, y, test_size=spec.test_size, random_state=spec.seed, stratify=y)
        return Dataset(
            X_train=X_tr,
            y_train=y_tr,
            X_test=X_te,
            y_test=y_te,
            feature_names=list(bunch.feature_names),
            class_names=[str(c) for c in bunch.target_names],
            digest=data_digest(X_tr, y_tr, X_te, y_te),
        )

    def train(self, params: dict[str, Any], data: Dataset) -> tuple[Any, dict[str, float]]:
        import pandas as pd
        from sklearn.impute import SimpleImputer
        from sklearn.neural_network import MLPClassifier
        from sklearn.pipeline import make_pipeline
        from sklearn.preprocessing import QuantileTransformer

        unknown = set(params) - set(DEFAULTS)
        if unknown:
            raise CxopsError(f"model.params: unknown parameter(s) {sorted(unknown)}; valid: {sorted(DEFAULTS)}")
        p = {**DEFAULTS, **params}
        net = MLPClassifier(
            hidden_layer_sizes=(int(p["hidden"]),),
            alpha=float(p["alpha"]),
            max_iter=int(p["max_iter"]),
            random_state=int(p["random_state"]),
            solver="lbfgs",
        )
        model = make_pipeline(SimpleImputer(strategy="median"), QuantileTransformer(n_quantiles=50), net)
        frame = pd.DataFrame(data.X_train, columns=data.feature_names)
        model.fit(frame, data.y_train)
        return model, {"train_accuracy": float(model.score(frame, data.y_train))}

    def log_model(self, model: Any, data: Dataset, *, name: str, metadata: dict[str, Any]) -> Any:
        import mlflow
        import pandas as pd
        import sklearn
        from mlflow.models import infer_signature

        example = pd.DataFrame(data.X_train[:2], columns=data.feature_names)
        return mlflow.sklearn.log_model(
            model,
            name=name,
            signature=infer_signature(example, model.predict_proba(example)),
            input_example=example,
            pyfunc_predict_fn="predict_proba",
            metadata=metadata,
            skops_trusted_types=["numpy.dtype"],  # the column names' dtype; reviewed: no code, no raw indices
            pip_requirements=[
                f"scikit-learn=={sklearn.__version__}",
                f"numpy=={np.__version__}",
                f"pandas=={pd.__version__}",
            ],
        )
