"""Tests of kiss_core.sampling against problems with closed-form solutions.

Flow matching between Gaussians. With x0 ~ N(m0, s0^2) and x1 ~ N(m1, s1^2) independent per
dimension, the linear interpolant x_t = (1 - t) x0 + t x1 is Gaussian with mean
mu_t = (1 - t) m0 + t m1 and variance sigma_t^2 = (1 - t)^2 s0^2 + t^2 s1^2. Its velocity
E[x1 - x0 | x_t = x] is the regression of x1 - x0 on x_t:

    v(x, t) = (m1 - m0) + Cov(x1 - x0, x_t) / sigma_t^2 (x - mu_t),
    Cov(x1 - x0, x_t) = t s1^2 - (1 - t) s0^2 = sigma_t dsigma_t/dt,

so the ODE keeps (x - mu_t) / sigma_t constant and maps x0 to x1 = m1 + s1 / s0 (x0 - m0).

EDM with Gaussian data. For y ~ N(mu, s^2) and x = y + sigma n, the exact denoiser is
D(x; sigma) = E[y | x] = mu + s^2 / (s^2 + sigma^2) (x - mu). The EDM ODE keeps
(x - mu) / sqrt(s^2 + sigma^2) constant, so it maps x at sigma_max to
mu + (x - mu) s / sqrt(s^2 + sigma_max^2), and the consistency function to sigma_min is
f(x, sigma) = mu + (x - mu) sqrt(s^2 + sigma_min^2) / sqrt(s^2 + sigma^2).

Statistical checks use a fixed seed and allow 5 standard errors: s / sqrt(n) for a mean and
s / sqrt(2 n) for a standard deviation.
"""

from __future__ import annotations

import inspect
import math
from itertools import pairwise

import pytest
import torch

from kiss_core.errors import KissError, UnknownNameError
from kiss_core.interfaces import Sampler, SamplingResult
from kiss_core.sampling import (
    SAMPLERS,
    RK4Sampler,
    karras_sigmas,
    make_sampler,
    require_parametrisation,
    sample_in_batches,
)

DTYPE = torch.float64
N_SAMPLES = 4000
TOLERANCE_IN_STANDARD_ERRORS = 5.0

# Source and target of the flow-matching tests, one entry per dimension.
SOURCE_MEAN = torch.tensor([0.5, -1.0, 0.0], dtype=DTYPE)
SOURCE_STD = torch.tensor([1.0, 0.5, 2.0], dtype=DTYPE)
TARGET_MEAN = torch.tensor([2.0, 0.0, -3.0], dtype=DTYPE)
TARGET_STD = torch.tensor([0.5, 1.5, 1.0], dtype=DTYPE)

# The standard normal noise that the Euler-Maruyama score formula assumes at t = 0.
STANDARD_MEAN = torch.zeros(3, dtype=DTYPE)
STANDARD_STD = torch.ones(3, dtype=DTYPE)

# Gaussian data of the EDM and consistency tests.
DATA_MEAN = torch.tensor([1.0, -2.0, 0.5], dtype=DTYPE)
DATA_STD = torch.tensor([0.5, 1.0, 2.0], dtype=DTYPE)


@pytest.fixture(autouse=True)
def _single_thread():
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def gaussian_velocity(source_mean, source_std, target_mean, target_std):
    """Return the exact velocity of the linear interpolant between two independent Gaussians."""

    def velocity(t, x):
        mean = (1 - t) * source_mean + t * target_mean
        variance = (1 - t) ** 2 * source_std**2 + t**2 * target_std**2
        covariance = t * target_std**2 - (1 - t) * source_std**2
        return (target_mean - source_mean) + covariance / variance * (x - mean)

    return velocity


def gaussian_denoiser(mean, std):
    """Return the exact denoiser D(x; sigma) of data N(mean, std^2)."""

    def denoiser(sigma, x):
        return mean + std**2 / (std**2 + sigma**2) * (x - mean)

    return denoiser


def standard_normal(n, seed):
    generator = torch.Generator().manual_seed(seed)
    return torch.randn(n, 3, generator=generator, dtype=DTYPE)


def assert_mean_std(samples, mean, std, bias_allowance=0.0):
    """Assert per-dimension sample mean and std match within 5 standard errors."""
    n = samples.shape[0]
    mean_error = (samples.mean(0) - mean).abs()
    std_error = (samples.std(0) - std).abs()
    mean_limit = TOLERANCE_IN_STANDARD_ERRORS * std / math.sqrt(n) + bias_allowance
    std_limit = TOLERANCE_IN_STANDARD_ERRORS * std / math.sqrt(2 * n) + bias_allowance
    assert torch.all(mean_error < mean_limit), (
        f"mean off by {mean_error.tolist()}, limit {mean_limit.tolist()}"
    )
    assert torch.all(std_error < std_limit), (
        f"std off by {std_error.tolist()}, limit {std_limit.tolist()}"
    )


def flow_matching_problem(seed=0):
    """Return (field, initial states, exact final states) of the Gaussian-to-Gaussian flow."""
    field = gaussian_velocity(SOURCE_MEAN, SOURCE_STD, TARGET_MEAN, TARGET_STD)
    x0 = SOURCE_MEAN + SOURCE_STD * standard_normal(N_SAMPLES, seed)
    exact = TARGET_MEAN + TARGET_STD / SOURCE_STD * (x0 - SOURCE_MEAN)
    return field, x0, exact


# Registry and options


def test_registry_has_required_samplers():
    required = {
        "euler",
        "midpoint",
        "rk4",
        "dopri5",
        "euler_maruyama",
        "edm_heun",
        "edm_stochastic",
        "consistency",
    }
    assert required <= set(SAMPLERS)
    for name, sampler_class in SAMPLERS.items():
        assert issubclass(sampler_class, Sampler)
        assert sampler_class.name == name
        assert sampler_class.parametrisation in ("velocity", "denoiser")


def test_make_sampler_unknown_name():
    with pytest.raises(UnknownNameError) as caught:
        make_sampler("runge")
    assert "runge" in str(caught.value)
    assert "dopri5" in str(caught.value)


@pytest.mark.parametrize(
    ("name", "options", "option"),
    [
        ("euler", {"steps": 0}, "steps"),
        ("rk4", {"steps": -3}, "steps"),
        ("midpoint", {"steps": 2.5}, "steps"),
        ("euler", {"steps": True}, "steps"),
        ("euler", {"step": 10}, "step"),
        ("dopri5", {"atol": -1e-6}, "atol"),
        ("dopri5", {"rtol": -1e-6}, "rtol"),
        ("dopri5", {"rtol": float("nan")}, "rtol"),
        ("dopri5", {"atol": 0.0, "rtol": 0.0}, "atol"),
        ("dopri5", {"steps": 10}, "steps"),
        ("euler_maruyama", {"noise_scale": -1.0}, "noise_scale"),
        ("euler_maruyama", {"diffusion": "linear"}, "diffusion"),
        ("edm_heun", {"sigma_min": 0.0}, "sigma_min"),
        ("edm_heun", {"sigma_max": 0.001}, "sigma_max"),
        ("edm_heun", {"rho": 0.0}, "rho"),
        ("edm_heun", {"s_churn": 10.0}, "s_churn"),
        ("edm_stochastic", {"s_churn": -1.0}, "s_churn"),
        ("edm_stochastic", {"s_tmin": 1.0, "s_tmax": 0.5}, "s_tmax"),
        ("edm_stochastic", {"s_noise": -0.1}, "s_noise"),
        ("consistency", {"timesteps": (0.5, 2.0)}, "timesteps"),
        ("consistency", {"timesteps": (100.0,)}, "timesteps"),
        ("consistency", {"timesteps": (0.001,)}, "timesteps"),
        ("consistency", {"timesteps": "1.0"}, "timesteps"),
    ],
)
def test_make_sampler_rejects_bad_option(name, options, option):
    with pytest.raises(KissError) as caught:
        make_sampler(name, **options)
    assert f"'{option}'" in str(caught.value)


def test_make_sampler_records_options():
    sampler = make_sampler("edm_stochastic", steps=7, s_tmax=float("inf"))
    assert sampler.options["steps"] == 7
    assert sampler.options["s_tmax"] == math.inf
    assert sampler.options["s_churn"] == 40.0
    assert make_sampler("consistency", timesteps=(3, 1)).options["timesteps"] == [3.0, 1.0]


def test_sampler_rejects_integer_state():
    with pytest.raises(KissError, match="floating-point"):
        make_sampler("euler").sample(lambda t, x: x, torch.zeros(3, 2, dtype=torch.int64))


def test_require_parametrisation():
    require_parametrisation(make_sampler("rk4"), "velocity")
    require_parametrisation(make_sampler("edm_heun"), "denoiser")
    with pytest.raises(KissError, match="edm_heun"):
        require_parametrisation(make_sampler("edm_heun"), "velocity")


# ODE samplers on flow matching


@pytest.mark.parametrize("name", ["euler", "midpoint", "rk4", "dopri5"])
def test_ode_transports_gaussian_to_target(name):
    field, x0, exact = flow_matching_problem()

    result = make_sampler(name).sample(field, x0)

    assert_mean_std(result.samples, TARGET_MEAN, TARGET_STD)
    assert result.samples.shape == x0.shape
    # Pathwise errors measured at the default options: euler 0.09, the others below 2e-4.
    limit = 0.2 if name == "euler" else 1e-3
    assert (result.samples - exact).abs().max() < limit


def test_ode_high_order_beats_euler():
    field, x0, exact = flow_matching_problem()

    def max_error(name, **options):
        return (make_sampler(name, **options).sample(field, x0).samples - exact).abs().max().item()

    euler = max_error("euler", steps=8)
    # Measured: euler 1.06, midpoint 4.8e-3, rk4 3.1e-4, dopri5 1.9e-4.
    assert euler / max_error("midpoint", steps=8) > 20
    assert euler / max_error("rk4", steps=8) > 1000
    assert euler / max_error("dopri5") > 1000


@pytest.mark.parametrize(("name", "order"), [("euler", 1), ("midpoint", 2), ("rk4", 4)])
def test_ode_linear_convergence_order(name, order):
    rate = -0.7
    x0 = torch.ones(2, dtype=DTYPE)
    exact = math.exp(rate)

    errors = []
    for steps in (8, 16, 32):
        final = make_sampler(name, steps=steps).sample(lambda t, x: rate * x, x0).samples
        errors.append(abs(final[0].item() - exact))

    observed = [math.log2(coarse / fine) for coarse, fine in pairwise(errors)]
    assert observed == pytest.approx([order, order], abs=0.15)


def test_dopri5_meets_tolerance_on_linear_ode():
    x0 = torch.ones(2, dtype=DTYPE)
    loose = make_sampler("dopri5", atol=1e-4, rtol=1e-4).sample(lambda t, x: 2.0 * x, x0)
    tight = make_sampler("dopri5", atol=1e-9, rtol=1e-9).sample(lambda t, x: 2.0 * x, x0)

    assert abs(loose.samples[0].item() - math.exp(2.0)) < 1e-2
    assert abs(tight.samples[0].item() - math.exp(2.0)) < 1e-6
    assert tight.nfe > loose.nfe


def test_one_step_tableaus():
    # One step of dx/dt = 5 t^4 from x = 0 is a quadrature of 5 t^4 over [0, 1] (exact 1):
    # Euler gives 0, midpoint 5/16, the classic RK4 (Simpson) 25/24, the 3/8 rule 55/54.
    x0 = torch.zeros(1, dtype=DTYPE)

    def quartic(t, x):
        return 5 * t**4 * torch.ones_like(x)

    results = {
        name: make_sampler(name, steps=1).sample(quartic, x0).samples.item()
        for name in ("euler", "midpoint", "rk4")
    }

    assert results["euler"] == pytest.approx(0.0, abs=1e-15)
    assert results["midpoint"] == pytest.approx(5 / 16, rel=1e-12)
    assert results["rk4"] == pytest.approx(55 / 54, rel=1e-12)
    assert RK4Sampler.evaluations_per_step == 4


@pytest.mark.parametrize(("name", "expected"), [("euler", 10), ("midpoint", 20), ("rk4", 40)])
def test_fixed_step_nfe(name, expected):
    calls = []

    def counted(t, x):
        calls.append(t)
        return -x

    result = make_sampler(name, steps=10).sample(counted, torch.ones(5, 2))

    assert result.nfe == expected
    assert len(calls) == expected


def test_dopri5_nfe_counts_every_call():
    field, x0, _ = flow_matching_problem()
    calls = []

    def counted(t, x):
        calls.append(t)
        return field(t, x)

    result = make_sampler("dopri5", atol=1e-7, rtol=1e-7).sample(counted, x0)

    assert result.nfe == len(calls)
    assert result.nfe > 6


def test_ode_grid_reaches_one_exactly():
    times = []

    def recorded(t, x):
        times.append(t.item())
        return torch.zeros_like(x)

    make_sampler("euler", steps=10).sample(recorded, torch.ones(1, 1))

    assert times == pytest.approx([n / 10 for n in range(10)], abs=1e-7)


# Euler-Maruyama


@pytest.mark.parametrize("diffusion", ["constant", "decaying"])
def test_euler_maruyama_reaches_target(diffusion):
    field = gaussian_velocity(STANDARD_MEAN, STANDARD_STD, TARGET_MEAN, TARGET_STD)
    x0 = standard_normal(N_SAMPLES, seed=2)
    generator = torch.Generator().manual_seed(3)
    sampler = make_sampler("euler_maruyama", steps=200, noise_scale=1.0, diffusion=diffusion)

    result = sampler.sample(field, x0, generator=generator)

    assert result.nfe == 200
    assert_mean_std(result.samples, TARGET_MEAN, TARGET_STD)
    # The SDE path differs from the ODE map, so the samples must not equal the ODE's.
    ode = TARGET_MEAN + TARGET_STD * x0
    assert (result.samples - ode).abs().mean() > 0.1


def test_euler_maruyama_without_noise_is_euler():
    field = gaussian_velocity(STANDARD_MEAN, STANDARD_STD, TARGET_MEAN, TARGET_STD)
    x0 = standard_normal(100, seed=4)

    stochastic = make_sampler("euler_maruyama", steps=20, noise_scale=0.0).sample(field, x0)
    deterministic = make_sampler("euler", steps=20).sample(field, x0)

    torch.testing.assert_close(stochastic.samples, deterministic.samples, rtol=1e-12, atol=1e-12)


def test_euler_maruyama_generator_reproducible():
    field = gaussian_velocity(STANDARD_MEAN, STANDARD_STD, TARGET_MEAN, TARGET_STD)
    x0 = standard_normal(50, seed=5)
    sampler = make_sampler("euler_maruyama", steps=10)

    first = sampler.sample(field, x0, generator=torch.Generator().manual_seed(9)).samples
    again = sampler.sample(field, x0, generator=torch.Generator().manual_seed(9)).samples
    other = sampler.sample(field, x0, generator=torch.Generator().manual_seed(10)).samples

    assert torch.equal(first, again)
    assert not torch.allclose(first, other)


# EDM


def test_karras_sigmas_values():
    sigmas = karras_sigmas(18)

    assert sigmas.shape == (19,)
    assert sigmas[0].item() == pytest.approx(80.0, rel=1e-12)
    assert sigmas[17].item() == pytest.approx(0.002, rel=1e-12)
    assert sigmas[18].item() == 0.0
    assert torch.all(sigmas[1:] < sigmas[:-1])
    # Eq. 5 of Karras et al. 2022 at i = 9 of N = 18, written out.
    middle = (80.0 ** (1 / 7) + 9 / 17 * (0.002 ** (1 / 7) - 80.0 ** (1 / 7))) ** 7
    assert sigmas[9].item() == pytest.approx(middle, rel=1e-12)
    assert karras_sigmas(1).tolist() == [80.0, 0.0]


def test_karras_sigmas_rejects_bad_arguments():
    with pytest.raises(KissError, match="'steps'"):
        karras_sigmas(0)
    with pytest.raises(KissError, match="'sigma_max'"):
        karras_sigmas(10, sigma_min=1.0, sigma_max=0.5)


def test_edm_heun_follows_exact_flow():
    denoiser = gaussian_denoiser(DATA_MEAN, DATA_STD)
    x = 80.0 * standard_normal(N_SAMPLES, seed=6)
    shrink = DATA_STD / torch.sqrt(DATA_STD**2 + 80.0**2)
    exact = DATA_MEAN + (x - DATA_MEAN) * shrink

    result = make_sampler("edm_heun", steps=40).sample(denoiser, x)

    assert result.nfe == 79
    # The initial state is N(0, 80^2), not N(mean, std^2 + 80^2), which shifts the mean a little.
    assert_mean_std(result.samples, DATA_MEAN * (1 - shrink), 80.0 * shrink)
    assert_mean_std(result.samples, DATA_MEAN, DATA_STD, bias_allowance=0.03)

    coarse = (make_sampler("edm_heun", steps=20).sample(denoiser, x).samples - exact).abs().max()
    fine = (result.samples - exact).abs().max()
    # Heun is second order, so halving the step should cut the error about fourfold.
    assert coarse / fine > 3.0
    assert fine < 0.1


@pytest.mark.parametrize("steps", [1, 2, 18])
def test_edm_heun_nfe(steps):
    calls = []

    def counted(sigma, x):
        calls.append(sigma.item())
        return torch.zeros_like(x)

    result = make_sampler("edm_heun", steps=steps).sample(counted, torch.ones(4, 2))

    assert result.nfe == 2 * steps - 1
    assert len(calls) == 2 * steps - 1
    assert calls[0] == pytest.approx(80.0)
    assert min(calls) > 0.0


def test_edm_stochastic_reaches_data_distribution():
    denoiser = gaussian_denoiser(DATA_MEAN, DATA_STD)
    # Start from the exact noised marginal so that the target is exactly N(mean, std^2).
    x = DATA_MEAN + torch.sqrt(DATA_STD**2 + 80.0**2) * standard_normal(N_SAMPLES, seed=7)
    sampler = make_sampler("edm_stochastic", steps=100, s_churn=40.0, s_noise=1.0)

    result = sampler.sample(denoiser, x, generator=torch.Generator().manual_seed(8))

    assert result.nfe == 199
    assert_mean_std(result.samples, DATA_MEAN, DATA_STD)
    deterministic = make_sampler("edm_heun", steps=100).sample(denoiser, x).samples
    assert (result.samples - deterministic).abs().mean() > 0.05


def test_edm_stochastic_without_churn_is_heun():
    denoiser = gaussian_denoiser(DATA_MEAN, DATA_STD)
    x = 80.0 * standard_normal(100, seed=9)

    stochastic = make_sampler("edm_stochastic", steps=12, s_churn=0.0).sample(denoiser, x)
    heun = make_sampler("edm_heun", steps=12).sample(denoiser, x)

    assert torch.equal(stochastic.samples, heun.samples)
    assert stochastic.nfe == 23


# Consistency


def consistency_function(sigma_min):
    """Return the exact consistency function to sigma_min of data N(DATA_MEAN, DATA_STD^2)."""

    def function(sigma, x):
        ratio = torch.sqrt(DATA_STD**2 + sigma_min**2) / torch.sqrt(DATA_STD**2 + sigma**2)
        return DATA_MEAN + (x - DATA_MEAN) * ratio

    return function


@pytest.mark.parametrize("timesteps", [(), (2.0, 0.5)])
def test_consistency_reproduces_distribution(timesteps):
    sigma_min, sigma_max = 0.002, 80.0
    x = sigma_max * standard_normal(N_SAMPLES, seed=10)
    sampler = make_sampler(
        "consistency", sigma_min=sigma_min, sigma_max=sigma_max, timesteps=timesteps
    )

    result = sampler.sample(
        consistency_function(sigma_min), x, generator=torch.Generator().manual_seed(11)
    )

    # Propagate mean and variance exactly through Algorithm 1 of Song et al. 2023.
    floor = DATA_STD**2 + sigma_min**2
    mean, variance = torch.zeros(3, dtype=DTYPE), torch.full((3,), sigma_max**2, dtype=DTYPE)
    for level in (sigma_max, *timesteps):
        if level != sigma_max:
            variance = variance + level**2 - sigma_min**2
        ratio_squared = floor / (DATA_STD**2 + level**2)
        mean = DATA_MEAN + (mean - DATA_MEAN) * torch.sqrt(ratio_squared)
        variance = variance * ratio_squared

    assert result.nfe == 1 + len(timesteps)
    assert_mean_std(result.samples, mean, torch.sqrt(variance))
    assert_mean_std(result.samples, DATA_MEAN, DATA_STD, bias_allowance=0.03)


def test_consistency_passes_levels_in_order():
    levels = []

    def recorded(sigma, x):
        levels.append(sigma.item())
        return torch.zeros_like(x)

    make_sampler("consistency", timesteps=(10.0, 1.0)).sample(recorded, torch.ones(3, 2))

    assert levels == pytest.approx([80.0, 10.0, 1.0])


# Devices, dtypes and batching


DEVICES = ["cpu", *(["cuda"] if torch.cuda.is_available() else [])]


@pytest.mark.parametrize("device", DEVICES)
@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
@pytest.mark.parametrize("name", sorted(SAMPLERS))
def test_sampler_keeps_device_and_dtype(name, dtype, device):
    seen = []

    def field(t, x):
        seen.append((t.dim(), t.dtype, t.device))
        return -0.1 * x

    x = torch.randn(6, 2, dtype=dtype, device=device)
    parameters = inspect.signature(SAMPLERS[name]).parameters
    options = {"steps": 3} if "steps" in parameters else {}
    generator = torch.Generator(device=device).manual_seed(0)

    result = make_sampler(name, **options).sample(field, x, generator=generator)

    assert isinstance(result, SamplingResult)
    assert result.samples.dtype == dtype
    assert result.samples.device == x.device
    assert result.samples.shape == x.shape
    assert torch.isfinite(result.samples).all()
    assert len(seen) == result.nfe
    assert all(entry == (0, dtype, x.device) for entry in seen)


def test_sample_in_batches_matches_single_batch():
    field, x0, _ = flow_matching_problem()
    sampler = make_sampler("rk4", steps=5)

    whole = sampler.sample(field, x0[:10])
    batched = sample_in_batches(sampler, field, x0[:10], batch_size=3)

    torch.testing.assert_close(batched.samples, whole.samples, rtol=0, atol=0)
    assert batched.nfe == 20


def test_sample_in_batches_slices_conditions():
    shift = torch.arange(10, dtype=DTYPE).unsqueeze(1).expand(10, 2)
    x = torch.zeros(10, 2, dtype=DTYPE)

    def conditional(t, x, conditions):
        return conditions["shift"] * torch.ones_like(x)

    result = sample_in_batches(
        make_sampler("euler", steps=4), conditional, x, 4, conditions={"shift": shift}
    )

    torch.testing.assert_close(result.samples, shift)
    assert result.nfe == 4


def test_sample_in_batches_rejects_bad_input():
    x = torch.zeros(10, 2)
    sampler = make_sampler("euler", steps=2)
    with pytest.raises(KissError, match="'batch_size'"):
        sample_in_batches(sampler, lambda t, x: x, x, batch_size=0)
    with pytest.raises(KissError, match="10 events"):
        sample_in_batches(sampler, lambda t, x, c: x, x, batch_size=4, conditions=torch.zeros(9))
