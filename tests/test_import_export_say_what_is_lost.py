"""What an import guessed, or an export cannot keep, is said (hunt 48 #2, #8).

A sampling rate a reader had to guess is said wherever the file goes.

A BioSig CSV without a rate is read by the ABRA convention (its samples span 10 ms): 293 samples became 29.3 kHz for
a 24.4-kHz recording, every latency 20 % off. `predict` said so; `data import` stored the guess without a word,
`data describe` listed the rate as the file's, and `data export` wrote it as a stated value, after which nothing
said it was a guess. And `data export` dropped per-sample traces the wide CSV has no columns for, silently.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from typer.testing import CliRunner

from abrnet.cli.main import app

runner = CliRunner()
GUESS = "sampling rate assumed: 293 samples span 10 ms (ABRA convention)"


def _biosig_csv(path: Path, n: int = 293) -> Path:
    t = np.arange(n) / 24414.0625 * 1000.0
    rows = [["SGI", "Rec No.", "Freq(Hz)", "Level(dB)", *map(str, range(n))]]
    for k, level in enumerate((80, 60, 40)):
        wave = (level / 80) * np.sin(2 * np.pi * t) * np.exp(-t / 3) * 1e-6
        rows.append([str(k + 1), str(k + 1), "8000", str(level), *(f"{v:.4e}" for v in wave)])
    path.write_text("\n".join(",".join(r) for r in rows) + "\n")
    return path


def _lines(res: object) -> list[str]:
    return [line for line in res.output.splitlines() if line.strip()]  # type: ignore[attr-defined]


def test_import_describe_and_export_say_the_rate_was_guessed(tmp_path: Path) -> None:
    src = _biosig_csv(tmp_path / "bio.csv")
    res = runner.invoke(app, ["data", "import", str(src), "--age", "0.1", "--rate", "21", "--out", f"{tmp_path}/b.h5"])
    assert res.exit_code == 0, res.output
    assert f"warning: {src}: {GUESS}; pass --sampling-rate" in _lines(res), res.output

    res = runner.invoke(app, ["data", "describe", str(src), "--json"])
    said = json.loads(res.stdout)["not_recorded"]["sampling_rate_hz"]
    assert said == f"not in the file; 29300 Hz, {GUESS[len('sampling rate ') :]} (data import takes --sampling-rate)"

    res = runner.invoke(app, ["data", "export", f"{tmp_path}/b.h5", "--out", f"{tmp_path}/b.csv"])
    assert res.exit_code == 0, res.output
    assert (
        f"warning: {tmp_path}/b.h5: sampling_rate_hz assumed on import, not recorded; {tmp_path}/b.csv states them "
        "as values"
    ) in _lines(res), res.output


def test_a_stated_rate_is_not_warned_about(tmp_path: Path) -> None:
    src = _biosig_csv(tmp_path / "bio.csv")
    out = f"{tmp_path}/b.h5"
    res = runner.invoke(
        app, ["data", "import", str(src), "--age", "0.1", "--rate", "21", "--sampling-rate", "24414.0625", "--out", out]
    )
    assert res.exit_code == 0 and "sampling rate" not in res.output, res.output
    res = runner.invoke(app, ["data", "export", out, "--out", f"{tmp_path}/b.csv"])
    assert res.exit_code == 0 and "assumed" not in res.output, res.output


def test_export_says_which_per_sample_traces_the_csv_does_not_keep(tmp_path: Path) -> None:
    """A Fast ABR export's cochlear-microphonic trace (``cm_uv``) was dropped by `data export` without a word (hunt
    48 #8); the traces the CSV carries (recorded samples, split-buffer noise) are not named."""
    from tests.conftest import FIXTURES, require_fixture

    src = require_fixture(FIXTURES / "epl_abr_peak_analysis" / "XYZ999-ABR-15-1000.tsv")
    h5 = f"{tmp_path}/f.h5"
    assert runner.invoke(app, ["data", "import", str(src), "--age", "1", "--out", h5]).exit_code == 0
    res = runner.invoke(app, ["data", "export", h5, "--out", f"{tmp_path}/f.csv"])
    assert res.exit_code == 0, res.output
    said = [line for line in _lines(res) if "not kept" in line]
    assert said == [f"warning: {h5}: cm_uv (per-sample traces) are not kept in the wide CSV; the .h5 keeps them"]
    sim = f"{tmp_path}/sim.h5"
    assert runner.invoke(app, ["simulate", "--patients", "1", "--out", sim]).exit_code == 0
    res = runner.invoke(app, ["data", "export", sim, "--out", f"{tmp_path}/sim.csv"])
    assert res.exit_code == 0 and "warning" not in res.output, res.output
