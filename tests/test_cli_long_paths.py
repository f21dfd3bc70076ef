"""A console line is one line, however long its path: in a pipe or a log Rich's width is 80 columns, and it used to
break "wrote <path>" (and a warning printed without `common.warn`) where the width fell, so a path could not be
copied or grepped whole."""

from __future__ import annotations

from pathlib import Path

from typer.testing import CliRunner

from abrnet.cli.main import app
from abrnet.data.io import save_cohort
from abrnet.data.simulate import SimulationConfig, simulate_cohort

runner = CliRunner()


def test_wrote_stays_one_line_past_80_columns(tmp_path: Path) -> None:
    folder = tmp_path / ("a_folder_name_long_enough_that_the_path_passes_eighty_columns_" * 2)
    folder.mkdir()
    cohort = save_cohort(simulate_cohort(SimulationConfig(n_patients=1), seed=0), folder / "c.h5")
    out = folder / "fig.png"
    res = runner.invoke(app, ["data", "plot", str(cohort), "--out", str(out)], env={"COLUMNS": None})
    assert res.exit_code == 0, res.output
    assert len(f"wrote {out}") > 160 and f"wrote {out}" in res.output.splitlines(), res.output
