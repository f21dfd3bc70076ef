"""`abrnet simulate` and `abrnet data describe/plot/export` from the command line."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from abrnet.cli.main import app
from abrnet.data.csv_io import read_wide_csv
from abrnet.data.importers import read_recording
from abrnet.data.io import load_cohort, save_cohort
from tests.conftest import FIXTURES, require_fixture

runner = CliRunner()


def test_simulate_describe_plot_export(tmp_path: Path) -> None:
    out = tmp_path / "c.h5"
    res = runner.invoke(app, ["simulate", "--patients", "60", "--seed", "3", "--out", str(out)])
    assert res.exit_code == 0, res.output
    cohort = load_cohort(out)
    assert cohort.n_records > 60 * 10 and cohort.clean is not None

    # same seed, same cohort; refuses to overwrite without --force
    again = runner.invoke(app, ["simulate", "--patients", "60", "--seed", "3", "--out", str(out)])
    assert again.exit_code == 2 and "--force" in again.output
    other = tmp_path / "d.h5"
    assert runner.invoke(app, ["simulate", "--patients", "60", "--seed", "3", "--out", str(other)]).exit_code == 0
    np.testing.assert_array_equal(load_cohort(other).signals, cohort.signals)

    res = runner.invoke(app, ["data", "describe", str(out), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    for key in ("n_records", "n_patients", "n_samples", "sampling_rate_hz", "class_fraction", "label_rate"):
        assert key in summary
    assert summary["n_records"] == cohort.n_records and summary["n_samples"] == 200
    assert abs(sum(summary["class_fraction"].values()) - 1.0) < 1e-6
    assert set(summary["fmp"]) >= {"median", "mean", "frac_above_3"}
    assert set(summary["label_rate"]) == {"I", "III", "V"}
    assert summary["splits"]["test"]["n_records"] > 0

    table = runner.invoke(app, ["data", "describe", str(out)])
    assert table.exit_code == 0 and "wave V labelled" in table.output

    png = tmp_path / "fig.png"
    res = runner.invoke(app, ["data", "plot", str(out), "--out", str(png)])
    assert res.exit_code == 0, res.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n" and png.stat().st_size > 20_000

    csv = tmp_path / "x.csv"
    res = runner.invoke(app, ["data", "export", str(out), "--out", str(csv), "--split", "test"])
    assert res.exit_code == 0, res.output
    back = read_wide_csv(csv)
    assert back.n_records == summary["splits"]["test"]["n_records"]
    assert runner.invoke(app, ["data", "export", str(out), "--out", str(csv)]).exit_code == 2


def _command_paths(command: Any, path: tuple[str, ...] = ()) -> list[tuple[str, ...]]:
    """Every command and group under `command` (a Typer-built command; groups have `commands`), as the argument
    paths that reach it."""
    paths = [path]
    if hasattr(command, "commands"):
        for name, sub in command.commands.items():
            paths += _command_paths(sub, (*path, name))
    return paths


EMOJI = re.compile("[\U0001f000-\U0001faff\u2600-\u27bf]")


def test_every_command_has_help_as_written() -> None:
    """Each command's help renders, and Rich has not turned text like '0:100:5' into an emoji code (it did)."""
    paths = _command_paths(typer.main.get_command(app))
    assert ("simulate",) in paths and ("data", "import") in paths and len(paths) >= 14
    for path in paths:
        res = runner.invoke(app, [*path, "--help"])
        assert res.exit_code == 0 and "Usage" in res.output, path
        assert not EMOJI.search(res.output), (path, EMOJI.findall(res.output))


# ---------------------------------------------------------------------------------------------- import / describe
# every recording fixture, what `describe` must show for it, and the options the file cannot supply
A = "epl_abr_peak_analysis/"
IMPORTS = [
    ("epl_cfts_bburan/ABR-52-3", "EPL CFTS", "tone_pip 16000 Hz", "dB SPL", 100000.0, 80.0, []),
    ("epl_cfts_bburan/CAP-139-5", "EPL CFTS", "tone_pip 16000 Hz", "dB SPL", 100000.0, 80.0, []),
    (A + "ABR-52-4", "EPL CFTS", "noise", "dB SPL", 100000.0, 80.0, []),
    (A + "ABR-136-1", "EPL CFTS", "click", "dB SPL", 25000.0, 80.0, []),
    (A + "ABR-142-10", "EPL CFTS", "tone_pip 32000 Hz", "dB SPL", 25000.0, 90.0, []),
    (A + "ABR-703-18", "EPL CFTS", "chirp", "dB SPL", 25000.0, 70.0, []),
    (A + "AAP2044-1_Fz", "EPL CFTS", "tone_pip 3000 Hz", "dB SPL", 24414.1, 70.0, ["--level", "70"]),
    (A + "VsEP-1018-13", "EPL CFTS", "jerk", "dB re 1 g/ms", 100000.0, 9.0, []),
    (A + "VsEP-11-7", "EPL CFTS", "jerk", "dB re 1 g/ms", 100000.0, 5.0, []),
    (A + "XYZ999-ABR-15-1000.tsv", "EPL CFTS 3 Fast ABR", "tone_pip 1000 Hz", "dB SPL", 25000.0, 80.0, []),
    (A + "FBN_35_COCH_EXT_LEFT_12K.txt", "IHS SmartEP", "tone_pip 12000 Hz", "unknown", 32000.0, 90.0, []),
    (A + "8 kHz waveform.txt", "time-column", "tone_pip 8000 Hz", "unknown", 24414.1, 80.0, []),
    (A + "873_2_1st column time.txt", "time-column", "unknown", "dB SPL", 97656.3, 90.0, []),
    (A + "KG_fzmaABR.csv", "time-column", "unknown", "unknown", 25000.0, 75.0, ["--level", "75"]),
    (A + "JLH_Cztip_MLRAEP_1k80R.csv", "time-column", "unknown", "unknown", 10000.0, 80.0,
     ["--level", "80"]),
    (A + "JLH_Cztip_MLRAEP_4k80R.csv", "time-column", "unknown", "unknown", 10000.0, 80.0,
     ["--level", "80"]),
]  # fmt: skip


def test_import_and_describe_every_fixture(tmp_path: Path) -> None:
    require_fixture(FIXTURES)
    for rel, fmt_name, stimulus, unit, fs, top, extra in IMPORTS:
        src = require_fixture(FIXTURES / rel)
        out = tmp_path / f"{src.stem.replace(' ', '_')}.h5"
        res = runner.invoke(app, ["data", "import", "--format", "auto", str(src), "--out", str(out), "--age", "0.3",
                                  "--rate", "21", *extra])  # fmt: skip
        assert res.exit_code == 0, (rel, res.output)
        assert f"detected {fmt_name}" in " ".join(res.output.split()), res.output
        for target in (out, src):  # describe works on the import and on the raw file
            res = runner.invoke(app, ["data", "describe", str(target), "--json"])
            assert res.exit_code == 0, (rel, res.output)
            summary = json.loads(res.output)
            (series,) = summary["series"]
            assert series["stimulus"] == stimulus and series["level_unit"] == unit, (rel, series)
            assert series["species"] == "unknown" and series["units"] == "µV"
            assert series["sampling_rate_hz"] == pytest_approx(fs), (rel, series)
            assert (target == src and extra) or series["levels"][0] == top, (rel, series)  # raw: --level not given
            assert target == src or series["stimulus_rate_hz"] == 21.0, (rel, series)  # the import's --rate
        table = runner.invoke(app, ["data", "describe", str(out)], env={"COLUMNS": "250"})
        assert table.exit_code == 0, (rel, table.output)
        assert "│ 21 " in table.output, (rel, table.output)  # the stimulus rate, in a column of its own
        assert "stimulus rate (Hz)" in table.output and "sampling rate (Hz)" in table.output


def pytest_approx(x: float):
    import pytest

    return pytest.approx(x, rel=1e-4)


def test_describe_names_what_a_file_lacks(tmp_path: Path) -> None:
    src = require_fixture(FIXTURES / "epl_abr_peak_analysis" / "KG_fzmaABR.csv")
    res = runner.invoke(app, ["data", "describe", str(src), "--json"])
    assert res.exit_code == 0, res.output
    summary = json.loads(res.output)
    lacking = summary["not_recorded"]
    assert set(lacking) == {"age_years", "stimulus_rate_hz", "level_db", "ear"} and "--level" in lacking["level_db"]
    (series,) = summary["series"]  # the stand-ins that let the file be read are not shown as data
    assert series["levels"] is None and series["stimulus_rate_hz"] is None and series["ear"] == "unknown"
    table = runner.invoke(app, ["data", "describe", str(src)], env={"COLUMNS": "250"})
    assert "KG_fzmaABR/unknown" in table.output and "│ R " not in table.output
    assert table.output.count("not recorded") == 2


def test_import_folder_needs_one_grid_or_model_grid(tmp_path: Path) -> None:
    folder = require_fixture(FIXTURES / "epl_cfts_bburan")
    require_fixture(FIXTURES / "epl_abr_peak_analysis" / "ABR-136-1")
    out = tmp_path / "all.h5"
    res = runner.invoke(app, ["data", "import", str(FIXTURES / "epl_abr_peak_analysis" / "ABR-136-1"), str(folder /
                              "ABR-52-3"), "--out", str(out), "--age", "0.3"])  # fmt: skip
    assert res.exit_code == 2 and "--model-grid" in res.output and not out.exists()
    res = runner.invoke(app, ["data", "import", str(FIXTURES / "epl_abr_peak_analysis" / "ABR-136-1"), str(folder /
                              "ABR-52-3"), "--out", str(out), "--age", "0.3", "--model-grid"])  # fmt: skip
    assert res.exit_code == 0, res.output
    c = load_cohort(out)
    assert c.n_records == 17 + 12 and c.n_samples == 200 and set(c.patient_id) == {"ABR-136-1", "ABR-52-3"}


def test_import_or_predict_an_empty_folder_is_a_user_error(tmp_path: Path) -> None:
    """A folder with nothing to read (here only a hidden file) stops with one line and writes nothing; `data import`
    used to end in an IndexError traceback."""
    folder = tmp_path / "empty"
    folder.mkdir()
    (folder / ".DS_Store").write_text("x")
    for cmd, out in (("data import", tmp_path / "x.h5"), ("predict", tmp_path / "r.csv")):
        res = runner.invoke(app, [*cmd.split(), str(folder), "--out", str(out)])
        assert res.exit_code == 2 and "no files found" in res.output and str(folder) in res.output, cmd
        assert not out.exists()


def test_import_export_keeps_metadata_out_of_domain(tmp_path: Path) -> None:
    """import → export → describe: the CSV still says mouse, tone pip, dB SPL, 100 kHz, FMP missing (it used to
    read back as a human click in dB nHL at 20 kHz with FMP "given")."""
    src = require_fixture(FIXTURES / "epl_cfts_bburan" / "ABR-52-3")
    h5, csv = tmp_path / "rt.h5", tmp_path / "rt.csv"
    res = runner.invoke(app, ["data", "import", str(src), "-o", str(h5), "--age", "0.2", "--species", "mouse"])
    assert res.exit_code == 0, res.output
    assert runner.invoke(app, ["data", "export", str(h5), "-o", str(csv)]).exit_code == 0
    described = []
    for path in (h5, csv):
        res = runner.invoke(app, ["data", "describe", str(path), "--json"])
        assert res.exit_code == 0, res.output
        described.append(json.loads(res.output)["series"])
    assert described[0] == described[1]
    (series,) = described[1]
    assert (series["species"], series["stimulus"], series["level_unit"]) == ("mouse", "tone_pip 16000 Hz", "dB SPL")
    assert series["sampling_rate_hz"] == 100000.0 and series["fmp_source"] == "missing"


def _unlabelled(tmp_path: Path, n_patients: int = 2) -> Path:
    from tests.conftest import make_toy_cohort

    c = make_toy_cohort(n_patients)
    c.class_id[:] = -1
    c.latency_ms[:] = np.nan
    c.amplitude_uv[:] = np.nan
    c.threshold_db[:] = np.nan
    return save_cohort(c, tmp_path / "own.h5")


def test_plot_unlabelled_recordings(tmp_path: Path) -> None:
    """A user's own (imported, unlabelled) file is plotted, one waterfall per series; it used to be a traceback."""
    png = tmp_path / "own.png"
    res = runner.invoke(app, ["data", "plot", str(_unlabelled(tmp_path)), "--out", str(png)])
    assert res.exit_code == 0, res.output
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_empty_file_and_empty_split_are_user_errors(tmp_path: Path) -> None:
    from tests.conftest import make_toy_cohort

    empty = save_cohort(make_toy_cohort(2).subset(np.arange(0)), tmp_path / "empty.h5")
    for cmd in (["data", "describe", str(empty)], ["data", "plot", str(empty), "-o", str(tmp_path / "e.png")]):
        res = runner.invoke(app, cmd)
        assert res.exit_code == 2 and "no records" in res.output and "empty.h5" in res.output, res.output
    one = tmp_path / "one.h5"
    assert runner.invoke(app, ["simulate", "--patients", "1", "--balanced", "-o", str(one)]).exit_code == 0
    csv = tmp_path / "e.csv"
    res = runner.invoke(app, ["data", "export", str(one), "--split", "test", "-o", str(csv)])
    assert res.exit_code == 2 and "split 'test' has no records (1 patients)" in res.output and not csv.exists()


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--levels", "0:60:10"], "'--levels': needs --protocol fixed"),
        (["--protocol", "fixed", "--levels", "0:inf:10"], "'--levels': start, stop and step must be finite"),
        (["--protocol", "fixed", "--levels", "nan:50:10"], "'--levels': start, stop and step must be finite"),
        (["--protocol", "fixed", "--levels", "0:120:10"], "'--levels': levels must lie in 0..100 dB"),
        (["--protocol", "fixed", "--levels", ""], "'--levels': expected start:stop:step in dB, got ''"),
        # 0, 7, ..., 98 dB without a word that 100 was dropped (hunt 44c #7)
        (
            ["--protocol", "fixed", "--levels", "0:100:7"],
            "the step does not reach stop (0 + 14 × 7 = 98); end it at 98",
        ),
    ],
)
def test_simulate_rejects_bad_levels(tmp_path: Path, args: list[str], message: str) -> None:
    """Each was Typer's usage box (0:120:10 named the config field "SimulationConfig.fixed_levels_db"): one line."""
    out = tmp_path / "s.h5"
    res = runner.invoke(app, ["simulate", "--patients", "1", *args, "-o", str(out)])
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 2 and len(lines) == 1 and message in lines[0], res.output
    assert not out.exists()


def test_level_grid_is_bounded() -> None:
    """A tiny step used to build a huge tuple (0:100:1e-12 ran out of memory): at most 201 levels."""
    from abrnet.cli.data import parse_level_grid

    assert len(parse_level_grid("0:100:0.5")) == 201
    for text in ("0:100:0.1", "0:100:1e-12"):  # 0.1 first: without the bound it returns, it does not hang
        with pytest.raises(ValueError, match=r"'--levels': gives \d+ levels, at most 201"):
            parse_level_grid(text)


def test_export_split_test_is_the_patients_train_holds_out(tmp_path: Path) -> None:
    """`data export --split test` split with seed 0 while `abrnet train` splits with its own seed (42): the exported
    "test" patients were training patients (hunt 7, #11). Without --seed it is now train's split."""
    from abrnet.cli.data import TRAIN_SEED
    from abrnet.config.train_config import TrainConfig
    from abrnet.data.simulate import SimulationConfig, simulate_cohort
    from abrnet.data.splits import split_patients

    assert TrainConfig().seed == TRAIN_SEED
    cohort = simulate_cohort(SimulationConfig(n_patients=40), seed=42)
    data = save_cohort(cohort, tmp_path / "c.h5")
    res = runner.invoke(app, ["data", "export", str(data), "--split", "test", "--out", str(tmp_path / "t.csv")])
    assert res.exit_code == 0, res.output
    held_out = set(cohort.patient_id[split_patients(cohort, seed=TrainConfig().seed)["test"]])
    assert set(read_wide_csv(tmp_path / "t.csv").patient_id) == held_out
    assert held_out != set(cohort.patient_id[split_patients(cohort, seed=0)["test"]])  # the old default differed
    res = runner.invoke(app, ["data", "describe", str(data), "--json"])
    assert json.loads(res.output)["splits"]["test"]["n_patients"] == len(held_out), res.output


def test_data_import_of_a_lab_folder_skips_what_is_not_a_recording(tmp_path: Path) -> None:
    """An EPL export folder holds expert peak tables (-analyzed.txt) beside the recordings: `data import FOLDER`
    stopped at the first one (and named a Python function to a CLI user), while `predict FOLDER` skipped it with a
    warning (hunt 7, #12). A file named explicitly must still be a recording."""
    folder = require_fixture(FIXTURES / "epl_cfts_bburan")
    out = tmp_path / "lab.h5"
    res = runner.invoke(app, ["data", "import", str(folder), "--age", "0.5", "--out", str(out)])
    assert res.exit_code == 0, res.output
    assert res.output.count("skipped (this is an EPL peak-analysis file") == 2 and "read_epl_analysis" not in res.output
    assert load_cohort(out).n_records > 0
    analysed = folder / "CAP-139-5-16.0kHz-analyzed.txt"
    res = runner.invoke(app, ["data", "import", str(analysed), "--age", "0.5", "--out", str(tmp_path / "x.h5")])
    assert res.exit_code == 2 and "peak-analysis file" in res.output and not (tmp_path / "x.h5").exists()


def test_describe_says_a_wide_csvs_time_base_is_assumed(tmp_path: Path) -> None:
    """A wide CSV without sampling_rate_hz/t0_ms is read at 20 kHz from 0 ms; describe showed those values as the
    file's own (hunt 8, #16): it now lists them as not recorded, with the value assumed."""
    from abrnet.data.csv_io import write_wide_csv
    from tests.conftest import make_toy_cohort

    path = write_wide_csv(make_toy_cohort(1), tmp_path / "c.csv")
    with path.open() as fh:
        rows = [line.rstrip("\n").split(",") for line in fh]
    drop = [rows[0].index(c) for c in ("sampling_rate_hz", "t0_ms")]
    (tmp_path / "bare.csv").write_text("\n".join(",".join(c for j, c in enumerate(r) if j not in drop) for r in rows))
    res = runner.invoke(app, ["data", "describe", str(tmp_path / "bare.csv"), "--json"])
    assert res.exit_code == 0, res.output
    said = json.loads(res.output)["not_recorded"]
    assert said["sampling_rate_hz"].startswith("not in the file; assumed 20000 Hz") and "--t0-ms" in said["t0_ms"]
    # what describe promises, import does: it had no --t0-ms, so a CSV timed from another origin could not be imported
    out = tmp_path / "timed.h5"
    args = ["data", "import", str(tmp_path / "bare.csv"), "--sampling-rate", "20000", "--t0-ms", "1.5", "--out"]
    res = runner.invoke(app, [*args, str(out)])
    assert res.exit_code == 0, res.output
    assert load_cohort(out).t0_ms == 1.5 and "1.5–11.50 ms" in res.output


@pytest.mark.parametrize(
    "args",
    [["predict", "x.csv", "--out", "r.csv"], ["denoise", "x.csv", "--out", "d.h5"], ["data", "describe", "x.csv"],
     ["data", "import", "x.csv", "--out", "i.h5"]],
)  # fmt: skip
def test_an_unknown_format_names_the_option(args: list[str], tmp_path: Path) -> None:
    """`--format EPL` was reported as the reader's field 'format', as if something in the file were wrong."""
    res = runner.invoke(app, [*args, "--format", "EPL"])
    assert res.exit_code == 2 and "field '--format': must be one of auto, h5" in " ".join(res.output.split())


def test_describe_and_import_print_one_files_sampling_rate_alike(tmp_path: Path) -> None:
    """A 10.24 µs step is 97656.25 Hz: `data describe` printed 97656.2 and `data import` 97656.3 (two roundings of
    ``:g``); both now print it through one formatter (`abrnet.data.describe.hz_text`)."""
    src = require_fixture(FIXTURES / "epl_abr_peak_analysis" / "873_2_1st column time.txt")
    described = runner.invoke(app, ["data", "describe", str(src)], env={"COLUMNS": "250"})
    imported = runner.invoke(app, ["data", "import", str(src), "--out", str(tmp_path / "x.h5"), "--age", "1",
                                   "--rate", "21"])  # fmt: skip
    assert described.exit_code == 0 and imported.exit_code == 0, (described.output, imported.output)
    assert "│ 97656.25 " in described.output, described.output
    assert "97656.25 Hz" in imported.output, imported.output


def test_describe_of_an_unlabelled_or_denoised_file_says_so(tmp_path: Path) -> None:
    """An import of device exports listed "class NORMAL: 0.0%" ... for records nobody labelled, and a file abrnet
    denoise wrote read as recordings (hunt 44b #10): unlabelled classes and waves are said as such, the splits as
    what training would make of the file, and denoised estimates as estimates."""
    src = require_fixture(FIXTURES / "epl_cfts_bburan" / "ABR-52-3")
    cohort = save_cohort(read_recording(src, age_years=0.5), tmp_path / "x.h5")
    table = " ".join(runner.invoke(app, ["data", "describe", str(cohort)]).output.split())
    assert "class not labelled: 100.0% of records" in table and "class NORMAL" not in table
    assert "waves: none labelled" in table and "splits as abrnet train and evaluate make them from this file" in table
    denoised = load_cohort(cohort)
    denoised.attrs["denoised_by"] = "model.ckpt"
    save_cohort(denoised, tmp_path / "d.h5")
    table = " ".join(runner.invoke(app, ["data", "describe", str(tmp_path / "d.h5")]).output.split())
    assert "denoised: holds the estimates abrnet denoise made of the recordings (model model.ckpt)" in table
