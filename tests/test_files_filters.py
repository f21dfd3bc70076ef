"""The one overwrite guard, the one JSON writer and the one zero-phase filter."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest

from abrnet.data.files import check_fname, json_ready, write_json
from abrnet.data.filters import bandpass_filter, butterworth_sos, lowpass_filter, zero_phase
from abrnet.data.grouping import group_indices

FS = 20000.0


def test_check_fname_refuses_an_existing_file_unless_overwrite(tmp_path: Path) -> None:
    path = tmp_path / "a.json"
    assert check_fname(path, overwrite=False) == path  # absent: fine
    path.write_text("{}")
    with pytest.raises(FileExistsError, match=r"a\.json: file exists; pass --force"):
        check_fname(path, overwrite=False)
    assert check_fname(str(path), overwrite=True) == path


def test_write_json_is_strict_json_and_keeps_what_it_refuses(tmp_path: Path) -> None:
    obj = {
        "nan": float("nan"),
        "inf": np.float32(np.inf),
        3: np.int64(7),
        "arr": np.array([1.5, np.nan]),
        "b": np.True_,
    }
    assert json_ready(obj) == {"nan": None, "inf": None, "3": 7, "arr": [1.5, None], "b": True}
    path = write_json(obj, tmp_path / "m.json", overwrite=False)
    assert json.loads(path.read_text())["arr"] == [1.5, None]
    with pytest.raises(FileExistsError):
        write_json({"x": 1}, path, overwrite=False)
    assert json.loads(path.read_text())["3"] == 7  # the refused write changed nothing


def _tone(hz: float, n: int = 2000) -> np.ndarray:
    return np.sin(2 * np.pi * hz * np.arange(n) / FS)


def test_filters_pass_their_band_and_stop_the_rest() -> None:
    mid = slice(500, 1500)
    rms = lambda x: float(np.sqrt(np.mean(x[mid] ** 2)))
    assert rms(bandpass_filter(_tone(1000), FS)) > 0.9 * rms(_tone(1000))
    assert rms(lowpass_filter(_tone(200), FS, 1500.0)) > 0.95 * rms(_tone(200))
    assert rms(lowpass_filter(_tone(6000), FS, 1500.0)) < 0.01 * rms(_tone(6000))
    high = zero_phase(_tone(30), butterworth_sos(FS, 300.0, None, 2))
    assert rms(high) < 0.05 * rms(_tone(30))
    np.testing.assert_array_equal(lowpass_filter(_tone(50), FS, FS), _tone(50))  # at/above Nyquist: a copy


def test_zero_phase_keeps_a_peak_where_it_is() -> None:
    t = np.arange(200) / FS * 1000.0
    wave = np.exp(-0.5 * ((t - 5.6) / 0.3) ** 2)  # a wave V-like bump at 5.6 ms
    out = bandpass_filter(wave, FS)
    assert abs(t[np.argmax(out)] - 5.6) <= 0.05  # forward-backward: no latency shift


def test_filter_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match="low < high"):
        butterworth_sos(FS, 3000.0, 100.0, 2)
    with pytest.raises(ValueError, match="needs a low edge"):
        butterworth_sos(FS, None, None, 2)
    with pytest.raises(ValueError, match=r"\(T,\) or \(N, T\)"):
        zero_phase(np.zeros((2, 2, 10)), butterworth_sos(FS, 100.0, 3000.0, 2))
    short = bandpass_filter(np.ones(8), FS)  # shorter than scipy's default padding: still filtered
    assert short.shape == (8,) and np.all(np.isfinite(short))


def test_group_indices_keeps_file_order_within_each_key() -> None:
    keys, rows = group_indices(np.array(["b", "a", "b", "c", "a"]))
    assert keys.tolist() == ["a", "b", "c"]
    assert [r.tolist() for r in rows] == [[1, 4], [0, 2], [3]]
    empty_keys, empty_rows = group_indices(np.array([], dtype=str))
    assert empty_keys.size == 0 and empty_rows == []


def test_check_fname_refuses_a_folder_even_with_overwrite(tmp_path: Path) -> None:
    """--force replaces a file, never a folder: writing there failed later (IsADirectoryError, a stray .partial)."""
    folder = tmp_path / "out"
    folder.mkdir()
    for overwrite in (False, True):
        with pytest.raises(FileExistsError, match=r"out: is a folder, not a file"):
            check_fname(folder, overwrite=overwrite)
    blocker = tmp_path / "plain"
    blocker.write_text("x")
    with pytest.raises(FileExistsError, match=r"plain is a file, not a folder"):
        check_fname(blocker / "sub" / "r.csv", overwrite=True)
    assert folder.is_dir() and list(folder.iterdir()) == [] and blocker.read_text() == "x"
