"""The jets demo: Pythia 8 jets, EPiC flow matching, and a report with baselines."""

from __future__ import annotations

from kiss_core.pipeline import DemoRecipe

__all__ = ["jets_demo"]

JET_METRICS = ("collider.w1m", "collider.w1p", "collider.efp")


def jets_demo() -> DemoRecipe:
    """Return the recipe of ``kiss demo jets``.

    The default fits in 15 minutes on 2 CPU cores: 6000 training and 3000 reference jets of
    three classes and a training time budget of 6 minutes. ``--full`` simulates 30 000 training
    and 10 000 reference jets and trains 60 epochs without a time limit (about an hour on 2 CPU
    cores; the training part takes minutes on a GPU).
    """
    return DemoRecipe(
        dataset="collider.jets",
        generator="collider.epic_fm",
        train_events=6000,
        reference_events=3000,
        dataset_options={"jet_classes": ["g", "q", "t"]},
        generator_options={"hidden_dim": 64, "n_layers": 3},
        train_options={"epochs": 60, "batch_size": 128, "learning_rate": 1e-3, "max_minutes": 6.0},
        sampler="midpoint",
        sampler_options={"steps": 20},
        metrics=JET_METRICS,
        full={
            "train_events": 30_000,
            "reference_events": 10_000,
            "generator_options": {"hidden_dim": 64, "n_layers": 4},
            "train_options": {"epochs": 60, "batch_size": 128, "learning_rate": 1e-3},
        },
        expected_quality="a quick fit: the constituent distributions and the top-jet mass peak are "
                         "recognisable, but W1M, W1P and W1EFP stay several times above their "
                         "reference-vs-reference baselines; run with --full for a converged model",
    )
