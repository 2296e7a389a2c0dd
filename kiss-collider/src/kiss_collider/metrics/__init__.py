"""Jet metrics (W1M, W1P, W1EFP, FPD, KPD) and the jet histograms of the evaluation report."""

from kiss_collider.metrics.jets import (
    DISPLAY_SCALES,
    W1M,
    W1P,
    JetEFPMetrics,
    energy_flow_polynomials,
    jet_histograms,
)

__all__ = ["DISPLAY_SCALES", "JetEFPMetrics", "W1M", "W1P", "energy_flow_polynomials", "jet_histograms"]
