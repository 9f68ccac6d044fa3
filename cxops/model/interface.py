"""What a model project implements so cxops can train, evaluate and serve it (selected by model.project)."""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Protocol

import numpy as np

from cxops.config.schema import Dataset as DatasetSpec
from cxops.errors import CxopsError


@dataclass(frozen=True)
class Dataset:
    X_train: np.ndarray
    y_train: np.ndarray
    X_test: np.ndarray
    y_test: np.ndarray
    feature_names: list[str]
    class_names: list[str]
    digest: str  # sha256 over the exact arrays: the data-hash lineage tag


@dataclass
class Evaluation:
    metrics: dict[str, float]
    per_class: dict[str, dict[str, float]]
    confusion: list[list[int]]
    predictions: list[int] = field(default_factory=list)


class ModelProject(Protocol):
    def load_data(self, spec: DatasetSpec) -> Dataset: ...

    def train(self, params: dict[str, Any], data: Dataset) -> tuple[Any, dict[str, float]]:
        """Fit on data.X_train / y_train; return the fitted estimator and training metrics."""

    def evaluate(self, model: Any, X: np.ndarray, y: np.ndarray, class_names: list[str]) -> Evaluation: ...


def load_project(entry: str) -> ModelProject:
    """Import `package.module:Class` and instantiate it."""
    module_name, _, cls_name = entry.partition(":")
    try:
        cls = getattr(importlib.import_module(module_name), cls_name)
    except (ImportError, AttributeError) as exc:
        raise CxopsError(f"model.project {entry!r} cannot be loaded ({exc}); expected 'package.module:Class'") from None
    return cls()
