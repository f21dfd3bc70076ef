"""The dataset file: round trip, overwrite refusal, and one clear error per kind of bad file."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np
import pytest
from typer.testing import CliRunner

from abrnet.cli.main import app
from abrnet.data.io import load_cohort, save_cohort
from abrnet.data.schema import DataError

runner = CliRunner()


def test_round_trip_keeps_every_field(tmp_path: Path, toy_cohort) -> None:
    path = save_cohort(toy_cohort, tmp_path / "c.h5")
    back = load_cohort(path)
    np.testing.assert_array_equal(back.signals, toy_cohort.signals)
    np.testing.assert_array_equal(back.clean, toy_cohort.clean)
    np.testing.assert_array_equal(back.static, toy_cohort.static)
    np.testing.assert_array_equal(back.latency_ms, toy_cohort.latency_ms)  # NaN positions equal too
    np.testing.assert_array_equal(back.class_id, toy_cohort.class_id)
    np.testing.assert_array_equal(back.threshold_db, toy_cohort.threshold_db)
    np.testing.assert_array_equal(back.no_response, toy_cohort.no_response)
    np.testing.assert_array_equal(back.patient_id, toy_cohort.patient_id)
    np.testing.assert_array_equal(back.ear, toy_cohort.ear)
    np.testing.assert_array_equal(back.extras["sex"], toy_cohort.extras["sex"])
    assert back.sampling_rate_hz == 20000.0 and back.t0_ms == 0.0
    assert back.attrs["generator"] == "toy" and back.attrs["seed"] == 0


def test_refuses_to_overwrite_without_force(tmp_path: Path, toy_cohort) -> None:
    path = save_cohort(toy_cohort, tmp_path / "c.h5")
    before = path.read_bytes()
    with pytest.raises(FileExistsError, match="--force"):
        save_cohort(toy_cohort.subset(np.arange(3)), path)
    assert path.read_bytes() == before
    save_cohort(toy_cohort.subset(np.arange(3)), path, force=True)
    assert load_cohort(path).n_records == 3


def _corrupt(path: Path, how: str) -> None:
    if how == "truncated":
        data = path.read_bytes()
        path.write_bytes(data[: len(data) // 3])
        return
    with h5py.File(path, "r+") as f:
        if how == "nan_signal":
            sig = f["signals"][()]
            sig[5, 17] = np.nan
            del f["signals"]
            f["signals"] = sig
        elif how == "wrong_length":
            f.attrs["n_samples"] = 256
        elif how == "unknown_class":
            cls = f["class"].asstr()[()].astype(object)
            cls[4] = "MIXED"
            del f["class"]
            f.create_dataset("class", data=cls, dtype=h5py.string_dtype())
        elif how == "negative_rate":
            st = f["static"][()]
            st[7, 2] = -3.0
            f["static"][...] = st
        elif how == "missing_field":
            del f["threshold_db"]
        elif how in ("rate_text", "version_text", "n_samples_text"):  # attributes as other tools write them
            name = {"rate_text": "sampling_rate_hz", "version_text": "schema_version", "n_samples_text": "n_samples"}
            f.attrs[name[how]] = {"rate_text": "20kHz", "version_text": "two", "n_samples_text": "abc"}[how]
        elif how == "signals_group":
            del f["signals"]
            f.create_group("signals")
        elif how == "signals_scalar":
            del f["signals"]
            f["signals"] = 1.0
        elif how == "extras_subgroup":
            f["extras"].create_group("more")
        elif how == "extras_scalar":
            f["extras/foo"] = 3.0
        elif how == "no_response_text":  # b"no" used to read as True
            del f["no_response"]
            f["no_response"] = np.array([b"yes", b"no"] * (len(f["ear"]) // 2))
        elif how == "no_response_two":
            nr = f["no_response"][()].astype(np.int8)
            nr[3] = 2
            del f["no_response"]
            f["no_response"] = nr
        elif how == "t0_nan":
            f.attrs["t0_ms"] = np.nan
        elif how == "static_columns_renamed":
            f["static"].attrs["columns"] = ["age", "intensity_db", "stimulus_rate_hz", "fmp"]


@pytest.mark.parametrize(
    ("how", "field", "row"),
    [
        ("truncated", "<file>", None),
        ("nan_signal", "signals", 5),
        ("wrong_length", "signals", None),
        ("unknown_class", "class", 4),
        ("negative_rate", "stimulus_rate_hz", 7),
        ("missing_field", "threshold_db", None),
        ("rate_text", "sampling_rate_hz", None),
        ("version_text", "schema_version", None),
        ("n_samples_text", "n_samples", None),
        ("signals_group", "signals", None),
        ("signals_scalar", "signals", None),
        ("extras_subgroup", "extras/more", None),
        ("extras_scalar", "extras/foo", None),
        ("no_response_text", "no_response", None),
        ("no_response_two", "no_response", 3),
        ("t0_nan", "t0_ms", None),
        ("static_columns_renamed", "static", None),
    ],
)
def test_bad_files_give_one_line_error_and_nonzero_exit(tmp_path: Path, toy_cohort, how, field, row) -> None:
    path = save_cohort(toy_cohort, tmp_path / "bad.h5")
    _corrupt(path, how)
    with pytest.raises(DataError) as info:
        load_cohort(path)
    msg = str(info.value)
    assert str(path) in msg and f"'{field}'" in msg and "\n" not in msg
    if row is not None:
        assert f"row {row}" in msg
    result = runner.invoke(app, ["data", "describe", str(path)])
    assert result.exit_code == 2
    assert "error:" in result.output and f"'{field}'" in result.output


def test_missing_file_is_a_user_error(tmp_path: Path) -> None:
    result = runner.invoke(app, ["data", "describe", str(tmp_path / "nope.h5")])
    assert result.exit_code == 2 and "no such file" in result.output


def test_a_folder_is_named_as_one(tmp_path: Path) -> None:
    """h5py's message for a folder was an errno and a timestamp ('[Errno 21] ... time = Sat Dec ...')."""
    result = runner.invoke(app, ["data", "export", str(tmp_path), "--out", str(tmp_path / "x.csv")])
    assert result.exit_code == 2 and "is a folder, not an abrnet .h5 file" in result.output
    assert "Errno" not in result.output and len(result.output.strip().splitlines()) == 1


@pytest.mark.parametrize("name", ["rec[ear]:100:.h5", "rec[/bad].h5"])
def test_error_names_the_file_exactly_as_given(tmp_path: Path, name: str) -> None:
    """File names go out verbatim: Rich markup dropped "[ear]", made ":100:" an emoji and crashed on "[/bad]"."""
    result = runner.invoke(app, ["data", "describe", str(tmp_path / name)])
    assert result.exit_code == 2 and "error:" in result.output
    assert name in result.output.replace("\n", "")


@pytest.mark.parametrize("name", ["static", "latency_ms", "amplitude_uv"])
def test_columns_in_another_order_are_reordered_not_misread(tmp_path: Path, toy_cohort, name: str) -> None:
    """A file whose `columns` attribute lists the columns in another order (another tool wrote it) reads the same."""
    path = save_cohort(toy_cohort, tmp_path / "c.h5")
    with h5py.File(path, "r+") as f:
        ds = f[name]
        columns = [c.decode() if isinstance(c, bytes) else str(c) for c in ds.attrs["columns"]]
        data = ds[()]
        ds[...] = data[:, ::-1]
        ds.attrs["columns"] = columns[::-1]
    np.testing.assert_array_equal(getattr(load_cohort(path), name), getattr(toy_cohort, name))


def test_integer_no_response_is_read(tmp_path: Path, toy_cohort) -> None:
    path = save_cohort(toy_cohort, tmp_path / "c.h5")
    with h5py.File(path, "r+") as f:
        nr = f["no_response"][()].astype(np.int64)
        del f["no_response"]
        f["no_response"] = nr
    np.testing.assert_array_equal(load_cohort(path).no_response, toy_cohort.no_response)
