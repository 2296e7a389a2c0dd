"""Classifier two-sample test: how well a trained classifier separates candidate from reference.

A classifier (gradient-boosted trees, or a neural network trained in mini-batches) is trained
on equal numbers of reference and candidate events, calibrated on held-out events, and scored
on a third, untouched part. A ROC AUC of 0.5 means the classifier cannot tell the samples apart.
From calibrated probabilities p(x) = P(candidate | x) on balanced classes, the Jensen-Shannon
divergence follows as

    JSD = ln 2 + (E_reference[ln(1 - p)] + E_candidate[ln p]) / 2   (in nats).

The true JSD is never negative, but this average over a finite test sample can be, by a few
times 1 / sqrt(n_test), when the samples are indistinguishable. The reported ``jsd_bits`` is
therefore max(0, estimate), and ``jsd_bits_raw`` keeps the estimate itself.
"""

from __future__ import annotations

import copy
import logging
from typing import Any

import numpy as np
from scipy.stats import rankdata

from kiss_core.errors import KissError
from kiss_core.interfaces import MetricResult

__all__ = [
    "CLASSIFIER_MODELS",
    "MLPClassifier",
    "WEIGHT_QUANTILES",
    "classifier_test",
    "roc_auc_delong",
    "train_mlp_classifier",
]

logger = logging.getLogger(__name__)

#: Probabilities are clipped to [eps, 1 - eps] before taking logarithms, because isotonic
#: calibration returns exactly 0 or 1 in the tails.
_PROBABILITY_FLOOR = 1e-6

#: Standard deviation below which the network classifier does not scale a feature. Features in
#: units where a meaningful spread is below 1e-6 must be rescaled by the caller.
_MIN_FEATURE_SCALE = 1e-6

#: Calibrated probabilities are clipped to [floor, 1 - floor] before forming the weights
#: (1 - p) / p, which keeps them within [1e-3, 1e3] where isotonic calibration returns 0 or 1.
_WEIGHT_PROBABILITY_FLOOR = 1e-3

#: Quantiles of the weights reported by :func:`classifier_test`. A perfect candidate gives
#: weights near 1 everywhere; the tails show where it over- or under-populates. More extreme
#: quantiles, and the standard deviation, mostly measure the clipping of p at small sizes
#: (the 99 % quantile of IID against IID samples of 300 points reached the clip of 999).
WEIGHT_QUANTILES = (0.05, 0.5, 0.95)

#: Classifier models of :func:`classifier_test`.
CLASSIFIER_MODELS = ("boosted_trees", "mlp")


def roc_auc_delong(scores_negative: np.ndarray, scores_positive: np.ndarray) -> tuple[float, float]:
    """Compute the ROC AUC and its standard error from DeLong's variance estimate.

    Arguments:
        scores_negative: Classifier scores of the negative class (reference), shape (n0,).
        scores_positive: Classifier scores of the positive class (candidate), shape (n1,).

    Returns:
        The AUC (ties count one half) and its standard error.

    References:
        DeLong, DeLong and Clarke-Pearson, Biometrics 44 (1988) 837,
        https://doi.org/10.2307/2531595; the rank form of Sun and Xu, IEEE Signal Process.
        Lett. 21 (2014) 1389, https://doi.org/10.1109/LSP.2014.2337313.
    """
    n0, n1 = len(scores_negative), len(scores_positive)
    ranks_all = rankdata(np.concatenate([scores_positive, scores_negative]))
    ranks_positive_all, ranks_negative_all = ranks_all[:n1], ranks_all[n1:]

    # Structural components: the fraction of the other class each event outranks.
    positive_components = (ranks_positive_all - rankdata(scores_positive)) / n0
    negative_components = 1.0 - (ranks_negative_all - rankdata(scores_negative)) / n1
    auc = float(positive_components.mean())
    variance = positive_components.var(ddof=1) / n1 + negative_components.var(ddof=1) / n0
    return auc, float(np.sqrt(variance))


def _jensen_shannon_bits(probability_reference: np.ndarray, probability_candidate: np.ndarray) -> float:
    """Estimate the JSD in bits from calibrated P(candidate | x) on balanced classes."""
    p_reference = np.clip(probability_reference, _PROBABILITY_FLOOR, 1.0 - _PROBABILITY_FLOOR)
    p_candidate = np.clip(probability_candidate, _PROBABILITY_FLOOR, 1.0 - _PROBABILITY_FLOOR)
    nats = np.log(2.0) + 0.5 * (np.log1p(-p_reference).mean() + np.log(p_candidate).mean())
    return float(nats / np.log(2.0))


def _three_way_split(n: int, rng: np.random.Generator, fractions: tuple[float, float]) -> list[np.ndarray]:
    order = rng.permutation(n)
    n_train = int(fractions[0] * n)
    n_calibration = int(fractions[1] * n)
    return [order[:n_train], order[n_train : n_train + n_calibration], order[n_train + n_calibration :]]


def _check_options(model: str, train_fraction: float, calibration_fraction: float) -> None:
    if model not in CLASSIFIER_MODELS:
        raise KissError("Unknown classifier model", where="model", expected=" or ".join(CLASSIFIER_MODELS),
                        got=repr(model))
    if not (0 < train_fraction and 0 < calibration_fraction and train_fraction + calibration_fraction < 1):
        raise KissError("Invalid split fractions", where="train_fraction, calibration_fraction",
                        expected="positive fractions whose sum is below 1",
                        got=f"{train_fraction}, {calibration_fraction}")


def classifier_test(
    reference: np.ndarray | Any,
    candidate: np.ndarray | Any,
    *,
    seed: int = 0,
    max_events: int | None = None,
    train_fraction: float = 0.5,
    calibration_fraction: float = 0.25,
    max_iter: int = 200,
    model: str = "boosted_trees",
    mlp_options: dict[str, Any] | None = None,
    device: str | None = None,
) -> MetricResult:
    """Train a classifier to separate candidate from reference and report its held-out ROC AUC.

    Both samples are subsampled to the same size n (at most ``max_events`` each) and split
    into training, calibration and test parts. The classifier is calibrated by isotonic
    regression on the calibration part. The AUC is computed on the test part from the
    uncalibrated scores, because isotonic regression creates ties that would lower it.

    Two models are available. "boosted_trees" is a HistGradientBoostingClassifier with early
    stopping on 10 % of the training part. It is the better choice for tens of features but
    keeps per-feature histograms for every open leaf, so its memory grows with the number of
    features (several GB for the 40500 voxels of CaloChallenge dataset 3). "mlp" is a neural
    network (:func:`train_mlp_classifier`) trained in mini-batches, whose memory beyond the
    input arrays is the network plus one batch; use it for thousands of features, or on a GPU.

    The calibrated probability p(x) = P(candidate | x) on balanced classes gives the
    likelihood-ratio weight w(x) = (1 - p) / p = p_reference(x) / p_candidate(x), the weight that
    would reweight the candidate to the reference. Its quantiles on the held-out
    candidate events are reported; an ideal candidate has w = 1 everywhere.

    Arguments:
        reference: Features of shape (N, D) or (N,), a numpy array or a tensor.
        candidate: Features of shape (M, D) or (M,).
        seed: Seed of the subsampling, the splits and the classifier.
        max_events: Largest number of events used from each sample; ``None`` uses min(N, M).
        train_fraction: Fraction of events for training.
        calibration_fraction: Fraction for calibration; the rest is the test part.
        max_iter: Maximum boosting iterations ("boosted_trees" only).
        model: "boosted_trees" or "mlp".
        mlp_options: Keyword arguments of :func:`train_mlp_classifier` ("mlp" only).
        device: Torch device of the "mlp" model (default: CUDA when present); the
            "boosted_trees" model (scikit-learn) always runs on the CPU.

    Returns:
        value = ROC AUC (0.5: indistinguishable, 1: fully separable), uncertainty = DeLong
        standard error. Details hold the JSD estimate in bits clamped at 0 (``jsd_bits``) and
        unclamped (``jsd_bits_raw``), the weights' quantiles (``weight_q05``, ``weight_q50``,
        ``weight_q95``), the sample sizes and the
        training length.

    Example:
        >>> result = classifier_test(reference_voxels, candidate_voxels, model="mlp")
        >>> result.value, result.uncertainty, result.details["jsd_bits"]

    References:
        Lopez-Paz and Oquab, "Revisiting Classifier Two-Sample Tests", ICLR 2017,
        arXiv:1610.06545.
        Krause et al., "CaloFlow", arXiv:2106.05285 (the AUC of a classifier as a quality
        metric for generated showers).
    """
    from sklearn.isotonic import IsotonicRegression

    _check_options(model, train_fraction, calibration_fraction)
    reference, candidate = _as_array(reference), _as_array(candidate)
    n = min(len(reference), len(candidate))
    if max_events is not None:
        n = min(n, max_events)
    n_test = n - int(train_fraction * n) - int(calibration_fraction * n)
    if n_test < 10 or int(calibration_fraction * n) < 10:
        raise KissError(
            "Too few events for the classifier test",
            where=f"{len(reference)} reference and {len(candidate)} candidate events",
            expected="at least 10 test and 10 calibration events per sample",
            got=f"{n_test} test events per sample",
            hint="evaluate on more events",
        )

    rng = np.random.default_rng(seed)
    reference = reference[rng.choice(len(reference), n, replace=False)]
    candidate = candidate[rng.choice(len(candidate), n, replace=False)]
    fractions = (train_fraction, calibration_fraction)
    train, calibration, test = _three_way_split(n, rng, fractions)

    if model == "mlp":
        options = {"device": device, **(mlp_options or {})}
        predict, training_details = _fit_mlp(reference, candidate, train, seed, options)
    else:
        predict, training_details = _fit_boosted_trees(reference, candidate, train, seed, max_iter)

    scores_calibration = np.concatenate([predict(reference[calibration]), predict(candidate[calibration])])
    calibration_labels = np.concatenate([np.zeros(len(calibration)), np.ones(len(calibration))])
    calibrator = IsotonicRegression(y_min=0.0, y_max=1.0, out_of_bounds="clip")
    calibrator.fit(scores_calibration, calibration_labels)

    scores_reference = predict(reference[test])
    scores_candidate = predict(candidate[test])
    auc, auc_error = roc_auc_delong(scores_reference, scores_candidate)
    probability_candidate = calibrator.predict(scores_candidate)
    jsd_raw = _jensen_shannon_bits(calibrator.predict(scores_reference), probability_candidate)

    return MetricResult(
        value=auc,
        uncertainty=auc_error,
        details={
            "jsd_bits": max(0.0, jsd_raw),
            "jsd_bits_raw": jsd_raw,
            "model": model,
            "n_train": len(train),
            "n_calibration": len(calibration),
            "n_test": len(test),
            **_weight_summary(probability_candidate),
            **training_details,
        },
    )


def _as_array(features: Any) -> np.ndarray:
    """Return features as an (N, D) numpy array; tensors are copied from their device."""
    if hasattr(features, "detach"):
        features = features.detach().cpu().numpy()
    return np.asarray(features).reshape(len(features), -1)


def _weight_summary(probability_candidate: np.ndarray) -> dict[str, float]:
    """Summarise w = (1 - p) / p on the candidate's held-out events."""
    probability = np.clip(probability_candidate, _WEIGHT_PROBABILITY_FLOOR, 1.0 - _WEIGHT_PROBABILITY_FLOOR)
    weights = (1.0 - probability) / probability
    summary = {}
    for level, value in zip(WEIGHT_QUANTILES, np.quantile(weights, WEIGHT_QUANTILES), strict=True):
        summary[f"weight_q{round(100 * level):02d}"] = float(value)
    return summary


def _fit_boosted_trees(reference, candidate, train, seed, max_iter):
    from sklearn.ensemble import HistGradientBoostingClassifier

    features = np.concatenate([reference[train], candidate[train]])
    labels = np.concatenate([np.zeros(len(train)), np.ones(len(train))])
    classifier = HistGradientBoostingClassifier(max_iter=max_iter, early_stopping=True, random_state=seed)
    classifier.fit(features, labels)
    logger.info("Classifier test trained on %d events per sample (%d iterations)", len(train), classifier.n_iter_)

    def predict(rows: np.ndarray) -> np.ndarray:
        return classifier.predict_proba(rows)[:, 1]

    return predict, {"n_iterations": int(classifier.n_iter_)}


def _fit_mlp(reference, candidate, train, seed, options):
    classifier, details = _train_mlp(reference, candidate, train, seed=seed, **options)
    return classifier.predict, details


class MLPClassifier:
    """A trained network that scores events: P(candidate | x) before calibration.

    Arguments:
        network: Torch module mapping standardised features (n, D) to logits (n, 1).
        mean: Per-feature mean of the training events, shape (D,).
        scale: Per-feature standard deviation of the training events (1 where it is 0), shape (D,).
        batch_size: Events scored per network call.
    """

    def __init__(self, network, mean: np.ndarray, scale: np.ndarray, batch_size: int) -> None:
        self.network = network
        self.mean = mean
        self.scale = scale
        self.batch_size = batch_size

    def _inputs(self, rows: np.ndarray):
        import torch

        device = next(self.network.parameters()).device
        values = (np.asarray(rows, dtype=np.float32) - self.mean) / self.scale
        return torch.as_tensor(values, device=device)

    def predict(self, features: np.ndarray) -> np.ndarray:
        """Return the sigmoid output for events of shape (n, D), computed in batches."""
        import torch

        features = np.asarray(features).reshape(len(features), -1)
        scores = []
        self.network.eval()
        with torch.no_grad():
            for start in range(0, len(features), self.batch_size):
                logits = self.network(self._inputs(features[start : start + self.batch_size]))
                scores.append(torch.sigmoid(logits).reshape(-1).cpu().numpy())
        return np.concatenate(scores) if scores else np.zeros(0)


def _standardisation(reference, candidate, rows, batch_size) -> tuple[np.ndarray, np.ndarray]:
    """Return per-feature mean and standard deviation over the chosen rows, summed in batches."""
    total = np.zeros(reference.shape[1])
    squares = np.zeros(reference.shape[1])
    for sample in (reference, candidate):
        for start in range(0, len(rows), batch_size):
            block = np.asarray(sample[rows[start : start + batch_size]], dtype=np.float64)
            total += block.sum(axis=0)
            squares += (block**2).sum(axis=0)
    count = 2 * len(rows)
    mean = total / count
    std = np.sqrt(np.maximum(squares / count - mean**2, 0.0))
    # Features that are constant up to round-off (an almost always empty voxel, whose rare
    # deposits of 1e-40 MeV give a standard deviation of that size) are centred but not scaled,
    # because dividing by such a spread overflows float32.
    scale = np.where(std > _MIN_FEATURE_SCALE, std, 1.0)
    return mean.astype(np.float32), scale.astype(np.float32)


def train_mlp_classifier(
    reference: np.ndarray,
    candidate: np.ndarray,
    *,
    seed: int = 0,
    hidden: tuple[int, ...] = (512, 512),
    epochs: int = 50,
    batch_size: int = 256,
    learning_rate: float = 1e-3,
    validation_fraction: float = 0.2,
    patience: int = 5,
    device: str | None = None,
) -> tuple[MLPClassifier, dict[str, Any]]:
    """Train a network to separate candidate (label 1) from reference (label 0) events.

    The network is a multilayer perceptron with LeakyReLU activations on standardised
    features, trained with Adam on the binary cross-entropy in mini-batches. Only one batch
    is converted to float32 and standardised at a time, so the memory beyond the input
    arrays is the network and one batch, whatever the number of events. Training stops
    after ``patience`` epochs without a lower loss on the validation events, and the
    weights of the best epoch are kept.

    Arguments:
        reference: Reference features, shape (N, D).
        candidate: Candidate features, shape (N, D) (the same number of events).
        seed: Seed of the initialisation, the validation split and the batch order; the
            global torch random state is left unchanged.
        hidden: Width of each hidden layer. Two layers of 512 units match the classifier
            of the CaloChallenge evaluation (arXiv:2410.21611).
        epochs: Most passes over the training events.
        batch_size: Events per optimiser step.
        learning_rate: Adam learning rate. The defaults were chosen so that the tests on
            shifted Gaussians reach the optimal AUC.
        validation_fraction: Fraction of the events held out for early stopping.
        patience: Epochs without improvement of the validation loss before stopping.
        device: Torch device; ``None`` uses CUDA when present.

    Returns:
        The trained classifier and details: epochs run, best epoch, best validation loss.

    Example:
        >>> classifier, details = train_mlp_classifier(reference, candidate, hidden=(64, 64))
        >>> probabilities = classifier.predict(candidate)
    """
    reference = np.asarray(reference).reshape(len(reference), -1)
    candidate = np.asarray(candidate).reshape(len(candidate), -1)
    if len(reference) != len(candidate):
        raise KissError("Unequal sample sizes", where="train_mlp_classifier",
                        expected="as many candidate as reference events",
                        got=f"{len(reference)} reference, {len(candidate)} candidate")
    return _train_mlp(reference, candidate, np.arange(len(reference)), seed=seed, hidden=hidden, epochs=epochs,
                      batch_size=batch_size, learning_rate=learning_rate,
                      validation_fraction=validation_fraction, patience=patience, device=device)


def _train_mlp(reference, candidate, rows, *, seed=0, hidden=(512, 512), epochs=50, batch_size=256,
               learning_rate=1e-3, validation_fraction=0.2, patience=5, device=None):
    """Train on ``reference[rows]`` and ``candidate[rows]`` without copying them whole."""
    import torch

    if epochs < 1 or batch_size < 1 or patience < 1 or not 0 < validation_fraction < 0.5:
        raise KissError("Invalid MLP classifier options", where="epochs, batch_size, patience, validation_fraction",
                        expected="epochs, batch_size, patience >= 1 and 0 < validation_fraction < 0.5",
                        got=f"{epochs}, {batch_size}, {patience}, {validation_fraction}")
    torch_device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
    rng = np.random.default_rng(seed)
    shuffled = rng.permutation(rows)
    n_validation = max(1, int(validation_fraction * len(rows)))
    validation, training = shuffled[:n_validation], shuffled[n_validation:]
    mean, scale = _standardisation(reference, candidate, training, batch_size)

    # Each example is (sample, row): sample 0 is the reference, 1 the candidate.
    def examples(chosen: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        return np.repeat([0, 1], len(chosen)), np.concatenate([chosen, chosen])

    def batch(samples: np.ndarray, chosen_rows: np.ndarray):
        features = np.empty((len(chosen_rows), reference.shape[1]), dtype=np.float32)
        is_candidate = samples == 1
        features[~is_candidate] = reference[chosen_rows[~is_candidate]]
        features[is_candidate] = candidate[chosen_rows[is_candidate]]
        inputs = torch.as_tensor((features - mean) / scale, device=torch_device)
        return inputs, torch.as_tensor(samples, dtype=torch.float32, device=torch_device).unsqueeze(1)

    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        layers, width = [], reference.shape[1]
        for size in hidden:
            layers += [torch.nn.Linear(width, size), torch.nn.LeakyReLU()]
            width = size
        network = torch.nn.Sequential(*layers, torch.nn.Linear(width, 1)).to(torch_device)
    optimizer = torch.optim.Adam(network.parameters(), lr=learning_rate)
    loss_function = torch.nn.BCEWithLogitsLoss(reduction="sum")

    train_samples, train_rows = examples(training)
    validation_samples, validation_rows = examples(validation)
    best_loss, best_epoch, best_state = float("inf"), 0, None
    epoch = 0
    for epoch in range(1, epochs + 1):
        network.train()
        order = rng.permutation(len(train_rows))
        for start in range(0, len(order), batch_size):
            chosen = order[start : start + batch_size]
            inputs, labels = batch(train_samples[chosen], train_rows[chosen])
            optimizer.zero_grad(set_to_none=True)
            (loss_function(network(inputs), labels) / len(chosen)).backward()
            optimizer.step()

        network.eval()
        total = 0.0
        with torch.no_grad():
            for start in range(0, len(validation_rows), batch_size):
                inputs, labels = batch(validation_samples[start : start + batch_size],
                                       validation_rows[start : start + batch_size])
                total += float(loss_function(network(inputs), labels))
        validation_loss = total / len(validation_rows)
        if validation_loss < best_loss:
            best_loss, best_epoch, best_state = validation_loss, epoch, copy.deepcopy(network.state_dict())
        elif epoch - best_epoch >= patience:
            break

    network.load_state_dict(best_state)
    logger.info("MLP classifier trained on %d events per sample: %d epochs, best validation loss %.4f at epoch %d",
                len(training), epoch, best_loss, best_epoch)
    details = {"n_epochs": epoch, "best_epoch": best_epoch, "validation_loss": best_loss}
    return MLPClassifier(network, mean, scale, batch_size), details
