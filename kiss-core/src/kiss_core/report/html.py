"""The evaluation report: metrics.json, one PNG per histogram and a self-contained index.html."""

from __future__ import annotations

import base64
import html
import json
import logging
import math
import os
import tempfile
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from kiss_core.errors import KissError
from kiss_core.evaluation import Evaluation, EvaluationRow
from kiss_core.report.plots import Histogram, render_histogram

__all__ = ["write_report"]

logger = logging.getLogger(__name__)

_STYLE = """
body { font-family: sans-serif; max-width: 70em; margin: 2em auto; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { padding: 0.3em 0.8em; border-bottom: 1px solid #ccc; text-align: right; }
th:first-child, td:first-child { text-align: left; }
td.tension { color: #b00; font-weight: bold; }
figure { display: inline-block; margin: 0.5em; }
.note { background: #f4f4f4; padding: 0.8em 1em; border-left: 4px solid #888; }
"""

#: Pull |value - baseline| / combined uncertainty above which a row is highlighted. Three standard
#: deviations is the usual threshold for "evidence" of a difference.
TENSION_PULL = 3.0


def _write_atomic(path: Path, data: bytes) -> None:
    """Write ``data`` to a temporary file beside ``path`` and rename it over ``path``."""
    handle, temporary = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        with os.fdopen(handle, "wb") as file:
            file.write(data)
        os.replace(temporary, path)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


def _format(value: float) -> str:
    return "n/a" if not math.isfinite(value) else f"{value:.4g}"


def _table_row(row: EvaluationRow) -> str:
    pull = row.pull
    tension = math.isfinite(pull) and abs(pull) > TENSION_PULL
    cells = [
        html.escape(f"{row.metric}: {row.label}"),
        f"{_format(row.value)} &plusmn; {_format(row.uncertainty)}",
        f"{_format(row.baseline_value)} &plusmn; {_format(row.baseline_uncertainty)}",
    ]
    pull_cell = f'<td class="tension">{_format(pull)}</td>' if tension else f"<td>{_format(pull)}</td>"
    return "<tr>" + "".join(f"<td>{cell}</td>" for cell in cells) + pull_cell + f"<td>{row.n}</td></tr>"


def _metrics_table(evaluation: Evaluation) -> str:
    header = ("<tr><th>metric</th><th>candidate vs reference</th><th>reference vs reference (baseline)</th>"
              "<th>pull</th><th>events per sample</th></tr>")
    body = "\n".join(_table_row(row) for row in evaluation.rows)
    return f"<table>\n{header}\n{body}\n</table>"


_HOW_TO_READ = f"""
<div class="note"><p><b>How to read this.</b> Each metric compares the candidate with one half
of the reference. The baseline compares that half with the other, disjoint half, at the same
number of events, so it shows the value that statistical noise alone produces. The candidate is
compatible with the reference when its value lies within a few uncertainties of the baseline.
The pull is (candidate &minus; baseline) / sqrt(uncertainty<sup>2</sup> + baseline
uncertainty<sup>2</sup>); rows with |pull| &gt; {TENSION_PULL:g} are marked. In the plots the
reference is filled grey, the candidate is the red line, both normalised to unit area, and the
lower panel shows candidate / reference with Poisson error bars.</p></div>
"""


def _run_info_table(run_info: Mapping[str, Any]) -> str:
    rows = "\n".join(
        f"<tr><td>{html.escape(str(key))}</td><td>{html.escape(str(value))}</td></tr>" for key, value in run_info.items()
    )
    return f"<table>\n{rows}\n</table>"


#: The eight bytes every PNG file starts with (PNG specification, section 5.2).
_PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_bytes(title: str, image: str | os.PathLike[str] | bytes) -> bytes:
    """Return the PNG data of an image given as bytes or as a file path."""
    if isinstance(image, bytes | bytearray):
        data = bytes(image)
        where = f"image '{title}'"
    else:
        path = Path(image)
        where = str(path)
        if not path.is_file():
            raise KissError("Image file not found", where=where, hint="write the plot before the report")
        data = path.read_bytes()
    if not data.startswith(_PNG_SIGNATURE):
        raise KissError("Image is not a PNG file", where=where, expected="PNG data", got=repr(data[:8]))
    return data


def _image_figure(title: str, png: bytes) -> str:
    encoded = base64.b64encode(png).decode("ascii")
    return (f'<figure><img alt="{html.escape(title)}" src="data:image/png;base64,{encoded}">'
            f"<figcaption>{html.escape(title)}</figcaption></figure>")


def write_report(
    out_dir: str | os.PathLike[str],
    evaluation: Evaluation,
    histograms: Iterable[Histogram | Mapping[str, Any]],
    *,
    title: str,
    run_info: Mapping[str, Any],
    images: Iterable[tuple[str, str | os.PathLike[str] | bytes]] = (),
) -> Path:
    """Write the evaluation report to ``out_dir``: metrics.json, one PNG per histogram, index.html.

    The HTML page embeds the PNGs as base64, so it can be mailed or archived as one file. Every
    file is written atomically. Further images (shower images, for example) are embedded in an
    "Images" section; they are not copied into ``out_dir``.

    Arguments:
        out_dir: Report folder; created if missing.
        evaluation: Result of :func:`kiss_core.evaluation.evaluate`.
        histograms: :class:`~kiss_core.report.plots.Histogram` records, or mappings with the
            same fields.
        title: Page title.
        run_info: Facts to list on the page and in metrics.json (command, seed, versions).
        images: (caption, PNG file path or PNG bytes) pairs shown after the histograms.

    Returns:
        The path of index.html.

    Raises:
        KissError: An image file is missing or is not a PNG, checked before anything is written.
    """
    directory = Path(out_dir)
    records = [record if isinstance(record, Histogram) else Histogram(**record) for record in histograms]
    extra_figures = [_image_figure(caption, _png_bytes(caption, image)) for caption, image in images]
    directory.mkdir(parents=True, exist_ok=True)

    metrics = {"title": title, "run_info": dict(run_info), "evaluation": evaluation.to_dict()}
    _write_atomic(directory / "metrics.json", json.dumps(metrics, indent=2, default=str).encode())

    figures = []
    for record in records:
        png = render_histogram(record)
        _write_atomic(directory / f"{record.name}.png", png)
        figures.append(_image_figure(record.label, png))

    page = f"""<!DOCTYPE html>
<html lang="en"><head><meta charset="utf-8"><title>{html.escape(title)}</title>
<style>{_STYLE}</style></head>
<body>
<h1>{html.escape(title)}</h1>
{_HOW_TO_READ}
<h2>Metrics</h2>
<p>{evaluation.n_events} events per sample (reference {evaluation.n_reference},
candidate {evaluation.n_candidate}, seed {evaluation.seed}).</p>
{_metrics_table(evaluation)}
<h2>Distributions</h2>
{"".join(figures)}
{"<h2>Images</h2>" + "".join(extra_figures) if extra_figures else ""}
<h2>Run</h2>
{_run_info_table(run_info)}
</body></html>
"""
    index = directory / "index.html"
    _write_atomic(index, page.encode("utf-8"))
    logger.info("Wrote report with %d rows, %d plots and %d images to %s", len(evaluation.rows), len(records),
                len(extra_figures), directory)
    return index
