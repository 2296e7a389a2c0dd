"""Metrics: values against scipy, POT or brute force, chunking invariance, weights and input checks."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch
from scipy import stats
from scipy.spatial.distance import cdist

from kiss_bench.metrics import METRICS, MetricInputs, make_metrics
from kiss_bench.metrics.kernel import energy_distance, median_pairwise_distance, mmd_unbiased
from kiss_bench.metrics.one_sample import half_sample_mode, weighted_standard_moments
from kiss_bench.metrics.prdc import precision_recall_density_coverage
from kiss_bench.metrics.sliced import ks_columns, random_directions, sliced_wasserstein, wasserstein_columns
from kiss_bench.metrics.validation import check_samples, check_weights, kish_effective_sample_size
from kiss_bench.targets import make_target
from kiss_core.errors import KissError, UnknownNameError

rng = np.random.default_rng(0)
X = rng.normal(size=(300, 3))
Y = rng.normal(0.2, 1.1, size=(250, 3))
WX = rng.random(300)
WY = rng.random(250)


def _tensor(array):
    return torch.as_tensor(array, dtype=torch.float64)


def _normalised(weights):
    return _tensor(weights / weights.sum())


def test_weighted_wasserstein_matches_scipy():
    for p, reference in ((1, stats.wasserstein_distance), (2, None)):
        values = wasserstein_columns(_tensor(X), _tensor(Y), _normalised(WX), _normalised(WY), p=p).numpy()
        for column in range(3):
            if p == 1:
                expected = reference(X[:, column], Y[:, column], WX, WY)
            else:
                import ot

                expected = math.sqrt(ot.wasserstein_1d(X[:, column], Y[:, column], WX / WX.sum(), WY / WY.sum(), p=2))
            assert values[column] == pytest.approx(expected, rel=1e-10)


def test_ks_matches_scipy():
    uniform_x, uniform_y = _normalised(np.ones(300)), _normalised(np.ones(250))
    values = ks_columns(_tensor(X), _tensor(Y), uniform_x, uniform_y).numpy()
    for column in range(3):
        assert values[column] == pytest.approx(stats.ks_2samp(X[:, column], Y[:, column]).statistic, rel=1e-12)


def test_ks_counts_ties_once():
    x = _tensor([[0.0], [1.0], [1.0], [2.0]])
    y = _tensor([[1.0], [1.0], [3.0], [4.0]])
    uniform = _normalised(np.ones(4))
    assert float(ks_columns(x, y, uniform, uniform)[0]) == pytest.approx(0.5)


def test_sliced_wasserstein_matches_pot():
    import ot

    directions = random_directions(3, 50, torch.Generator().manual_seed(1))
    value = sliced_wasserstein(
        _tensor(X), _tensor(Y), _normalised(np.ones(300)), _normalised(np.ones(250)), directions, p=2
    )
    # POT averages W_2^2 over the directions it is given, so with the same directions it must agree.
    projections = directions.numpy()
    per_direction = [ot.wasserstein_1d(X @ projections[:, i], Y @ projections[:, i], p=2) for i in range(50)]
    assert value == pytest.approx(math.sqrt(np.mean(per_direction)), rel=1e-9)


def _energy_brute_force(x, y, wx, wy):
    wx, wy = wx / wx.sum(), wy / wy.sum()
    return 2 * wx @ cdist(x, y) @ wy - wx @ cdist(x, x) @ wx - wy @ cdist(y, y) @ wy


def test_energy_distance_brute_force_and_chunks():
    expected = _energy_brute_force(X, Y, WX, WY)
    for chunk in (2**24, 1000, 7):
        value = energy_distance(_tensor(X), _tensor(Y), _normalised(WX), _normalised(WY), chunk_elements=chunk)
        # torch.cdist computes distances through a matrix product, good to about 1e-10 absolute.
        assert value == pytest.approx(expected, abs=1e-9)


def test_energy_distance_1d_matches_scipy():
    value = energy_distance(_tensor(X[:, :1]), _tensor(Y[:, :1]), _normalised(WX), _normalised(WY))
    # scipy returns the square root of the squared energy distance.
    assert math.sqrt(value) == pytest.approx(stats.energy_distance(X[:, 0], Y[:, 0], WX, WY), rel=1e-10)
    assert value == pytest.approx(_energy_brute_force(X[:, :1], Y[:, :1], WX, WY), rel=1e-10)


def test_mmd_unbiased_brute_force_and_chunks():
    bandwidth = 1.3
    kernel = lambda a, b: np.exp(-cdist(a, b, "sqeuclidean") / (2 * bandwidth**2))  # noqa: E731
    n, m = len(X), len(Y)
    expected = (
        (kernel(X, X).sum() - n) / (n * (n - 1)) + (kernel(Y, Y).sum() - m) / (m * (m - 1)) - 2 * kernel(X, Y).mean()
    )
    for chunk in (2**24, 999):
        assert mmd_unbiased(_tensor(X), _tensor(Y), bandwidth, chunk) == pytest.approx(expected, rel=1e-9)


def test_mmd_unbiased_is_centred_for_equal_distributions():
    values = []
    for seed in range(30):
        generator = np.random.default_rng(seed)
        a, b = generator.normal(size=(100, 2)), generator.normal(size=(100, 2))
        values.append(mmd_unbiased(_tensor(a), _tensor(b), 1.0))
    assert abs(np.mean(values)) < 3 * np.std(values) / math.sqrt(len(values))
    assert min(values) < 0


def test_median_heuristic_is_median_pairwise_distance():
    generator = torch.Generator().manual_seed(0)
    pooled = np.concatenate([X, Y])
    expected = np.median(cdist(pooled, pooled)[np.triu_indices(len(pooled), 1)])
    # torch.median returns the lower of the two middle values for an even count.
    assert median_pairwise_distance(_tensor(X), _tensor(Y), generator) == pytest.approx(expected, rel=1e-3)


def _prdc_brute_force(real, fake, k):
    real_radii = np.sort(cdist(real, real), axis=1)[:, k]
    fake_radii = np.sort(cdist(fake, fake), axis=1)[:, k]
    distances = cdist(real, fake)
    inside = distances <= real_radii[:, None]
    return {
        "precision": inside.any(0).mean(),
        "recall": (distances <= fake_radii[None, :]).any(1).mean(),
        "density": inside.sum() / (k * len(fake)),
        "coverage": (distances.min(1) <= real_radii).mean(),
    }


def test_prdc_brute_force_and_chunks():
    expected = _prdc_brute_force(X, Y, 5)
    for chunk in (2**24, 3000):
        values = precision_recall_density_coverage(_tensor(X), _tensor(Y), k=5, chunk_elements=chunk)
        for name, value in expected.items():
            assert values[name] == pytest.approx(value, rel=1e-12), name


def test_prdc_equal_distributions():
    generator = np.random.default_rng(3)
    values = precision_recall_density_coverage(
        _tensor(generator.normal(size=(2000, 2))), _tensor(generator.normal(size=(2000, 2)))
    )
    assert values["density"] == pytest.approx(1.0, abs=0.08)
    # For equal distributions and sizes the expected coverage tends to 1 - 2^-k.
    assert values["coverage"] == pytest.approx(1 - 2**-5, abs=0.03)


def test_weighted_moments_match_numpy():
    moments = weighted_standard_moments(_tensor(X), _tensor(WX))
    w = WX / WX.sum()
    mean = w @ X
    central = X - mean
    m2, m3, m4 = (w @ central**2), (w @ central**3), (w @ central**4)
    np.testing.assert_allclose(moments["mean"], mean, rtol=1e-12)
    np.testing.assert_allclose(moments["variance"], m2, rtol=1e-12)
    np.testing.assert_allclose(moments["skewness"], m3 / m2**1.5, rtol=1e-10)
    np.testing.assert_allclose(moments["kurtosis"], m4 / m2**2 - 3, rtol=1e-10)
    unweighted = weighted_standard_moments(_tensor(X))
    np.testing.assert_allclose(unweighted["skewness"], stats.skew(X), rtol=1e-10)
    np.testing.assert_allclose(unweighted["kurtosis"], stats.kurtosis(X), rtol=1e-10)


def test_half_sample_mode_finds_peak():
    generator = np.random.default_rng(4)
    sample = np.concatenate(
        [generator.normal(2.0, 0.3, size=(6000, 1)), generator.exponential(3.0, size=(4000, 1)) + 4]
    )
    assert half_sample_mode(_tensor(sample))[0] == pytest.approx(2.0, abs=0.15)
    assert half_sample_mode(_tensor([[1.0], [5.0], [5.1], [9.0]]))[0] == pytest.approx(5.05)


def test_kish_effective_sample_size():
    assert kish_effective_sample_size(None, 10) == 10
    assert kish_effective_sample_size(_tensor([1.0, 1.0, 0.0, 0.0]), 4) == pytest.approx(2.0)
    assert kish_effective_sample_size(_tensor([3.0, 1.0]), 2) == pytest.approx(1.6)


@pytest.mark.parametrize(
    ("points", "dimension", "message"),
    [
        (torch.zeros(0, 2), 2, "Empty sample"),
        (torch.ones(5, 2), 2, "Constant sample"),
        (torch.tensor([[0.0, 1.0], [float("nan"), 2.0]]), 2, "NaN"),
        (torch.randn(5, 3), 2, "dimension does not match"),
        (torch.randn(5), None, "Invalid sample shape"),
    ],
)
def test_check_samples_rejects(points, dimension, message):
    with pytest.raises(KissError, match=message):
        check_samples(points, "candidate", dimension)


@pytest.mark.parametrize(
    ("weights", "message"),
    [
        (torch.tensor([1.0, -0.5, 1.0]), "Negative weights"),
        (torch.zeros(3), "All weights are zero"),
        (torch.tensor([1.0, float("nan"), 1.0]), "NaN"),
        (torch.ones(4), "Invalid weight shape"),
    ],
)
def test_check_weights_rejects(weights, message):
    with pytest.raises(KissError, match=message):
        check_weights(weights, 3, "weights")


def test_make_metrics_rejects_unknown_and_unweighted():
    with pytest.raises(UnknownNameError, match="sliced_wasserstein"):
        make_metrics(["wasserstein"])
    with pytest.raises(KissError, match="does not support weighted"):
        make_metrics(["mean", "mmd"], weighted=True)
    assert [m.name for m in make_metrics(["mean", "energy"], weighted=True)] == ["mean", "energy"]


def test_every_metric_runs_on_target_samples():
    target = make_target("normal2d_corr0.25")
    generator = torch.Generator().manual_seed(0)
    reference, candidate = target.sample(400, generator), target.sample(400, generator)
    inputs = MetricInputs(reference, candidate, None, target, torch.Generator().manual_seed(1), seed=1)
    for metric in METRICS.values():
        rows = metric.compute(inputs)
        assert rows, metric.name
        for statistic, dimension, value in rows:
            assert math.isfinite(value), (metric.name, statistic)
            assert dimension in ("0", "1", "all")
    mean_rows = METRICS["mean"].compute(inputs)
    assert mean_rows[0][2] == pytest.approx(float(candidate[:, 0].mean()), abs=1e-12)


def test_classifier_metrics_run_with_the_network_model():
    target = make_target("normal2d_corr0.25")
    generator = torch.Generator().manual_seed(0)
    reference, candidate = target.sample(400, generator), target.sample(400, generator) + 3.0
    inputs = MetricInputs(reference, candidate, None, target, generator, seed=1, classifier="mlp")

    rows = {statistic: value for statistic, _, value in METRICS["classifier_weights"].compute(inputs)}

    # Samples 3 standard deviations apart are separated almost perfectly.
    assert rows["classifier_auc"] > 0.95
    assert rows["classifier_weight_q50"] < 0.1
    assert METRICS["c2st"].compute(inputs)[0][2] == pytest.approx(rows["classifier_auc"])


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_every_metric_agrees_on_gpu():
    target = make_target("normal3d_corr0.25")
    generator = torch.Generator().manual_seed(0)
    reference, candidate = target.sample(600, generator), target.sample(600, generator)
    for metric in METRICS.values():
        rows = {}
        for device in ("cpu", "cuda"):
            inputs = MetricInputs(reference.to(device), candidate.to(device), None, target,
                                  torch.Generator().manual_seed(1), seed=1)
            rows[device] = {(statistic, dimension): value for statistic, dimension, value in metric.compute(inputs)}
        assert rows["cuda"].keys() == rows["cpu"].keys(), metric.name
        for key, value in rows["cpu"].items():
            assert rows["cuda"][key] == pytest.approx(value, rel=1e-6, abs=1e-9), (metric.name, key)


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_metrics_agree_on_gpu():
    x, y = _tensor(X), _tensor(Y)
    wx, wy = _normalised(WX), _normalised(WY)
    cpu = energy_distance(x, y, wx, wy)
    gpu = energy_distance(x.cuda(), y.cuda(), wx.cuda(), wy.cuda())
    assert gpu == pytest.approx(cpu, rel=1e-9)
    directions = random_directions(3, 16, torch.Generator().manual_seed(0))
    assert sliced_wasserstein(x.cuda(), y.cuda(), wx.cuda(), wy.cuda(), directions.cuda()) == pytest.approx(
        sliced_wasserstein(x, y, wx, wy, directions), rel=1e-9
    )
    assert mmd_unbiased(x.cuda(), y.cuda(), 1.0) == pytest.approx(mmd_unbiased(x, y, 1.0), rel=1e-9)
    gpu_prdc = precision_recall_density_coverage(x.cuda(), y.cuda())
    for name, value in precision_recall_density_coverage(x, y).items():
        assert gpu_prdc[name] == pytest.approx(value, rel=1e-12)


def test_metric_components_on_datasets():
    import xarray as xr

    from kiss_bench.components import (
        EnergyDistance,
        GaussianMMD,
        PrecisionRecallDensityCoverage,
        SlicedKS,
        SlicedWasserstein,
    )

    reference = xr.Dataset({"x": (("event", "feature"), X)})
    candidate = xr.Dataset({"x": (("event", "feature"), Y)})
    weights = _normalised(np.ones(300)), _normalised(np.ones(250))
    energy = EnergyDistance(EnergyDistance.Config(variables=("x",))).compute(reference, candidate)["energy"]
    assert energy.value == pytest.approx(energy_distance(_tensor(X), _tensor(Y), *weights), rel=1e-12)
    assert SlicedWasserstein(SlicedWasserstein.Config(variables=("x",))).compute(reference, candidate)["SW"].value > 0
    assert set(SlicedKS(SlicedKS.Config(variables=("x",))).compute(reference, candidate)) == {"SKS", "SKS.max"}
    assert (
        GaussianMMD(GaussianMMD.Config(variables=("x",))).compute(reference, candidate)["MMD"].details["bandwidth"] > 0
    )
    prdc = PrecisionRecallDensityCoverage(PrecisionRecallDensityCoverage.Config(variables=("x",))).compute(
        reference, candidate
    )
    assert prdc["coverage"].value == pytest.approx(_prdc_brute_force(X, Y, 5)["coverage"])
    with pytest.raises(KissError, match="No features"):
        EnergyDistance().compute(reference, candidate)
