"""A per-ear reading needs a level axis where a larger number is louder: attenuation is refused, not misread."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from abrnet.cli.main import app
from abrnet.data.csv_io import write_wide_csv
from abrnet.data.simulate import SimulationConfig, simulate_cohort


def test_series_mode_refuses_levels_in_db_attenuation(tmp_path: Path) -> None:
    """Levels in dB attenuation (TDT and BioSig imports set the unit themselves) were read as if louder were larger:
    a hearing ear became "no response" with a rising latency–intensity slope, behind only the generic out-of-domain
    warning (hunt 8, #11). Series mode now refuses them in one line; record by record they are still read."""
    csv_path = write_wide_csv(simulate_cohort(SimulationConfig(n_patients=2), seed=3), tmp_path / "att.csv")
    unit = ["--level-unit", "dB attenuation"]
    runner = CliRunner()
    res = runner.invoke(
        app, ["predict", str(csv_path), "--out", str(tmp_path / "s.csv"), "--group-by", "patient_id,ear", *unit]
    )
    lines = [line for line in res.output.splitlines() if line.startswith("error")]
    assert res.exit_code == 2 and len(lines) == 1, res.output
    assert "att.csv" in lines[0] and "level_unit" in lines[0] and "dB attenuation" in lines[0], lines
    assert not (tmp_path / "s.csv").exists() and not (tmp_path / "s.series.csv").exists()
    res = runner.invoke(app, ["predict", str(csv_path), "--out", str(tmp_path / "r.csv"), *unit])
    assert res.exit_code == 0 and (tmp_path / "r.csv").exists(), res.output
