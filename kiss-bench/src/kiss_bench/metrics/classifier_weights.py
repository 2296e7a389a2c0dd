"""Distribution of classifier likelihood-ratio weights w = D / (1 - D) on held-out candidate points."""

from __future__ import annotations

import numpy as np

__all__ = ["classifier_weight_summary"]

#: Reported quantiles of the weight distribution. A perfect candidate gives weights near 1
#: everywhere, so the tails show where the candidate over- or under-populates.
WEIGHT_QUANTILES = (0.01, 0.5, 0.99)


def classifier_weight_summary(reference: np.ndarray, candidate: np.ndarray, seed: int = 0) -> dict[str, float]:
    """Train a calibrated classifier and summarise D / (1 - D) on held-out candidate points.

    Half of each sample trains a histogram gradient-boosting classifier wrapped in 3-fold
    isotonic calibration (scikit-learn CalibratedClassifierCV); the other half is held out.
    For balanced classes D(x) = P(reference | x) calibrated gives w(x) = D / (1 - D) =
    p_reference(x) / p_candidate(x), the weight that would reweight the candidate to the
    reference. The held-out ROC AUC is reported beside the weights.

    Returns:
        "classifier_auc", "classifier_weight_std" and "classifier_weight_q01/q50/q99".

    References:
        D. Lopez-Paz, M. Oquab, "Revisiting classifier two-sample tests", ICLR 2017,
        https://arxiv.org/abs/1610.06545; the likelihood-ratio trick is reviewed in
        K. Cranmer, J. Pavez, G. Louppe, https://arxiv.org/abs/1506.02169.
    """
    # NOTE: kiss_core.metrics.classifier_test trains the same kind of classifier but does not
    # return its calibrated probabilities; once it does, this module should reuse it.
    from sklearn.calibration import CalibratedClassifierCV
    from sklearn.ensemble import HistGradientBoostingClassifier
    from sklearn.metrics import roc_auc_score

    rng = np.random.default_rng(seed)
    n = min(len(reference), len(candidate))
    reference = reference[rng.permutation(len(reference))[:n]]
    candidate = candidate[rng.permutation(len(candidate))[:n]]
    half = n // 2
    features = np.concatenate([reference[:half], candidate[:half]])
    labels = np.concatenate([np.ones(half), np.zeros(half)])

    classifier = CalibratedClassifierCV(
        HistGradientBoostingClassifier(max_iter=100, early_stopping=True, random_state=seed),
        method="isotonic",
        cv=3,
    )
    classifier.fit(features, labels)
    held_out = np.concatenate([reference[half:], candidate[half:]])
    held_out_labels = np.concatenate([np.ones(n - half), np.zeros(n - half)])
    probability = classifier.predict_proba(held_out)[:, 1]

    # Isotonic calibration returns exact 0 and 1 in the tails; clip so that w stays finite.
    probability_candidate = np.clip(probability[n - half :], 1e-3, 1 - 1e-3)
    weights = probability_candidate / (1 - probability_candidate)
    quantiles = np.quantile(weights, WEIGHT_QUANTILES)
    summary = {
        "classifier_auc": float(roc_auc_score(held_out_labels, probability)),
        "classifier_weight_std": float(weights.std()),
    }
    for level, value in zip(WEIGHT_QUANTILES, quantiles, strict=True):
        summary[f"classifier_weight_q{round(100 * level):02d}"] = float(value)
    return summary
