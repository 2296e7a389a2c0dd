"""The jets demo: Pythia 8 jets, EPiC flow matching, and a report with baselines."""

from __future__ import annotations

from kiss_core.pipeline import DemoRecipe

__all__ = ["jets_demo"]

JET_METRICS = ("collider.w1m", "collider.w1p", "collider.efp")


def jets_demo() -> DemoRecipe:
    """Return the recipe of ``kiss demo jets``.

    The default simulates 24 000 training and 8 000 reference jets of three classes (gluon,
    light quark, top) and trains 100 epochs, capped at 7 minutes of training. The whole demo
    took 7.2 minutes on 2 idle CPU cores (see docs/benchmarks.md). ``--full`` simulates 100 000 training and 30 000
    reference jets and trains a wider network for 150 epochs without a time limit, about an
    hour and a half on 2 CPU cores; the training part takes minutes on a GPU.
    """
    return DemoRecipe(
        dataset="collider.jets",
        generator="collider.epic_fm",
        train_events=24_000,
        reference_events=8_000,
        dataset_options={"jet_classes": ["g", "q", "t"]},
        generator_options={"hidden_dim": 64, "n_layers": 3},
        train_options={"epochs": 100, "batch_size": 128, "learning_rate": 1e-3, "max_minutes": 7.0},
        sampler="midpoint",
        sampler_options={"steps": 20},
        metrics=JET_METRICS,
        full={
            "train_events": 100_000,
            "reference_events": 30_000,
            "generator_options": {"hidden_dim": 128, "n_layers": 4},
            "train_options": {"epochs": 150, "batch_size": 256, "learning_rate": 1e-3},
        },
        expected_quality="W1P and FPD within about 1.5 times their reference-vs-reference baselines, "
                         "W1M and W1EFP two to four times theirs: the top-jet mass peak is smeared "
                         "towards the gluon and quark peak; --full trains longer",
    )
