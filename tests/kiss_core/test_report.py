"""Tests of the HTML report: files written, table values and embedded images."""

import base64
import json

import numpy as np
import pytest

from kiss_core.evaluation import Evaluation, EvaluationRow
from kiss_core.report import Histogram, render_histogram, write_report

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _evaluation() -> Evaluation:
    rows = (
        EvaluationRow("jets", "W1M", 0.00123, 0.0002, 0.00051, 0.0001, 5000),
        EvaluationRow("jets", "FPD", 0.98765, 0.01, 0.0042, 0.002, 5000),
    )
    return Evaluation(rows=rows, n_events=5000, n_reference=10000, n_candidate=8000, seed=7)


def _histograms() -> list:
    rng = np.random.default_rng(0)
    return [
        Histogram("energy", "Energy [GeV]", rng.normal(10, 2, 5000), rng.normal(10.3, 2, 5000)),
        {"name": "multiplicity", "label": "Number of particles", "reference": rng.poisson(30, 5000),
         "candidate": rng.poisson(31, 5000), "bins": np.arange(9.5, 55.5), "log": True},
    ]


def test_report_writes_files(tmp_path):
    index = write_report(tmp_path / "report", _evaluation(), _histograms(), title="Test run",
                         run_info={"seed": 7, "command": "kiss evaluate"})

    assert index == tmp_path / "report" / "index.html"
    for name in ("index.html", "metrics.json", "energy.png", "multiplicity.png"):
        assert (tmp_path / "report" / name).is_file()
    assert (tmp_path / "report" / "energy.png").read_bytes().startswith(PNG_SIGNATURE)
    assert not list((tmp_path / "report").glob(".*tmp"))


def test_report_html_contains_values_and_images(tmp_path):
    index = write_report(tmp_path, _evaluation(), _histograms(), title="Test run", run_info={"seed": 7})
    page = index.read_text()

    assert "0.00123 &plusmn; 0.0002" in page
    assert "0.00051 &plusmn; 0.0001" in page
    assert "0.9877 &plusmn; 0.01" in page
    assert page.count('src="data:image/png;base64,') == 2
    assert "How to read this" in page
    assert 'class="tension"' in page
    embedded = page.split('src="data:image/png;base64,')[1].split('"')[0]
    assert base64.b64decode(embedded) == (tmp_path / "energy.png").read_bytes()


def test_report_metrics_json(tmp_path):
    write_report(tmp_path, _evaluation(), [], title="Test run", run_info={"seed": 7})

    data = json.loads((tmp_path / "metrics.json").read_text())

    assert data["title"] == "Test run"
    assert data["run_info"]["seed"] == 7
    assert data["evaluation"]["rows"][1]["baseline_value"] == pytest.approx(0.0042)
    assert data["evaluation"]["rows"][0]["pull"] == pytest.approx((0.00123 - 0.00051) / np.hypot(0.0002, 0.0001))


def test_render_histogram_constant_values():
    png = render_histogram(Histogram("flat", "x", np.ones(10), np.ones(10)))

    assert png.startswith(PNG_SIGNATURE)


def test_report_embeds_extra_images(tmp_path):
    png = render_histogram(Histogram("shower", "Shower", np.arange(10.0), np.arange(10.0)))
    image_file = tmp_path / "shower.png"
    image_file.write_bytes(png)

    index = write_report(tmp_path / "report", _evaluation(), [], title="Test run", run_info={},
                         images=[("Average shower", image_file), ("Single shower", png)])

    page = index.read_text()
    encoded = base64.b64encode(png).decode("ascii")
    assert "<h2>Images</h2>" in page
    assert page.count(encoded) == 2
    assert "Average shower" in page
    assert "Single shower" in page


def test_report_without_images_has_no_image_section(tmp_path):
    index = write_report(tmp_path, _evaluation(), _histograms(), title="Test run", run_info={})

    assert "<h2>Images</h2>" not in index.read_text()


def test_report_rejects_bad_images_before_writing(tmp_path):
    from kiss_core.errors import KissError

    not_png = tmp_path / "plot.png"
    not_png.write_bytes(b"GIF89a not a png")

    with pytest.raises(KissError, match="not a PNG"):
        write_report(tmp_path / "a", _evaluation(), [], title="t", run_info={}, images=[("bad", not_png)])
    with pytest.raises(KissError, match="Image file not found"):
        write_report(tmp_path / "b", _evaluation(), [], title="t", run_info={}, images=[("gone", tmp_path / "x.png")])
    assert not (tmp_path / "a").exists()
    assert not (tmp_path / "b").exists()
