"""Tests of evaluate(): the reference split, the baseline rows and input checks."""

import json

import numpy as np
import pytest
import xarray as xr

from kiss_core.errors import KissError
from kiss_core.evaluation import Evaluation, evaluate
from kiss_core.interfaces import Metric, MetricResult
from kiss_core.metrics import FeatureW1


class _RecordSizes(Metric):
    """Records the samples it is given and returns the difference of their means."""

    def __init__(self):
        super().__init__()
        self.calls = []

    def compute(self, reference, candidate, *, seed=0):
        self.calls.append((reference, candidate))
        value = float(candidate["energy"].mean() - reference["energy"].mean())
        return {"mean_shift": MetricResult(value, 0.1, {"n": reference.sizes["event"]})}


def _samples(n: int, shift: float = 0.0, seed: int = 0) -> xr.Dataset:
    rng = np.random.default_rng(seed)
    return xr.Dataset(
        {
            "energy": (("event",), rng.normal(shift, 1.0, n)),
            "hits": (("event", "cell"), rng.random((n, 4))),
            "event_id": (("event",), np.arange(n)),
        }
    )


def test_evaluate_splits_reference_into_disjoint_halves():
    metric = _RecordSizes()

    evaluation = evaluate(_samples(1001), _samples(700, seed=1), {"shift": metric}, seed=3)

    (half_a, candidate), (half_a_again, half_b) = metric.calls
    assert evaluation.n_events == 500
    assert half_a.sizes["event"] == 500
    assert half_b.sizes["event"] == 500
    assert candidate.sizes["event"] == 500
    assert half_a_again.identical(half_a)
    assert not set(half_a["event_id"].values) & set(half_b["event_id"].values)


def test_evaluate_candidate_smaller_than_half():
    metric = _RecordSizes()

    evaluation = evaluate(_samples(1000), _samples(300, seed=1), {"shift": metric})

    assert evaluation.n_events == 300
    assert all(sample.sizes["event"] == 300 for call in metric.calls for sample in call)


def test_evaluate_rows_hold_candidate_and_baseline():
    reference, candidate = _samples(4000), _samples(4000, shift=1.0, seed=1)

    evaluation = evaluate(reference, candidate, {"w1": FeatureW1(FeatureW1.Config(variables=("energy",)))})

    (row,) = evaluation.rows
    assert row.metric == "w1"
    assert row.label == "W1.energy"
    assert row.value == pytest.approx(1.0, abs=0.15)
    assert row.baseline_value < 0.1
    assert row.n == 2000
    assert row.pull > 5


def test_evaluation_to_json_round_trip():
    evaluation = evaluate(_samples(400), _samples(400, seed=1), {"shift": _RecordSizes()})

    data = json.loads(evaluation.to_json())

    assert isinstance(evaluation, Evaluation)
    assert data["n_events"] == 200
    assert data["rows"][0]["label"] == "mean_shift"
    assert data["rows"][0]["details"]["baseline"]["n"] == 200
    assert data["rows"][0]["pull"] == pytest.approx(evaluation.rows[0].pull)


def test_evaluate_rejects_too_few_events():
    with pytest.raises(KissError, match="Too few events") as error:
        evaluate(_samples(150), _samples(1000), {"shift": _RecordSizes()})

    assert "reference has 150" in str(error.value)


def test_evaluate_rejects_mismatched_variables():
    candidate = _samples(400).drop_vars("hits")

    with pytest.raises(KissError, match="different variables"):
        evaluate(_samples(400), candidate, {"shift": _RecordSizes()})


def test_evaluate_rejects_mismatched_shapes():
    candidate = _samples(400).isel(cell=slice(0, 3))

    with pytest.raises(KissError, match="shapes differ"):
        evaluate(_samples(400), candidate, {"shift": _RecordSizes()})


def test_evaluate_rejects_nan():
    candidate = _samples(400)
    candidate["energy"][5] = np.nan

    with pytest.raises(KissError, match="NaN or infinite") as error:
        evaluate(_samples(400), candidate, {"shift": _RecordSizes()})

    assert "candidate variable 'energy'" in str(error.value)
