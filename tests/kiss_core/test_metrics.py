"""Tests of the two-sample metric functions against closed forms and scipy."""

import numpy as np
import pytest
import scipy.stats
import torch
import xarray as xr
from scipy.stats import norm
from sklearn.metrics import roc_auc_score

from kiss_core.errors import KissError
from kiss_core.metrics import (
    ClassifierAUC,
    FeatureFPD,
    FeatureW1,
    classifier_test,
    fpd,
    frechet_distance,
    kpd,
    mmd_polynomial,
    roc_auc_delong,
    w1_per_feature,
    wasserstein1,
)


def test_wasserstein1_shifted_points_equal_shift():
    points = np.array([[0.0, 1.0], [0.3, -2.0], [1.7, 5.0], [2.0, 0.5]])
    shift = np.array([0.25, -3.0])

    distances = wasserstein1(points, points + shift)

    np.testing.assert_allclose(distances, np.abs(shift), rtol=1e-12)


@pytest.mark.parametrize("weighted", [False, True])
def test_wasserstein1_matches_scipy(weighted):
    rng = np.random.default_rng(3)
    x = rng.normal(size=(500, 3))
    y = rng.exponential(size=(311, 3))
    wx = rng.random(500) if weighted else None
    wy = rng.random(311) if weighted else None

    ours = wasserstein1(x, y, wx, wy)
    expected = [scipy.stats.wasserstein_distance(x[:, i], y[:, i], wx, wy) for i in range(3)]

    np.testing.assert_allclose(ours, expected, rtol=1e-10)


def test_wasserstein1_accepts_tensors_and_1d():
    x = torch.tensor([0.0, 1.0, 2.0])
    y = torch.tensor([1.0, 2.0, 3.0])

    distance = wasserstein1(x, y)

    assert distance.shape == ()
    assert float(distance) == pytest.approx(1.0)


def test_w1_per_feature_batches_near_exact():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(4000, 2))
    y = rng.normal(size=(4000, 2)) + np.array([0.5, 0.0])

    results = w1_per_feature(x, y, n_batches=5, seed=1)

    assert len(results) == 2
    assert results[0].value == pytest.approx(0.5, abs=5 * results[0].uncertainty + 0.03)
    assert results[1].value < 0.1
    assert len(results[0].details["per_batch"]) == 5
    assert results[0].uncertainty > 0


def test_frechet_distance_closed_form():
    rng = np.random.default_rng(1)
    mean_1, mean_2 = np.array([0.0, 1.0]), np.array([1.0, -1.0])
    covariance_1 = np.array([[2.0, 0.5], [0.5, 1.0]])
    covariance_2 = np.array([[1.0, -0.3], [-0.3, 0.5]])
    x = rng.multivariate_normal(mean_1, covariance_1, size=400_000)
    y = rng.multivariate_normal(mean_2, covariance_2, size=400_000)

    sqrt_1 = scipy.linalg.sqrtm(covariance_1).real
    cross = scipy.linalg.sqrtm(sqrt_1 @ covariance_2 @ sqrt_1).real
    expected = np.sum((mean_1 - mean_2) ** 2) + np.trace(covariance_1 + covariance_2 - 2 * cross)

    assert frechet_distance(x, y) == pytest.approx(expected, rel=0.01)


def test_frechet_distance_identical_samples_zero():
    x = np.random.default_rng(2).normal(size=(1000, 4))

    assert frechet_distance(x, x) == pytest.approx(0.0, abs=1e-9)


def test_fpd_recovers_infinite_size_intercept():
    # Unit Gaussians with means 0.3 apart have a true distance of 0.09. Small bootstrap draws add
    # a positive bias that falls like 1/N; the intercept must remove it and land on the distance
    # of the full samples, which the bootstrap draws from.
    rng = np.random.default_rng(4)
    x = rng.normal(size=(60_000, 3))
    y = rng.normal(size=(60_000, 3)) + np.array([0.3, 0.0, 0.0])

    result = fpd(x, y, min_samples=200, max_samples=2000, n_batches=40, normalise=False, seed=0)

    assert result.value == pytest.approx(frechet_distance(x, y), abs=4 * result.uncertainty)
    assert result.value == pytest.approx(0.09, abs=0.015)
    assert result.details["mean_distance"][0] - result.value > 0.04
    assert result.details["sample_sizes"][0] == 200
    assert result.details["sample_sizes"][-1] == 2000


def test_fpd_caps_sizes_at_data():
    rng = np.random.default_rng(5)

    result = fpd(rng.normal(size=(3000, 2)), rng.normal(size=(2500, 2)), n_points=4, n_batches=3)

    assert max(result.details["sample_sizes"]) == 2500
    assert min(result.details["sample_sizes"]) == 1250


def test_fpd_rejects_fewer_events_than_features():
    rng = np.random.default_rng(6)

    with pytest.raises(KissError, match="Too few events for FPD"):
        fpd(rng.normal(size=(8, 5)), rng.normal(size=(8, 5)))


def test_mmd_polynomial_closed_form_degree_two():
    # For x ~ N(a, 1), y ~ N(b, 1) in one dimension and k = (x y + 1)^2, the squared MMD is
    # (a^2 - b^2)^2 + 2 (a - b)^2; with a = 0.5 and b = 0 that is 0.5625.
    rng = np.random.default_rng(7)
    estimates = [mmd_polynomial(rng.normal(0.5, size=(400, 1)), rng.normal(size=(400, 1)), degree=2)
                 for _ in range(200)]

    standard_error = np.std(estimates) / np.sqrt(len(estimates))
    assert np.mean(estimates) == pytest.approx(0.5625, abs=4 * standard_error)


def test_mmd_polynomial_matches_direct_sum():
    rng = np.random.default_rng(8)
    x, y = rng.normal(size=(30, 2)), rng.normal(size=(20, 2))
    k = lambda a, b: (a @ b.T / 2 + 1) ** 3  # noqa: E731
    kxx, kyy, kxy = k(x, x), k(y, y), k(x, y)
    expected = ((kxx.sum() - np.trace(kxx)) / (30 * 29) + (kyy.sum() - np.trace(kyy)) / (20 * 19)
                - 2 * kxy.mean())

    assert mmd_polynomial(x, y) == pytest.approx(expected, rel=1e-10)


def test_mmd_polynomial_unbiased_for_identical():
    rng = np.random.default_rng(9)
    estimates = [mmd_polynomial(rng.normal(size=(200, 3)), rng.normal(size=(200, 3))) for _ in range(100)]

    standard_error = np.std(estimates) / np.sqrt(len(estimates))
    assert abs(np.mean(estimates)) < 4 * standard_error
    assert min(estimates) < 0


def test_kpd_median_and_quantiles():
    rng = np.random.default_rng(10)
    x, y = rng.normal(size=(3000, 2)), rng.normal(size=(3000, 2))

    result = kpd(x, y, batch_size=1000, n_batches=10)

    assert result.details["quantile_16"] <= result.value <= result.details["quantile_84"]
    assert result.uncertainty == pytest.approx((result.details["quantile_84"] - result.details["quantile_16"]) / 2)
    assert abs(result.value) < 5 * result.uncertainty + 1e-3
    assert result.details["batch_size"] == 1000


def test_roc_auc_delong_matches_sklearn():
    rng = np.random.default_rng(11)
    negative = np.round(rng.normal(size=300), 1)
    positive = np.round(rng.normal(0.8, size=200), 1)

    auc, error = roc_auc_delong(negative, positive)

    assert auc == pytest.approx(roc_auc_score(np.r_[np.zeros(300), np.ones(200)], np.r_[negative, positive]))
    assert 0.01 < error < 0.05


def test_classifier_identical_samples_auc_half():
    rng = np.random.default_rng(12)

    result = classifier_test(rng.normal(size=8000), rng.normal(size=8000), seed=0)

    assert result.value == pytest.approx(0.5, abs=4 * result.uncertainty)
    assert abs(result.details["jsd_bits"]) < 0.02
    assert result.details["n_test"] == 2000


def test_classifier_shifted_gaussians_auc():
    # The best possible AUC for unit Gaussians shifted by d is Phi(d / sqrt(2)).
    rng = np.random.default_rng(13)
    shift = 1.0

    result = classifier_test(rng.normal(size=8000), rng.normal(shift, size=8000), seed=0)

    assert result.value == pytest.approx(norm.cdf(shift / np.sqrt(2)), abs=4 * result.uncertainty + 0.01)
    assert result.details["jsd_bits"] > 0.05


def test_classifier_weights_follow_the_likelihood_ratio():
    # Reference N(0, 1), candidate N(d, 1): w(x) = p_ref / p_cand = exp(d^2 / 2 - d x). On candidate
    # events ln w ~ N(-d^2 / 2, d^2), so the median weight is exp(-d^2 / 2) = 0.607 for d = 1 and the
    # 5 % and 95 % quantiles are exp(-1/2 -+ 1.645) = 0.117 and 3.14. The network gives a smooth
    # p(x); the boosted trees' piecewise-constant p(x) is too noisy for weight quantiles at this size.
    rng = np.random.default_rng(14)

    details = classifier_test(rng.normal(size=20000), rng.normal(1.0, size=20000), seed=0, model="mlp",
                              mlp_options={"hidden": (32, 32)}).details

    assert details["weight_q50"] == pytest.approx(np.exp(-0.5), rel=0.15)
    assert details["weight_q05"] == pytest.approx(np.exp(-0.5 - 1.645), rel=0.3)
    assert details["weight_q95"] == pytest.approx(np.exp(-0.5 + 1.645), rel=0.3)


def test_torch_metrics_take_tensors_and_numpy_alike():
    rng = np.random.default_rng(15)
    x, y = rng.normal(size=(3000, 3)), rng.normal(0.1, size=(3000, 3))
    options = {"min_samples": 500, "max_samples": 2000, "n_batches": 3, "seed": 2}

    from_tensors = fpd(torch.as_tensor(x, dtype=torch.float32), torch.as_tensor(y, dtype=torch.float32), **options)

    assert from_tensors.value == pytest.approx(fpd(x.astype(np.float32), y.astype(np.float32), **options).value)
    assert kpd(torch.as_tensor(x), torch.as_tensor(y), batch_size=500, seed=3).value == pytest.approx(
        kpd(x, y, batch_size=500, seed=3).value, rel=1e-12
    )


@pytest.mark.skipif(not torch.cuda.is_available(), reason="needs a CUDA device")
def test_torch_metrics_agree_on_gpu():
    rng = np.random.default_rng(16)
    x, y = rng.normal(size=(3000, 3)), rng.normal(0.1, size=(3000, 3))

    assert fpd(x, y, device="cuda", min_samples=500).value == pytest.approx(fpd(x, y, min_samples=500).value, rel=1e-9)
    assert kpd(x, y, device="cuda").value == pytest.approx(kpd(x, y).value, rel=1e-9)
    gpu = classifier_test(x, y, model="mlp", device="cuda", mlp_options={"hidden": (32,)})
    assert gpu.details["n_test"] == 750
    assert gpu.value == pytest.approx(0.5, abs=0.1)


def _dataset(values: np.ndarray) -> xr.Dataset:
    return xr.Dataset({"energy": (("event",), values[:, 0]), "angle": (("event",), values[:, 1])})


def test_metric_components_read_variables():
    rng = np.random.default_rng(14)
    reference = _dataset(rng.normal(size=(3000, 2)))
    candidate = _dataset(rng.normal(size=(3000, 2)) + np.array([1.0, 0.0]))

    w1 = FeatureW1(FeatureW1.Config(variables=("energy", "angle"))).compute(reference, candidate)
    frechet = FeatureFPD(FeatureFPD.Config(variables=("energy",))).compute(reference, candidate)
    auc = ClassifierAUC(ClassifierAUC.Config(features=lambda d: d["energy"].values)).compute(reference, candidate)

    assert set(w1) == {"W1.energy", "W1.angle"}
    assert w1["W1.energy"].value == pytest.approx(1.0, abs=0.1)
    assert "FPD" in frechet
    assert auc["AUC"].value > 0.7


def test_metric_components_reject_missing_variable():
    reference = _dataset(np.zeros((10, 2)))

    with pytest.raises(KissError, match="Missing variable"):
        FeatureW1(FeatureW1.Config(variables=("momentum",))).compute(reference, reference)


@pytest.fixture
def one_torch_thread():
    """Run torch on one thread: two threads on two shared cores are slower by a large factor."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


#: A smaller network than the default keeps the tests fast; it is as good on these problems.
SMALL_MLP = {"hidden": (64, 64)}


def test_classifier_mlp_identical_samples_auc_half(one_torch_thread):
    rng = np.random.default_rng(12)

    result = classifier_test(rng.normal(size=8000), rng.normal(size=8000), seed=0, model="mlp",
                             mlp_options=SMALL_MLP)

    assert result.value == pytest.approx(0.5, abs=4 * result.uncertainty)
    assert result.details["model"] == "mlp"
    assert result.details["jsd_bits"] == max(0.0, result.details["jsd_bits_raw"])
    assert abs(result.details["jsd_bits_raw"]) < 0.02


def test_classifier_mlp_shifted_gaussians_auc(one_torch_thread):
    # The best possible AUC for unit Gaussians shifted by d is Phi(d / sqrt(2)); the other
    # 19 features carry no information and must not confuse the network.
    rng = np.random.default_rng(13)
    shift = np.r_[1.0, np.zeros(19)]

    result = classifier_test(rng.normal(size=(6000, 20)), rng.normal(size=(6000, 20)) + shift, seed=0, model="mlp",
                             mlp_options=SMALL_MLP)

    assert result.value == pytest.approx(norm.cdf(1.0 / np.sqrt(2)), abs=4 * result.uncertainty + 0.01)
    assert result.details["jsd_bits"] > 0.05


def test_classifier_mlp_same_seed_same_result(one_torch_thread):
    rng = np.random.default_rng(15)
    reference, candidate = rng.normal(size=(600, 5)), rng.normal(0.3, size=(600, 5))
    torch.manual_seed(123)
    state = torch.get_rng_state()

    first = classifier_test(reference, candidate, seed=4, model="mlp", mlp_options={"hidden": (16,)})
    second = classifier_test(reference, candidate, seed=4, model="mlp", mlp_options={"hidden": (16,)})

    assert first.value == second.value
    assert torch.equal(torch.get_rng_state(), state)


def test_classifier_jsd_clamped_at_zero():
    # Identical samples give raw JSD estimates scattered around 0; the reported value never
    # goes below 0 and equals the raw estimate when that is positive.
    rng = np.random.default_rng(16)
    results = [classifier_test(rng.normal(size=400), rng.normal(size=400), seed=seed, max_iter=20) for seed in range(6)]

    raw = [result.details["jsd_bits_raw"] for result in results]
    assert min(raw) < 0
    for result in results:
        assert result.details["jsd_bits"] == max(0.0, result.details["jsd_bits_raw"])


def test_classifier_rejects_unknown_model():
    with pytest.raises(KissError, match="Unknown classifier model"):
        classifier_test(np.zeros(100), np.ones(100), model="forest")
