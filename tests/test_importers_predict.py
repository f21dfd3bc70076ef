"""`abrnet predict` on every imported fixture and on a folder of raw exports: rows, domain flags, --strict, series."""

from __future__ import annotations

import csv
from pathlib import Path

import numpy as np
import pytest
from typer.testing import CliRunner

from abrnet.cli.main import app
from tests.conftest import FIXTURES, require_fixture
from tests.test_cli_data import IMPORTS

runner = CliRunner()


def _rows(path: Path) -> list[dict[str, str]]:
    with path.open(newline="") as fh:
        return list(csv.DictReader(fh))


@pytest.fixture(scope="module")
def imported(tmp_path_factory: pytest.TempPathFactory) -> list[Path]:
    require_fixture(FIXTURES)
    root = tmp_path_factory.mktemp("imported")
    out = []
    for rel, *_, extra in IMPORTS:
        dst, src = root / (Path(rel).name.replace(" ", "_") + ".h5"), require_fixture(FIXTURES / rel)
        res = runner.invoke(app, ["data", "import", str(src), "--out", str(dst), "--age", "0.3",
                                  "--rate", "21", *extra])  # fmt: skip
        assert res.exit_code == 0, res.output
        out.append(dst)
    return out


def test_predict_every_imported_fixture_flags_domain(tiny_run: dict, imported: list[Path], tmp_path: Path) -> None:
    ckpt = str(tiny_run["dir"] / "best.ckpt")
    for src in imported:
        out = tmp_path / f"{src.stem}.csv"
        res = runner.invoke(app, ["predict", "--checkpoint", ckpt, str(src), "--out", str(out)])
        assert res.exit_code == 0, (src, res.output)
        rows = _rows(out)
        assert rows and all(r["domain"] != "in" for r in rows)  # no fixture is a human click in dB nHL
        assert all("species unknown" in r["domain"] for r in rows)
        assert "out of the model's domain" in res.output
        assert {"I_peak_trough_uv", "V_peak_trough_uv"} <= set(rows[0])
        strict = runner.invoke(app, ["predict", "--checkpoint", ckpt, str(src), "--out", str(out), "--force",
                                     "--strict"])  # fmt: skip
        assert strict.exit_code == 2 and "--strict" in strict.output


def test_predict_folder_recursively_with_series(tiny_run: dict, tmp_path: Path) -> None:
    require_fixture(FIXTURES)
    ckpt = str(tiny_run["dir"] / "best.ckpt")
    out = tmp_path / "r.csv"
    args = ["predict", "--checkpoint", ckpt, str(FIXTURES), "--out", str(out), "--age", "0.3", "--rate", "21",
            "--level", "80", "--group-by", "patient_id,ear"]  # fmt: skip
    res = runner.invoke(app, args)
    assert res.exit_code == 0, res.output
    text = " ".join(res.output.split())
    assert "VsEP-11-7: skipped" not in text  # its -30 dB re 1 g/ms levels are inside the schema's range now
    rows = _rows(out)
    assert len({r["patient_id"] for r in rows}) >= 14
    assert "skipped" in res.output  # licences / analysis files are skipped, not fatal
    series = _rows(out.with_suffix(".series.csv"))
    assert {"I_V_ms", "V_li_slope_us_per_db", "V_latency_intensity", "V_amplitude_intensity"} <= set(series[0])
    assert out.with_suffix(".patients.csv").exists()


def test_missing_rate_names_file_and_option(tiny_run: dict, tmp_path: Path) -> None:
    src = require_fixture(FIXTURES / "epl_abr_peak_analysis" / "8 kHz waveform.txt")
    res = runner.invoke(app, ["predict", "--checkpoint", str(tiny_run["dir"] / "best.ckpt"), str(src), "--out",
                              str(tmp_path / "x.csv"), "--age", "1"])  # fmt: skip
    assert res.exit_code == 2 and "8 kHz waveform.txt" in res.output and "--rate" in res.output
    assert len(res.output.strip().splitlines()) == 1 and not (tmp_path / "x.csv").exists()


def test_in_domain_simulated_rows(tiny_run: dict, tmp_path: Path) -> None:
    out = tmp_path / "sim.csv"
    res = runner.invoke(app, ["predict", "--checkpoint", str(tiny_run["dir"] / "best.ckpt"), str(tiny_run["data"]),
                              "--out", str(out)])  # fmt: skip
    assert res.exit_code == 0, res.output
    assert {r["domain"] for r in _rows(out)} == {"in"}
    assert np.isfinite(float(_rows(out)[0]["V_latency_ms"]))


def test_a_folder_with_nothing_readable_says_why_its_files_were_skipped(tmp_path: Path) -> None:
    """predict on a folder holding only files no reader takes printed "no readable recordings found" and nothing
    else (data import listed each skipped file): the one line now says how many and the first reason (hunt 44b #9)."""
    folder = tmp_path / "peaks"
    folder.mkdir()
    (folder / "notes.txt").write_text("expert's peak table\n1, 2\n")
    res = runner.invoke(app, ["predict", str(folder), "--out", str(tmp_path / "r.csv")])
    out = " ".join(res.output.split())
    assert res.exit_code == 2 and "no readable recordings found; 1 file(s) skipped, first " in out, out
    assert f"{folder / 'notes.txt'}: skipped (" in out and not (tmp_path / "r.csv").exists()
