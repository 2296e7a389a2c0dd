"""Two-sample metrics: W1 per feature, Fréchet and kernel physics distances, classifier AUC.

The functions take (N, D) arrays; the :class:`~kiss_core.interfaces.Metric` components in
:mod:`kiss_core.metrics.variables` apply them to chosen variables of sample datasets.
"""

from kiss_core.metrics.classifier import classifier_test, roc_auc_delong
from kiss_core.metrics.frechet import fpd, frechet_distance
from kiss_core.metrics.kernel import kpd, mmd_polynomial
from kiss_core.metrics.variables import ClassifierAUC, FeatureFPD, FeatureKPD, FeatureW1
from kiss_core.metrics.wasserstein import w1_per_feature, wasserstein1

__all__ = [
    "ClassifierAUC",
    "FeatureFPD",
    "FeatureKPD",
    "FeatureW1",
    "classifier_test",
    "fpd",
    "frechet_distance",
    "kpd",
    "mmd_polynomial",
    "roc_auc_delong",
    "w1_per_feature",
    "wasserstein1",
]
