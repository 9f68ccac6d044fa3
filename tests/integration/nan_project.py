"""A model project whose evaluation reports accuracy NaN (as a broken metric function would): the digits project
with one metric replaced. Used by test_gate_faults as `model.project: tests.integration.nan_project:NanAccuracy`."""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from cxops.model.digits import DigitsProject
from cxops.model.interface import Evaluation


class NanAccuracy(DigitsProject):
    """Trains and scores like DigitsProject; its evaluate says accuracy is NaN."""

    def evaluate(self, model: Any, X: np.ndarray, y: np.ndarray, class_names: list[str]) -> Evaluation:
        ev = super().evaluate(model, X, y, class_names)
        ev.metrics["accuracy"] = math.nan
        return ev
