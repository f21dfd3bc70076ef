"""Python-API hunt: warnings name what *this* user can pass, and an assumed time base reaches a Python cohort.

Why: `ABRModel.predict`/`denoise` told a Python user "(pass --fmp)", "pass --sampling-rate", flags that exist only
on the CLI (the CLI is a thin layer over the same methods, so one set of messages reached both); and a wide CSV
without ``sampling_rate_hz``/``t0_ms`` read with ``read_recording`` and handed to ``predict`` never said that 20 kHz
from 0 ms had been assumed, while ``predict(path)`` did.
"""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

import abrnet
from abrnet.cli.common import option_names
from abrnet.cli.main import app
from abrnet.cli.model_options import READ_OPTIONS
from abrnet.data.csv_io import write_wide_csv
from abrnet.data.importers import read_recording
from abrnet.data.schema import ABRCohort, DataError
from abrnet.inference.api import ABRModel, _as_cohort
from abrnet.inference.domain import domain_warnings
from abrnet.inference.inputs import read_for_model
from tests.conftest import make_toy_cohort

N_SAMPLES = 200
GRID_PYTHON = "(pass sampling_rate_hz=.../t0_ms=... if the rows are timed otherwise)"
GRID_CLI = "(pass --sampling-rate/--t0-ms if the rows are timed otherwise)"


def _bare_csv(folder: Path) -> Path:
    """One infant ear's series, no FMP, as a wide CSV without the ``sampling_rate_hz``/``t0_ms`` columns."""
    toy = make_toy_cohort(n_patients=1)
    rows = toy.ear_key.astype(str) == "P000/L"
    cohort = ABRCohort.from_signals(
        toy.signals[rows], age_years=1.0, intensity_db=toy.static_column("intensity_db")[rows],
        stimulus_rate_hz=33.1, patient_id="P1", ear="L",
    )  # fmt: skip
    path = write_wide_csv(cohort, folder / "bare.csv")
    table = list(csv.reader(path.open(newline="")))
    keep = [j for j, name in enumerate(table[0]) if name not in ("sampling_rate_hz", "t0_ms")]
    with path.open("w", newline="") as fh:
        csv.writer(fh).writerows([[r[j] for j in keep] for r in table])
    return path


@pytest.fixture(scope="module")
def bare(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return _bare_csv(tmp_path_factory.mktemp("bare"))


@pytest.fixture(scope="module")
def model() -> ABRModel:
    return abrnet.load()


def test_python_warnings_name_keywords_the_cli_its_options(bare: Path, model: ABRModel, tmp_path: Path) -> None:
    report = model.predict(bare)
    said = "\n".join(report.warnings)
    assert "no FMP and no split buffers in the file; FMP is treated as missing (pass fmp=...)" in said, said
    assert f"{bare}: no sampling_rate_hz or t0_ms column; assumed 20000 Hz, t0 0 ms {GRID_PYTHON}" in said, said
    assert "pass --" not in said, said
    _, warnings = model.denoise(bare)
    assert any("(pass fmp=...)" in w for w in warnings) and not any("pass --" in w for w in warnings), warnings

    res = CliRunner().invoke(app, ["predict", str(bare), "--out", str(tmp_path / "r.csv")])
    assert res.exit_code == 0, res.output
    printed = " ".join(res.output.split())  # the console may wrap long lines
    assert "FMP is treated as missing (pass --fmp)" in printed and GRID_CLI in printed, printed
    assert "fmp=..." not in printed and "sampling_rate_hz=..." not in printed, printed


def test_a_refused_csv_names_the_keyword_in_python_and_the_option_on_the_cli(bare: Path, tmp_path: Path) -> None:
    """320-sample rows of unknown rate are refused; the fix is named as the caller's user sets it."""
    rows = list(csv.reader(bare.open(newline="")))
    header = rows[0] + [f"s{j}" for j in range(N_SAMPLES, 320)]
    long = tmp_path / "long.csv"
    with long.open("w", newline="") as fh:
        csv.writer(fh).writerows([header] + [r + ["0"] * 120 for r in rows[1:]])
    with pytest.raises(DataError, match=r"pass sampling_rate_hz=\.\.\./t0_ms=\.\.\. to resample"):
        read_for_model(long)
    cli = option_names(READ_OPTIONS)
    with pytest.raises(DataError, match=r"pass --sampling-rate/--t0-ms to resample"):
        read_for_model(long, option_names=cli)


def test_the_cli_names_cover_every_option_a_warning_asks_for() -> None:
    """Each keyword a hint names has a CLI option, so no CLI warning falls back to ``key=...``; --strict is
    predict's only (denoise has no such option, so its out-of-domain line must not name it)."""
    denoise_names = option_names(READ_OPTIONS)
    flags = {"fmp": "--fmp", "ear": "--ear", "sampling_rate_hz": "--sampling-rate", "t0_ms": "--t0-ms",
             "species": "--species", "stimulus": "--stimulus", "level_unit": "--level-unit"}  # fmt: skip
    assert {key: denoise_names[key] for key in flags} == flags
    domain = np.array(["species: mouse"])
    (python,) = domain_warnings(domain, "f.csv")
    assert python.endswith("(pass species=.../stimulus=.../level_unit=... if the file is wrong)"), python
    (denoise,) = domain_warnings(domain, "f.csv", denoise_names)
    assert denoise.endswith("(pass --species/--stimulus/--level-unit if the file is wrong)"), denoise
    (predict,) = domain_warnings(domain, "f.csv", option_names(READ_OPTIONS, strict="--strict"))
    assert predict.endswith("(pass --species/--stimulus/--level-unit if the file is wrong; --strict refuses)")


def test_an_assumed_grid_reaches_a_cohort_read_in_python_once(bare: Path, model: ABRModel) -> None:
    cohort = read_recording(bare)
    assert cohort.attrs["grid_assumed"] == "sampling_rate_hz,t0_ms"
    _, from_file = read_for_model(bare, n_samples=N_SAMPLES)
    _, in_memory = _as_cohort(cohort, N_SAMPLES)
    assert in_memory == from_file  # the same lines, the assumed grid among them, named by the file
    for warnings in (from_file, model.predict(cohort).warnings, model.predict(bare).warnings):
        grid = [w for w in warnings if "column; assumed 20000 Hz" in w]
        assert grid == [f"{bare}: no sampling_rate_hz or t0_ms column; assumed 20000 Hz, t0 0 ms {GRID_PYTHON}"]
    _, denoised = model.denoise(cohort)
    assert sum("column; assumed 20000 Hz" in w for w in denoised) == 1, denoised
    # a cohort whose reader was given the grid says nothing about it
    timed = read_recording(bare, sampling_rate_hz=20_000.0, t0_ms=0.0)
    assert not any("column; assumed" in w for w in _as_cohort(timed, N_SAMPLES)[1])
