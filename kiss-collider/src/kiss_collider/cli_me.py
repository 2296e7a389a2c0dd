"""The ``kiss me`` commands: integrate g g -> n g cross sections and unweight events with a surrogate."""

from __future__ import annotations

import json
import logging
import os
import tempfile
import time
from pathlib import Path

import click
import torch

from kiss_core.cli import report_user_errors
from kiss_core.errors import KissError

__all__ = ["me"]

logger = logging.getLogger(__name__)


def _process_options(function):
    """Add the options that define the partonic process g g -> (n - 2) g."""
    options = [
        click.option("--gluons", "n_gluons", type=click.IntRange(4, 8), default=4, show_default=True,
                     help="Total number of gluons n of g g -> (n - 2) g."),
        click.option("--sqrt-s", "sqrt_s_gev", type=float, default=1000.0, show_default=True,
                     help="Partonic centre-of-mass energy in GeV."),
        click.option("--pt-min", "pt_min_gev", type=float, default=50.0, show_default=True,
                     help="Minimum transverse momentum of each outgoing gluon in GeV."),
        click.option("--max-rapidity", type=float, default=2.5, show_default=True,
                     help="Maximum absolute rapidity of each outgoing gluon."),
        click.option("--min-delta-r", type=float, default=0.4, show_default=True,
                     help="Minimum Delta R between two outgoing gluons."),
        click.option("--alpha-s", type=float, default=0.118, show_default=True, help="Strong coupling (fixed)."),
        click.option("--seed", type=int, default=0, show_default=True, help="Random seed."),
        click.option("--device", type=click.Choice(["auto", "cpu", "cuda"]), default="auto", show_default=True,
                     help="Device of the neural networks; matrix elements run on the CPU."),
        click.option("--progress/--no-progress", default=True, show_default=True, help="Show progress bars."),
    ]
    for option in reversed(options):
        function = option(function)
    return function


def _build_process(n_gluons, sqrt_s_gev, pt_min_gev, max_rapidity, min_delta_r, alpha_s):
    from kiss_collider.me_datasets import GluonProcess
    from kiss_collider.phasespace import Cuts

    cuts = Cuts(pt_min_gev=pt_min_gev, max_abs_rapidity=max_rapidity, min_delta_r=min_delta_r)
    return GluonProcess(n_gluons, sqrt_s_gev, cuts, alpha_s)


def _resolve_device(name: str) -> torch.device:
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name == "cuda" and not torch.cuda.is_available():
        raise KissError("CUDA device not available", where="--device", expected="a visible CUDA GPU",
                        got="torch.cuda.is_available() is False", hint="use --device cpu")
    return torch.device(name)


def _write_json_atomically(data: dict, path: Path) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    with os.fdopen(handle, "w") as stream:
        json.dump(data, stream, indent=2)
    os.replace(temporary, path)


@click.group("me")
def me() -> None:
    """Integrate tree-level multi-gluon cross sections and unweight events with a surrogate."""


@me.command("integrate")
@_process_options
@click.option("--calls", type=click.IntRange(min=1000), default=100_000, show_default=True,
              help="Integrand calls per method, adaptation included.")
@click.option("--method", type=click.Choice(["flow", "vegas", "both"]), default="both", show_default=True,
              help="Neural importance sampling, VEGAS, or both at the same number of calls.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="JSON file for the results.")
@report_user_errors
def integrate(n_gluons, sqrt_s_gev, pt_min_gev, max_rapidity, min_delta_r, alpha_s, seed, device, progress, calls,
              method, out) -> None:
    """Compute the partonic cross section in pb with its error and unweighting efficiency."""
    from kiss_collider.integration import HypercubeFlow, integrate_with_flow, integrate_with_vegas

    process = _build_process(n_gluons, sqrt_s_gev, pt_min_gev, max_rapidity, min_delta_r, alpha_s)
    torch_device = _resolve_device(device)
    torch.manual_seed(seed)
    summary = {"process": process.provenance(), "calls": calls, "seed": seed, "results": {}}
    methods = ["flow", "vegas"] if method == "both" else [method]
    for name in methods:
        start = time.perf_counter()
        if name == "flow":
            flow = HypercubeFlow(process.dimension).to(torch_device)
            result = integrate_with_flow(process, process.dimension, n_calls=calls, flow=flow,
                                         generator=torch.Generator().manual_seed(seed), progress=progress)
        else:
            result = integrate_with_vegas(process, process.dimension, n_calls=calls, seed=seed)
        seconds = time.perf_counter() - start
        summary["results"][name] = {
            "cross_section_pb": result.integral, "error_pb": result.error, "relative_error": result.relative_error,
            "unweighting_efficiency": result.unweighting_efficiency, "calls": result.n_calls, "seconds": seconds,
        }
        click.echo(f"{name:6s} sigma = {result.integral:.6g} +- {result.error:.3g} pb "
                   f"(relative error {result.relative_error:.2e}, unweighting efficiency "
                   f"{result.unweighting_efficiency:.3g}, {result.n_calls} calls, {seconds:.1f} s)")
    if out is not None:
        _write_json_atomically(summary, out)
        click.echo(f"wrote {out}")


def _load_surrogate(run: Path, n_gluons: int):
    """Load the surrogate of a 'kiss train me_surrogate' run and check it was trained for this process."""
    from kiss_collider.models.me_surrogate import MODEL_NAME
    from kiss_core.registry import get_registry
    from kiss_core.runs import RunDirectory
    from kiss_core.training import load_generator

    RunDirectory(run).read()  # a clear error for a folder that is not a run
    surrogate, name = load_generator(run / "checkpoints", get_registry())
    if name != MODEL_NAME:
        raise KissError("Run does not hold a matrix-element surrogate", where=str(run), expected=MODEL_NAME, got=name)
    if surrogate.config.n_gluons != n_gluons:
        raise KissError("Surrogate was trained for another process", where=str(run),
                        expected=f"g g -> {n_gluons - 2} g", got=f"a surrogate of {surrogate.config.n_gluons} gluons",
                        hint="train a surrogate for this process or set --gluons to match it")
    return surrogate


@me.command("unweight")
@_process_options
@click.option("--events", "n_trials", type=click.IntRange(min=100), default=100_000, show_default=True,
              help="Weighted phase-space points offered to the unweighting.")
@click.option("--surrogate", "surrogate_run", type=click.Path(file_okay=False, path_type=Path), default=None,
              help="Run directory of 'kiss train me_surrogate'; a surrogate is trained here when absent.")
@click.option("--train-events", type=click.IntRange(min=100), default=5000, show_default=True,
              help="Training points for the surrogate when --surrogate is not given.")
@click.option("--quantile", type=click.FloatRange(0, 1, min_open=True), default=0.999, show_default=True,
              help="Quantile of the weights used as the reduced maximum.")
@click.option("--out", type=click.Path(dir_okay=False, path_type=Path), required=True,
              help="Output file: .lhe (Les Houches events) or .h5/.hdf5.")
@report_user_errors
def unweight_command(n_gluons, sqrt_s_gev, pt_min_gev, max_rapidity, min_delta_r, alpha_s, seed, device, progress,
                     n_trials, surrogate_run, train_events, quantile, out) -> None:
    """Unweight events with two-stage (surrogate, then exact |M|^2) rejection and write them."""
    from kiss_collider.me_datasets import GluonScatteringDataset
    from kiss_collider.models.me_surrogate import MatrixElementSurrogate, fit_surrogate
    from kiss_collider.unweighting import two_stage_maxima, two_stage_unweight

    suffix = out.suffix.lower()
    if suffix not in (".lhe", ".h5", ".hdf5"):
        raise KissError("Unsupported output format", where=str(out), expected="a .lhe, .h5 or .hdf5 file",
                        got=repr(out.suffix))
    if out.exists():
        raise KissError("Output file exists", where=str(out), hint="remove it or choose another --out")
    process = _build_process(n_gluons, sqrt_s_gev, pt_min_gev, max_rapidity, min_delta_r, alpha_s)
    torch_device = _resolve_device(device)
    generator = torch.Generator().manual_seed(seed)
    torch.manual_seed(seed)

    if surrogate_run is not None:
        surrogate = _load_surrogate(surrogate_run, n_gluons)
    else:
        click.echo(f"training a surrogate on {train_events} points of {process.provenance()['process']}")
        dataset = GluonScatteringDataset(GluonScatteringDataset.Config(
            n_gluons=n_gluons, sqrt_s_gev=sqrt_s_gev, pt_min_gev=pt_min_gev, max_abs_rapidity=max_rapidity,
            min_delta_r=min_delta_r, alpha_s=alpha_s))
        surrogate = MatrixElementSurrogate(MatrixElementSurrogate.Config(n_gluons=n_gluons))
        tensors = surrogate.prepare(dataset.load(train_events, seed=seed + 1, progress=progress))
        fit_surrogate(surrogate, tensors, seed=seed, progress=progress)
    surrogate.network.to(torch_device)

    start = time.perf_counter()
    n_calibration = max(n_trials // 5, 100)
    outgoing, _, cut_fraction = process.phase_space.sample(n_calibration + n_trials, generator=generator)
    momenta = process.full_momenta(outgoing)
    log_surrogate, _ = surrogate.predict(momenta)
    surrogate_weights = torch.exp(log_surrogate) * process.weight_per_matrix_element * cut_fraction
    calibration_true = process.matrix_element(momenta[:n_calibration]) * process.weight_per_matrix_element * (
        cut_fraction)
    surrogate_maximum, ratio_maximum = two_stage_maxima(surrogate_weights[:n_calibration], calibration_true,
                                                        quantile=quantile, generator=generator)
    trial_momenta = momenta[n_calibration:]

    def true_weight(indices):
        return process.matrix_element(trial_momenta[indices]) * process.weight_per_matrix_element * cut_fraction

    result = two_stage_unweight(surrogate_weights[n_calibration:], true_weight, surrogate_maximum, ratio_maximum,
                                generator=generator)
    seconds = time.perf_counter() - start

    kept = trial_momenta[result.indices]
    if suffix == ".lhe":
        _write_lhe(out, kept, result, process)
    else:
        _write_hdf5(out, kept, result, process)
    click.echo(
        f"sigma = {result.integral:.6g} +- {result.integral_error:.3g} pb; kept {len(result.indices)} of {n_trials} "
        f"(stage 1 {result.first_stage_efficiency:.3g}, stage 2 {result.second_stage_efficiency:.3g}, "
        f"{result.n_true_evaluations} exact |M|^2, Kish N_eff {result.effective_sample_size:.1f}) in {seconds:.1f} s"
    )
    click.echo(f"wrote {len(result.indices)} events to {out}")


def _colour_tags(n: int) -> list[tuple[int, int]]:
    """Return (colour, anticolour) LHE tags of a planar colour flow g1 g2 ... gn, incoming lines swapped."""
    tags = []
    for i in range(n):
        colour, anticolour = 501 + i, 501 + (i - 1) % n
        tags.append((anticolour, colour) if i < 2 else (colour, anticolour))
    return tags


def _write_lhe(path: Path, momenta: torch.Tensor, result, process) -> None:
    import pylhe

    # NOTE: every event carries the same planar colour flow; it is not sampled from the
    # colour-ordered amplitudes, so a parton shower receives a fixed colour topology.
    n = process.n_gluons
    tags = _colour_tags(n)
    events = []
    event_weights = _event_weights_pb(result).tolist()
    # Strategy 3 means unit-weight events; overweighted events make the sample weighted (strategy 4).
    strategy = 3 if bool((result.weights == 1).all()) else 4
    for event_momenta, weight in zip(momenta.tolist(), event_weights, strict=True):
        particles = [
            pylhe.LHEParticle(id=21, status=-1 if i < 2 else 1, mother1=0 if i < 2 else 1, mother2=0 if i < 2 else 2,
                              color1=tags[i][0], color2=tags[i][1], px=p[1], py=p[2], pz=p[3], e=p[0], m=0.0,
                              lifetime=0.0, spin=9.0)
            for i, p in enumerate(event_momenta)
        ]
        info = pylhe.LHEEventInfo(nparticles=n, pid=1, weight=weight, scale=process.sqrt_s_gev, aqed=-1.0,
                                  aqcd=process.alpha_s)
        events.append(pylhe.LHEEvent(eventinfo=info, particles=particles))
    energy = process.sqrt_s_gev / 2
    init = pylhe.LHEInit(
        initInfo=pylhe.LHEInitInfo(beamA=21, beamB=21, energyA=energy, energyB=energy, PDFgroupA=0, PDFgroupB=0,
                                   PDFsetA=0, PDFsetB=0, weightingStrategy=strategy, numProcesses=1),
        procInfo=[pylhe.LHEProcInfo(xSection=result.integral, error=result.integral_error,
                                    unitWeight=result.integral, procId=1)],
        generators=[pylhe.LHEGenerator(name="kiss-collider", version="0.1.0", description="two-stage unweighting")],
    )
    _write_atomically(path, lambda temporary: pylhe.LHEFile(init=init, events=events).tofile(temporary))


def _event_weights_pb(result) -> torch.Tensor:
    """Return event weights in pb that sum to the cross-section estimate, overweights included."""
    return result.weights * result.normalisation / result.n_trials


def _write_hdf5(path: Path, momenta: torch.Tensor, result, process) -> None:
    import h5py

    def write(temporary):
        with h5py.File(temporary, "w") as handle:
            handle.create_dataset("momenta", data=momenta.numpy())
            handle["momenta"].attrs["units"] = "GeV"
            handle["momenta"].attrs["components"] = ["E", "px", "py", "pz"]
            handle.create_dataset("weights", data=_event_weights_pb(result).numpy())
            handle["weights"].attrs["units"] = "pb (the weights sum to the cross section)"
            handle.attrs["cross_section_pb"] = result.integral
            handle.attrs["cross_section_error_pb"] = result.integral_error
            handle.attrs["provenance"] = json.dumps(process.provenance())

    _write_atomically(path, write)


def _write_atomically(path: Path, write) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=path.suffix)
    os.close(handle)
    try:
        write(temporary)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise

