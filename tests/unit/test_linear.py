"""The linear fast path's softmax (cxops.serving.linear) against an independent max-shifted softmax: both of its
forms (vectorised `proba`, per-row Python `proba_rows`), and the ranges where direct exponentiation fails."""

from __future__ import annotations

import numpy as np
import pytest

from cxops.serving.linear import SMALL_BATCH, LinearModel


def reference(m: LinearModel, X: np.ndarray) -> np.ndarray:
    """Softmax written out independently: standardise, logits, shift by the row max, normalise."""
    z = ((X - m.mean) / m.scale) @ m.coef.T + m.intercept
    e = np.exp(z - z.max(axis=1, keepdims=True))
    return e / e.sum(axis=1, keepdims=True)


def model(classes: int = 10, features: int = 64, seed: int = 0) -> LinearModel:
    rng = np.random.default_rng(seed)
    return LinearModel(
        mean=rng.normal(size=features),
        scale=rng.uniform(0.5, 2.0, size=features),
        coef=rng.normal(size=(classes, features)),
        intercept=rng.normal(size=classes),
        classes=np.arange(classes),
    )


def bias_only(intercept: list[float]) -> LinearModel:
    """A model whose logits are its intercepts whatever the input: puts the logits exactly where a test wants."""
    k = len(intercept)
    return LinearModel(np.zeros(2), np.ones(2), np.zeros((k, 2)), np.asarray(intercept, float), np.arange(k))


@pytest.mark.parametrize("rows", [1, 3, SMALL_BATCH, SMALL_BATCH + 1, 200])
def test_both_forms_match_the_reference(rows: int):
    m = model()
    X = np.random.default_rng(1).normal(scale=3.0, size=(rows, 64))
    want = reference(m, X)
    vectorised, per_row = m.proba(X.copy()), np.array(m.proba_rows(X))
    assert vectorised.shape == per_row.shape == (rows, 10)
    assert np.allclose(vectorised, want, rtol=0, atol=1e-14)
    assert np.allclose(per_row, want, rtol=0, atol=1e-14)
    assert (per_row.argmax(axis=1) == want.argmax(axis=1)).all()


@pytest.mark.parametrize(
    "logits, want",
    [
        # each exp is finite but their sum overflows: direct division would give all zeros
        ([709.5, 709.5], [0.5, 0.5]),
        # every exp underflows to 0: direct division would give NaN
        ([-800.0, -801.0], [1 / (1 + np.exp(-1.0)), np.exp(-1.0) / (1 + np.exp(-1.0))]),
        # subnormal exps keep only a few bits: direct division would be imprecise
        ([-740.0, -741.0], [1 / (1 + np.exp(-1.0)), np.exp(-1.0) / (1 + np.exp(-1.0))]),
        # math.exp overflows (OverflowError) where np.exp gives inf
        ([800.0, 0.0], [1.0, 0.0]),
    ],
)
def test_out_of_range_logits_take_the_shifted_form(logits: list[float], want: list[float]):
    m = bias_only(logits)
    X = np.zeros((1, 2))
    with np.errstate(all="ignore"):
        vectorised = m.proba(X)
    assert np.allclose(vectorised, [want], rtol=1e-12, atol=0)
    assert np.allclose(m.proba_rows(X), [want], rtol=1e-12, atol=0)


def test_inputs_beyond_float64_raise_in_both_forms():
    coef = np.array([[1.0] * 4, [-1.0] * 4, [0.0] * 4])  # logits +inf, -inf and 0 for these inputs
    m = LinearModel(np.zeros(4), np.ones(4), coef, np.zeros(3), np.arange(3))
    X = np.full((1, 4), 1e308)
    with np.errstate(all="ignore"):
        with pytest.raises(FloatingPointError):
            m.proba(X)
        with pytest.raises(FloatingPointError):
            m.proba_rows(X)
