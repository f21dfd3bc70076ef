"""psiexperiment/cftsdata ABR folders: malformed exports name file and line, nothing is written; a run folder is
one recording when folders are walked; a raw-only run is refused with the way to export it."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from abrnet.data.importers import detect_format, read_recording
from abrnet.data.schema import DataError
from abrnet.inference.inputs import expand_inputs
from tests.test_reader_contract import OPTS, write_psi_abr


def _csv(folder: Path) -> Path:
    return next(folder.glob("* average waveforms.csv"))


def test_bad_sample_names_file_and_line(tmp_path: Path) -> None:
    run = write_psi_abr(tmp_path / "x abr_io")
    lines = _csv(run).read_text().splitlines()
    lines[9] = lines[9].rsplit(",", 1)[0] + ",oops"
    _csv(run).write_text("\n".join(lines) + "\n")
    out = tmp_path / "out.h5"
    with pytest.raises(DataError) as err:
        read_recording(run, **OPTS)
    assert err.value.source.endswith("average waveforms.csv") and err.value.row == 10
    assert "oops" in str(err.value) and not out.exists()


def test_ragged_header_row_names_field(tmp_path: Path) -> None:
    run = write_psi_abr(tmp_path / "y abr_io")
    lines = _csv(run).read_text().splitlines()
    lines[1] += ",20.0"
    _csv(run).write_text("\n".join(lines) + "\n")
    with pytest.raises(DataError) as err:
        read_recording(run, **OPTS)
    assert err.value.field == "level" and err.value.row == 2


def test_raw_run_without_export_is_refused(tmp_path: Path) -> None:
    run = tmp_path / "z abr_io"
    run.mkdir()
    (run / "erp_metadata.csv").write_text("t0,target_tone_frequency,target_tone_level,target_tone_polarity\n")
    assert detect_format(run) == "psi_abr"
    with pytest.raises(DataError, match="summarize_abr"):
        read_recording(run, **OPTS)


def test_metadata_polarity_and_folder_is_one_recording(tmp_path: Path) -> None:
    run = write_psi_abr(tmp_path / "data" / "m1 abr_io")
    (run / "erp_metadata.csv").write_text(
        "t0,target_tone_frequency,target_tone_level,target_tone_polarity\n0.1,8000,80,1\n0.2,8000,80,-1\n"
    )
    (tmp_path / "data" / "notes.txt").write_text("x")
    assert expand_inputs([tmp_path / "data"]) == [run, tmp_path / "data" / "notes.txt"]
    c = read_recording(run, **OPTS)
    assert c.n_records == 4 and c.sampling_rate_hz == pytest.approx(12500.0) and c.t0_ms == pytest.approx(-1.0)
    assert list(c.extras["stimulus"]) == ["tone_pip", "tone_pip", "click", "click"]
    assert np.isnan(c.extras["stimulus_freq_hz"][2]) and c.extras["stimulus_freq_hz"][0] == 8000.0
    assert set(c.extras["polarity"]) == {"alternating"} and set(c.extras["level_unit"]) == {"dB SPL"}
    assert set(c.extras["species"]) == {"unknown"} and 0.1 < np.abs(c.signals).max() < 100  # V → µV
    assert detect_format(_csv(run)) == "psi_abr" and read_recording(_csv(run), **OPTS).n_records == 4
