"""Bad option values are one line naming the option (and, for a fixed set, every allowed value), exit code 2.

These options raised `typer.BadParameter`, whose multi-line usage box every other option had left behind, or let a
bad value through to a traceback (an unknown --log-level from uvicorn after the model loaded, an unknown
--generation-sampler after a whole evaluation, a folder given to --conditions or --plot). Each case fails before a
model is loaded or anything is written.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import typer
from typer.testing import CliRunner

from abrnet.cli.common import FORMAT_HELP, READER_OPTIONS, check_choice, with_reader_options
from abrnet.cli.main import app
from abrnet.data.schema import DataError

runner = CliRunner()

GENERATE = ["generate", "--out", "g.h5", "--joint", "--steps", "1", "--n", "1"]
EVALUATE = ["evaluate", "--checkpoint", "missing.ckpt", "--out", "eval-out"]

# (command line, option, allowed values)
CHOICES = [
    (["denoise", "in.h5", "--out", "d.h5", "--sampler", "bogus"], "--sampler", ("ddim", "dpm")),
    ([*GENERATE, "--sampler", ""], "--sampler", ("ddim", "dpm")),
    (["simulate", "--out", "c.h5", "--protocol", "bogus"], "--protocol", ("fixed", "clinical", "mixed")),
    (["data", "export", "c.h5", "--out", "x.csv", "--split", "bogus"], "--split", ("train", "val", "test")),
    (["model", "summary", "--preset", "huge"], "--preset", ("tiny", "cpu", "base", "large")),
    (["predict", "in.h5", "--out", "r.csv", "--group-by", "ear"], "--group-by", ("patient_id,ear",)),
    ([*EVALUATE, "--split", "nonsense"], "--split", ("train", "val", "test", "all")),
    ([*EVALUATE, "--generation-sampler", "ddim", "--generation-sampler", "x"], "--generation-sampler", ("ddim", "dpm")),
    (["serve", "--log-level", "loud"], "--log-level", ("critical", "error", "warning", "info", "debug", "trace")),
]


def _one_line(args: list[str]) -> str:
    res = runner.invoke(app, args)
    lines = [line for line in res.output.splitlines() if line.strip()]
    assert res.exit_code == 2, res.output
    assert len(lines) == 1 and lines[0].startswith("error: "), res.output
    assert "Usage" not in res.output and "╭" not in res.output and "Traceback" not in res.output
    return lines[0]


@pytest.mark.parametrize(("args", "option", "allowed"), CHOICES, ids=[" ".join(c[0][:2] + c[0][-2:]) for c in CHOICES])
def test_value_outside_a_fixed_set_is_one_line_listing_the_choices(
    args: list[str], option: str, allowed: tuple[str, ...], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)  # nothing may be written, but if it were, not into the checkout
    line = _one_line(args)
    assert f"field '{option}'" in line and f"got {args[-1]!r}" in line, line
    assert all(value in line for value in allowed), line
    assert list(tmp_path.iterdir()) == []


OTHER = [
    (["serve", "--host", ""], "--host", "0.0.0.0 listens on every interface"),  # "" bound every interface
    (["simulate", "--out", "c.h5", "--sampling-rate", "100"], "--sampling-rate", "must be > 6000 Hz"),
    (["simulate", "--out", "c.h5", "--n-samples", "81"], "--n-samples", "must be >= 200 at 20000 Hz"),
    ([*GENERATE, "--plot", "."], "--plot", "is a folder"),  # wrote ../<folder>.png
    ([*GENERATE, "--plot", ""], "--plot", "is a folder"),  # ValueError traceback from pathlib
    (["generate", "--out", "g.h5", "--conditions", "."], "--conditions", "is a folder"),  # IsADirectoryError traceback
    (["data", "plot", "c.h5", "--out", "p.xyz"], "--out", "unknown image format '.xyz'"),  # after the plot was made
]


@pytest.mark.parametrize(("args", "option", "message"), OTHER, ids=[" ".join(c[0][:1] + c[0][-2:]) for c in OTHER])
def test_bad_value_is_one_line_naming_the_option(
    args: list[str], option: str, message: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.chdir(tmp_path)
    line = _one_line(args)
    assert f"field '{option}'" in line and message in line, line
    assert list(tmp_path.iterdir()) == []


def test_predict_empty_out_is_one_line(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """``--out ""`` was a ValueError traceback (the .json/.series.csv names are derived from it)."""
    monkeypatch.chdir(tmp_path)
    assert "is a folder, not a file" in _one_line(["predict", "in.h5", "--out", ""])


def test_binary_conditions_file_is_one_line(tmp_path: Path) -> None:
    """An .h5 given to --conditions was a UnicodeDecodeError traceback."""
    binary = tmp_path / "c.h5"
    binary.write_bytes(b"\x89HDF\r\n\x1a\n" + bytes(range(256)))
    line = _one_line(["generate", "--out", str(tmp_path / "g.h5"), "--conditions", str(binary)])
    assert "field '--conditions'" in line and "not UTF-8" in line and not (tmp_path / "g.h5").exists()


def test_train_data_folder_is_named_as_a_folder(tmp_path: Path) -> None:
    """It was reported as "no such file"."""
    line = _one_line(["train", "--data", str(tmp_path), "--out", str(tmp_path / "run")])
    assert "field '--data'" in line and "is a folder" in line and not (tmp_path / "run").exists()


def test_data_plot_without_suffix_reports_the_file_it_wrote(tmp_path: Path) -> None:
    """matplotlib adds .png to a name without a suffix: the overwrite check and the message name that file."""
    cohort = tmp_path / "c.h5"
    assert runner.invoke(app, ["simulate", "--patients", "1", "--out", str(cohort)]).exit_code == 0
    res = runner.invoke(app, ["data", "plot", str(cohort), "--out", str(tmp_path / "fig")])
    assert res.exit_code == 0 and f"wrote {tmp_path / 'fig.png'}" in res.output, res.output
    assert (tmp_path / "fig.png").exists() and not (tmp_path / "fig").exists()
    again = runner.invoke(app, ["data", "plot", str(cohort), "--out", str(tmp_path / "fig")])
    assert again.exit_code == 2 and "fig.png: file exists" in again.output, again.output


def test_simulate_n_samples_limit_is_the_real_one(tmp_path: Path) -> None:
    """240 samples at 24 kHz (to 9.96 ms) is the fewest that show the wave-V region to its end; fewer (down to the
    old floor, 4.05 ms) labelled every V beyond the cut absent and every ear "no response" under a NORMAL class."""
    from abrnet.data.io import load_cohort

    out = tmp_path / "s.h5"
    args = ["simulate", "--patients", "2", "--seed", "0", "--sampling-rate", "24000", "--out"]
    res = runner.invoke(app, [*args, str(out), "--n-samples", "240"])
    assert res.exit_code == 0, res.output
    cohort = load_cohort(out)  # the limit is met, not merely accepted: waves labelled, FMP measured
    assert cohort.n_records > 0 and cohort.n_samples == 240 and cohort.sampling_rate_hz == 24000.0
    assert cohort.time_ms[-1] >= 9.95 and cohort.has_fmp.all()
    assert np.all(np.isfinite(cohort.static_column("fmp"))) and np.isfinite(cohort.latency_ms[:, 2]).any()
    short = tmp_path / "short.h5"  # one sample fewer is refused up front, in one line, and writes nothing
    res = runner.invoke(app, [*args, str(short), "--n-samples", "239"])
    assert res.exit_code == 2 and "--n-samples" in res.output and "must be >= 240" in res.output, res.output
    assert "Traceback" not in res.output and not short.exists()


def test_check_choice() -> None:
    check_choice(None, "--x", ("a", "b"))
    check_choice("a", "--x", ("a", "b"))
    check_choice(["a", "b", "a"], "--x", ("a", "b"))
    for value, message in (("c", "must be one of a, b; got 'c'"), (["a", ""], "must be one of a, b; got ''")):
        with pytest.raises(DataError) as ei:
            check_choice(value, "--x", ("a", "b"), command="cmd")
        assert str(ei.value) == f"abrnet cmd: field '--x': {message}"  # the command as typed (hunt 15 #12)
    with pytest.raises(DataError, match=r"must be a,b; got 'b'$"):  # one allowed value: no "one of"
        check_choice("b", "--x", ("a,b",))


def test_reader_options_are_declared_once_and_passed_as_keywords() -> None:
    """`predict` and `data import` take the same reader options from one declaration; the command gets the given
    ones as `read_recording` keywords and nothing for those not given (the file's own value is used)."""
    seen: list[dict] = []

    @with_reader_options
    def command(
        path: str = typer.Option("p", "--path"), reader: dict | None = None, force: bool = typer.Option(False)
    ) -> None:
        seen.append({"path": path, "force": force, **(reader or {})})

    one = typer.Typer()
    one.command()(command)
    res = runner.invoke(one, ["--path", "x", "--age", "40", "--level-unit", "dB SPL", "--force"])
    assert res.exit_code == 0, res.output
    assert seen == [{"path": "x", "force": True, "age_years": 40.0, "level_unit": "dB SPL"}]
    helps = [
        runner.invoke(app, [*cmd, "--help"], env={"COLUMNS": "200"}).output for cmd in (["predict"], ["data", "import"])
    ]
    for name in READER_OPTIONS:
        flag = "--" + name.replace("_", "-")
        assert all(flag in h for h in helps), flag


def test_format_help_lists_every_reader_format() -> None:
    from abrnet.data.importers import FORMATS

    assert all(name in FORMAT_HELP.replace(",", " ").replace(".", " ").split() for name in FORMATS)
    for cmd in (["predict"], ["data", "import"], ["data", "describe"]):
        res = runner.invoke(app, [*cmd, "--help"], env={"COLUMNS": "250"})
        assert "psi_abr" in res.output and "tdt_arf" in res.output, cmd


def test_log_levels_are_uvicorns() -> None:
    from uvicorn.config import LOG_LEVELS

    from abrnet.cli.serve import LOG_LEVELS as OURS

    assert set(OURS) == set(LOG_LEVELS)


# A bad value of every reader option (`READER_OPTIONS`): --rate, --level and --fmp were reported by their Python
# field ("reading options: field 'stimulus_rate_hz'"; `data import` said 'intensity_db' for --level, after reading).
BAD_READER_VALUES = {
    "--age": ("-3", "from 0 to 120"),
    "--rate": ("-5", "from 0.1 to 1000"),
    "--level": ("200", "from -40 to 140"),
    "--level-unit": ("foo", "dB nHL"),
    "--units": ("xx", "auto, V, mV, uV, nV"),
    "--ear": ("Q", "L or R"),
    "--fmp": ("-1", "from 0 to 1e+06"),
    "--species": ("zzz", "mouse"),
    "--stimulus": ("zzz", "tone_pip"),
}


@pytest.mark.parametrize("command", [["predict"], ["data", "import"]], ids=["predict", "data import"])
@pytest.mark.parametrize("option", list(BAD_READER_VALUES))
def test_bad_reader_option_names_the_option(
    command: list[str], option: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from abrnet.cli.common import reader_flag

    monkeypatch.chdir(tmp_path)
    value, accepted = BAD_READER_VALUES[option]
    src = tmp_path / "in.csv"
    src.write_text("not read: the option is refused first\n")
    out = "r.csv" if command == ["predict"] else "d.h5"
    line = _one_line([*command, str(src), "--out", out, option, value])
    assert line.startswith(f"error: abrnet {' '.join(command)}: field '{option}': "), line
    assert value in line and accepted in line, line
    assert sorted(p.name for p in tmp_path.iterdir()) == ["in.csv"]
    flags = {"--invert"}  # an on/off switch: there is no bad value to give it
    assert {reader_flag(key) for key, _ in READER_OPTIONS.values()} == set(BAD_READER_VALUES) | flags  # every option


def test_nan_fmp_is_accepted_as_not_measured() -> None:
    """--fmp nan is "not measured", as an empty fmp cell is: not refused with the other out-of-range values."""
    from abrnet.cli.common import check_reader_values

    check_reader_values({"fmp": float("nan"), "ear": "left", "units": "µV", "species": "Mouse"}, "predict")
    rate = r"^abrnet predict: field '--rate': must be a finite number from 0.1 to 1000, got nan$"
    with pytest.raises(DataError, match=rate):
        check_reader_values({"stimulus_rate_hz": float("nan")}, "predict")


@pytest.mark.parametrize("command", [["data", "plot"], ["data", "export"], ["data", "describe"]])
def test_an_h5_command_given_a_csv_says_to_import_it_not_that_it_is_truncated(tmp_path: Path, command: list) -> None:
    """`data plot` / `data export` of a valid wide CSV said "not a readable HDF5 file (...); truncated or wrong
    format?" (hunt 50e #3); a file that is HDF5 but broken still says so."""
    from abrnet.data.csv_io import write_wide_csv
    from abrnet.data.io import load_cohort
    from tests.conftest import make_toy_cohort

    csv = write_wide_csv(make_toy_cohort(n_patients=1), tmp_path / "m.csv")
    out = ["--out", str(tmp_path / ("o.png" if command[1] == "plot" else "o.csv"))] if command[1] != "describe" else []
    res = runner.invoke(app, [*command, str(csv), *out])
    if command[1] == "describe":  # describe reads every format: no refusal
        assert res.exit_code == 0, res.output
        return
    assert res.exit_code == 2 and "not an HDF5 file: this command reads abrnet .h5 files" in res.output, res.output
    broken = tmp_path / "broken.h5"
    broken.write_bytes(b"\x89HDF\r\n\x1a\n" + b"\0" * 40)
    with pytest.raises(DataError, match=r"not a readable HDF5 file .*truncated or wrong format"):
        load_cohort(broken)
