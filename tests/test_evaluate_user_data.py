"""`abrnet evaluate --data` on users' files: a wide CSV is read, an off-grid recording is resampled and warned about,
and metrics.md / the generate plot say what the figures rest on."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from abrnet.cli.main import app
from abrnet.constants import STATIC_PARAMS
from abrnet.data.csv_io import write_wide_csv
from abrnet.data.io import save_cohort
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.evaluation.evaluate import load_evaluation_data
from abrnet.evaluation.report import metric_rows, metrics_markdown


@pytest.fixture(scope="module")
def tiny():
    return simulate_cohort(SimulationConfig(n_patients=2, protocol="fixed"), seed=0)


def _centred(x: np.ndarray) -> np.ndarray:
    """What the reader hands the model: every record without its mean (`abrnet.data.baseline`)."""
    x = np.asarray(x, np.float64)
    return x - x.mean(axis=1, keepdims=True)


def test_wide_csv_is_read_not_refused_as_hdf5(tiny, tmp_path: Path) -> None:
    path = write_wide_csv(tiny, tmp_path / "x.csv")
    cohort, _ = load_evaluation_data(path)
    assert cohort.n_records == tiny.n_records
    np.testing.assert_allclose(cohort.signals, _centred(tiny.signals), atol=1e-4)


def test_on_grid_h5_is_only_centred_and_off_grid_is_resampled_with_a_warning(tiny, tmp_path: Path) -> None:
    same, warnings = load_evaluation_data(save_cohort(tiny, tmp_path / "a.h5"))
    assert warnings == []
    np.testing.assert_allclose(same.signals, _centred(tiny.signals), atol=2e-6)
    off = tiny.subset(np.arange(tiny.n_records))
    off.signals = np.repeat(tiny.signals, 2, axis=1)  # 40 kHz, same 10 ms
    off.clean, off.buffers, off.sampling_rate_hz = None, None, 40_000.0
    off.extras["species"] = np.full(off.n_records, "mouse")
    cohort, warnings = load_evaluation_data(save_cohort(off, tmp_path / "b.h5"))
    assert cohort.n_samples == tiny.n_samples and cohort.sampling_rate_hz == 20_000.0
    assert any("out of the model's domain" in w and "mouse" in w for w in warnings)
    assert all("\n" not in w for w in warnings)
    off.static[:, 3] = np.nan  # no FMP and no buffers: said for an .h5 as `predict` says it for any file
    _, warnings = load_evaluation_data(save_cohort(off, tmp_path / "c.h5"))
    assert any("have no FMP" in w or "no FMP and no split buffers" in w for w in warnings), warnings


def test_markdown_lists_input_warnings_and_the_reconstruction_target() -> None:
    metrics = {"split": "all", "signal": {"reconstruction_target": "observed", "correlation": 0.99}}
    metrics |= {"input_warnings": ["m.h5: 12 of 12 records out of the model's domain (species: mouse)"]}
    md = metrics_markdown(metrics)
    assert "### input warnings" in md and "species: mouse" in md
    assert ("signal", "reconstruction scored against", "observed", "") in metric_rows(metrics)


def test_generate_plot_has_an_amplitude_scale_and_the_settings(tiny, tmp_path: Path, monkeypatch) -> None:
    import matplotlib.pyplot as plt

    from abrnet.inference.generation import plot_generated

    figs = []
    monkeypatch.setattr(plt, "close", figs.append)
    gen = tiny.subset(np.arange(2))
    gen.attrs = {"mode": "conditional", "sampler": "ddim", "steps": 10, "guidance": 2.0, "seed": 7}
    gen.attrs["signal_kind"] = "clean response"
    gen.static[:, 0] = 0.25  # an infant: not "0 y"
    plot_generated(gen, tmp_path / "g.png")
    ax = figs[0].axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert "0.5 µV" in texts
    assert "guidance 2" in ax.get_title() and "seed 7" in ax.get_title()
    assert any("0.25 y" in t and "dB nHL" in t for t in texts)


def test_unlabelled_file_reports_presence_f1_as_undefined_for_network_and_baselines(
    tiny, tmp_path: Path, tiny_run: dict
) -> None:
    """A file without wave labels (an imported recording) has no presence F1: the headline and the baselines printed
    0 for the network, intensity-only and always-present, scored against "every wave absent"."""
    import json
    from dataclasses import replace

    from typer.testing import CliRunner

    from abrnet.cli.main import app

    bare = replace(
        tiny, latency_ms=np.full_like(tiny.latency_ms, np.nan), amplitude_uv=np.full_like(tiny.amplitude_uv, np.nan)
    )
    data = save_cohort(bare, tmp_path / "bare.h5")
    args = ["evaluate", "--checkpoint", str(tiny_run["dir"] / "best.ckpt"), "--data", str(data), "--split", "all"]
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "e"), "--balanced-patients", "0", "--bootstrap", "0"])
    assert res.exit_code == 0, res.output
    m = json.loads((tmp_path / "e" / "metrics.json").read_text())
    assert m["headline"]["network"]["v_presence_f1"] is None
    assert m["baselines"]["intensity_only"]["v_presence_f1"] is None
    assert m["baselines"]["always_present"]["v_presence_f1"] is None
    md = (tmp_path / "e" / "metrics.md").read_text()  # the targets table names the file, not "the test split"
    assert f"**{data} (all records: a file given with --data" in md and "Held-out test split" not in md


def test_cli_hint_names_data_import_options_not_python_keywords(tiny, tmp_path: Path, tiny_run: dict) -> None:
    """`abrnet evaluate` takes no reading options, so a warning asking for one names `abrnet data import`'s option
    and evaluating the .h5 it writes: it printed the Python keyword (``(pass fmp=...)``), which no CLI user can type."""
    bare = tiny.subset(np.arange(tiny.n_records))
    bare.clean, bare.buffers = None, None
    bare.static[:, STATIC_PARAMS.index("fmp")] = np.nan  # no FMP and no buffers to give one
    data = save_cohort(bare, tmp_path / "nofmp.h5")
    args = ["evaluate", "--checkpoint", str(tiny_run["dir"] / "best.ckpt"), "--data", str(data), "--split", "all"]
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "e"), "--balanced-patients", "0", "--bootstrap", "0"])
    assert res.exit_code == 0, res.output
    (line,) = [w for w in res.output.splitlines() if w.startswith("warning:") and "no FMP" in w]  # one line each
    assert line.endswith("(pass --fmp to abrnet data import, then abrnet evaluate --data the .h5 it writes)"), line
    assert "fmp=" not in res.output, res.output


def test_a_file_without_any_label_is_said_in_one_line(tiny, tmp_path: Path, tiny_run: dict) -> None:
    """A plain recording evaluated: every figure is undefined, and evaluate said nothing about why (hunt 42)."""
    bare = tiny.subset(np.arange(tiny.n_records))
    bare.clean = None
    bare.latency_ms[:] = np.nan
    bare.amplitude_uv[:] = np.nan
    bare.class_id[:], bare.threshold_db[:], bare.no_response[:] = -1, np.nan, False
    data = save_cohort(bare, tmp_path / "plain.h5")
    args = ["evaluate", "--checkpoint", str(tiny_run["dir"] / "best.ckpt"), "--data", str(data), "--split", "all"]
    res = CliRunner().invoke(app, [*args, "--out", str(tmp_path / "e"), "--balanced-patients", "0", "--bootstrap", "0"])
    assert res.exit_code == 0, res.output
    said = [w for w in res.output.splitlines() if w.startswith("warning:") and "no labels" in w]
    assert said == [f"warning: {data}: no labels (waves, class, threshold, no response): nothing to score, every "
                    "figure is undefined; abrnet predict reads the recordings"], res.output  # fmt: skip
