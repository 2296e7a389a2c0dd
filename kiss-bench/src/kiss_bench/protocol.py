"""The calibrated benchmark protocol: repeated comparisons against an IID baseline, resumable.

For every target, sampler and repetition r = 0..R-1 the protocol draws a fresh IID reference
sample and a fresh sample from the sampler, and evaluates every metric. The sampler "iid" is
always included: its values form the distribution of every statistic under exact sampling at
the same sample size. Each finished comparison is appended as one JSON line to ``raw.jsonl``,
so an interrupted suite continues where it stopped; seeds derive from the suite seed and the
names of each step, so a resumed suite gives the same numbers as an uninterrupted one.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

from tqdm.auto import tqdm

from kiss_bench.metrics import MetricInputs, check_samples, check_weights, kish_effective_sample_size, make_metrics
from kiss_bench.samplers import FileSampler, make_sampler
from kiss_bench.seeds import derived_seed, make_generator
from kiss_bench.targets import make_target
from kiss_core.errors import KissError
from kiss_core.io.files import read_json, write_json
from kiss_core.metrics.classifier import CLASSIFIER_MODELS

__all__ = ["RAW_FILE", "SUITE_FILE", "SuiteConfig", "read_raw_results", "run_suite"]

logger = logging.getLogger(__name__)

RAW_FILE = "raw.jsonl"
SUITE_FILE = "suite.json"
#: Name of the baseline sampler that every suite runs.
BASELINE = "iid"


@dataclass(frozen=True)
class SuiteConfig:
    """What a benchmark suite compares.

    Arguments:
        targets: Target names.
        samplers: Sampler names ("iid" is added when missing); "file:PATH" reads samples.
        metrics: Metric names.
        repetitions: Comparisons per target and sampler, each with fresh samples (R).
        n_points: Points per sample, for the reference and the candidate alike.
        seed: Suite seed.
        sampler_options: Keyword options per sampler name, for example {"hmc": {"n_chains": 20}}.
        classifier: Model of the classifier metrics, "boosted_trees" or "mlp".
    """

    targets: tuple[str, ...]
    samplers: tuple[str, ...]
    metrics: tuple[str, ...]
    repetitions: int = 100
    n_points: int = 1000
    seed: int = 0
    sampler_options: dict = field(default_factory=dict)
    classifier: str = "boosted_trees"

    def __post_init__(self) -> None:
        if self.classifier not in CLASSIFIER_MODELS:
            raise KissError("Unknown classifier model", where="classifier", expected=" or ".join(CLASSIFIER_MODELS),
                            got=repr(self.classifier))
        if self.repetitions < 2:
            raise KissError(
                "Too few repetitions",
                where="repetitions",
                expected="at least 2, to estimate a spread",
                got=str(self.repetitions),
            )
        if self.n_points < 2:
            raise KissError("Too few points", where="n_points", expected="at least 2", got=str(self.n_points))
        for kind, names in (("target", self.targets), ("sampler", self.samplers), ("metric", self.metrics)):
            if not names:
                raise KissError(f"No {kind}s given", where=f"{kind}s", expected=f"at least one {kind} name", got="none")
            repeated = sorted({name for name in names if names.count(name) > 1})
            if repeated:
                # A repeated name would add its comparisons twice with the same seeds.
                raise KissError(f"Repeated {kind} name", where=f"{kind}s", expected="each name once",
                                got=", ".join(repeated))
        unused = sorted(set(self.sampler_options) - set(self.all_samplers()))
        if unused:
            raise KissError("Options for a sampler that is not in the suite", where="sampler options",
                            expected="options of: " + ", ".join(self.all_samplers()), got=", ".join(unused))

    def all_samplers(self) -> tuple[str, ...]:
        """Return the sampler names with the baseline first and no duplicates."""
        return (BASELINE, *[name for name in dict.fromkeys(self.samplers) if name != BASELINE])


def read_raw_results(path: Path) -> list[dict]:
    """Read the finished comparisons from ``raw.jsonl``, ignoring a last line cut off by an interruption."""
    if not path.is_file():
        return []
    records = []
    lines = path.read_text().splitlines()
    for number, line in enumerate(lines):
        try:
            record = json.loads(line)
        except json.JSONDecodeError:
            if number == len(lines) - 1:
                logger.warning("ignoring the incomplete last line of %s", path)
                continue
            record = None
        if not _is_record(record):
            raise KissError(
                "Corrupt results file",
                where=f"{path}, line {number + 1}",
                expected="one comparison per line: a JSON object with target, sampler, repetition, kish_ess, "
                "seconds and rows of [statistic, dimension, number]",
                got=line[:80],
                hint="remove the file (or the line) and rerun to recompute",
            )
        records.append(record)
    return records


def _is_record(record: object) -> bool:
    """Return whether a parsed line has the keys and types that run_suite writes."""
    if not isinstance(record, dict) or not isinstance(record.get("rows"), list):
        return False
    number = int | float
    fields = [("target", str), ("sampler", str), ("repetition", int), ("kish_ess", number), ("seconds", number)]
    if not all(isinstance(record.get(key), kind) and not isinstance(record.get(key), bool) for key, kind in fields):
        return False
    return all(
        isinstance(row, list) and len(row) == 3 and isinstance(row[0], str) and isinstance(row[1], str)
        and isinstance(row[2], int | float) and not isinstance(row[2], bool)
        for row in record["rows"]
    )


def _append(path: Path, record: dict) -> None:
    with path.open("a") as stream:
        stream.write(json.dumps(record) + "\n")
        stream.flush()
        os.fsync(stream.fileno())


def _file_fingerprints(config: SuiteConfig) -> dict[str, str]:
    """Return the SHA-256 digest of every sample file of the suite, so that resuming notices a changed file."""
    digests = {}
    for name in config.all_samplers():
        if name.startswith("file:"):
            digest = hashlib.sha256()
            with Path(name.removeprefix("file:")).open("rb") as stream:
                for block in iter(lambda: stream.read(2**20), b""):
                    digest.update(block)
            digests[name] = digest.hexdigest()
    return digests


def _check_resume(out: Path, config: SuiteConfig) -> None:
    suite_file = out / SUITE_FILE
    expected_config = {**json.loads(json.dumps(asdict(config))), "sample_files": _file_fingerprints(config)}
    # A suite that stopped before its first comparison left nothing to keep, so any settings may start anew there.
    if suite_file.is_file() and read_raw_results(out / RAW_FILE):
        # A suite.json written before digests were recorded has no "sample_files" entry.
        stored = {"sample_files": {}, **read_json(suite_file)}
        if stored != expected_config:
            changed = sorted(key for key in expected_config if stored.get(key) != expected_config[key])
            raise KissError(
                "Output folder contains a different suite",
                where=str(out),
                expected="the same targets, samplers, metrics, repetitions, points, seed and sample files to resume",
                got="different " + ", ".join(changed),
                hint="choose another --out folder",
            )
    else:
        write_json(suite_file, expected_config)


def _validate_samplers(config: SuiteConfig, targets, metric_names, device) -> dict:
    """Build every sampler and read every sample file before work starts."""
    samplers = {}
    for name in config.all_samplers():
        sampler = make_sampler(name, **config.sampler_options.get(name, {}))
        if isinstance(sampler, FileSampler):
            for target in targets:
                sampler.prepare(target, make_generator(device, config.seed, target.name, name, "prepare"))
                sampler.check_size(config.n_points, config.repetitions)
            make_metrics(list(metric_names), weighted=sampler.weighted)
        samplers[name] = sampler
    return samplers


def run_suite(config: SuiteConfig, out: Path, *, device: str = "cpu", progress: bool = False) -> list[dict]:
    """Run (or continue) a suite and return all finished comparison records.

    Every name is resolved, every sample file read and validated, and the output folder
    checked before the first comparison starts.

    Arguments:
        config: The suite.
        out: Output folder; it contains suite.json and raw.jsonl.
        device: Torch device for sampling and metrics ("cpu", "cuda").
        progress: Whether to show a progress bar over comparisons.

    Returns:
        One record per (target, sampler, repetition): keys "target", "sampler", "repetition",
        "kish_ess", "seconds" and "rows", a list of [statistic, dimension, value].
    """
    targets = [make_target(name) for name in config.targets]
    for metric in make_metrics(list(config.metrics)):
        for target in targets:
            if config.n_points < metric.min_points(target.dimension):
                raise KissError(
                    "Too few points for a metric",
                    where=f"metric '{metric.name}' on target '{target.name}'",
                    expected=f"--n-points >= {metric.min_points(target.dimension)}",
                    got=str(config.n_points),
                )
    samplers = _validate_samplers(config, targets, config.metrics, device)
    out.mkdir(parents=True, exist_ok=True)
    _check_resume(out, config)

    raw_path = out / RAW_FILE
    records = read_raw_results(raw_path)
    done = {(r["target"], r["sampler"], r["repetition"]) for r in records}
    expected_keys = {(t, name, r) for t in config.targets for name in config.all_samplers()
                     for r in range(config.repetitions)}
    if len(done) != len(records) or not done <= expected_keys:
        stray = next(iter(done - expected_keys), "a comparison listed twice")
        raise KissError("Results file does not match the suite", where=str(raw_path),
                        expected="each (target, sampler, repetition) of this suite at most once", got=str(stray),
                        hint="remove the file and rerun to recompute")
    total = len(targets) * len(samplers) * config.repetitions
    logger.info("suite of %d comparisons in %s, %d already finished", total, out, len(done))

    with tqdm(total=total, initial=len(done), desc="comparisons", unit="cmp", disable=not progress) as bar:
        for target in targets:
            for name, sampler in samplers.items():
                pending = [r for r in range(config.repetitions) if (target.name, name, r) not in done]
                if not pending:
                    continue
                sampler.prepare(target, make_generator(device, config.seed, target.name, name, "prepare"), progress)
                active_metrics = make_metrics(list(config.metrics), weighted=getattr(sampler, "weighted", False))
                for repetition in pending:
                    record = _compare(config, target, name, sampler, active_metrics, repetition, device)
                    _append(raw_path, record)
                    records.append(record)
                    bar.update(1)
    return records


def _compare(config: SuiteConfig, target, sampler_name: str, sampler, metrics, repetition: int, device: str) -> dict:
    started = time.perf_counter()
    reference = target.sample(
        config.n_points, make_generator(device, config.seed, target.name, "reference", repetition)
    )
    draw = sampler.draw(
        target, config.n_points, make_generator(device, config.seed, target.name, sampler_name, repetition), repetition
    )
    where = f"sampler '{sampler_name}' on target '{target.name}', repetition {repetition}"
    check_samples(draw.points, where, target.dimension)
    check_weights(draw.weights, draw.points.shape[0], where)

    rows = []
    for metric in metrics:
        labels = (target.name, sampler_name, repetition, metric.name)
        inputs = MetricInputs(
            reference=reference,
            candidate=draw.points.to(reference.device),
            candidate_weights=draw.weights,
            target=target,
            generator=make_generator(device, config.seed, *labels),
            seed=derived_seed(config.seed, *labels) % 2**31,
            classifier=config.classifier,
        )
        rows.extend([statistic, dimension, value] for statistic, dimension, value in metric.compute(inputs))
    return {
        "target": target.name,
        "sampler": sampler_name,
        "repetition": repetition,
        "kish_ess": kish_effective_sample_size(draw.weights, draw.points.shape[0]),
        "seconds": time.perf_counter() - started,
        "rows": rows,
    }
