"""`abrnet.load(device=...)` with a device this machine cannot use names the device, not the checkpoint (hunt A #3).

Why: `read_hashed_checkpoint` reads every torch.load failure as "not a readable abrnet checkpoint", so
``device="cuda"`` without CUDA, or ``device="gpu"`` (no torch device), told a user the shipped weights were corrupt.
"""

from __future__ import annotations

import pytest
import torch

import abrnet
from abrnet.data.schema import DataError
from abrnet.inference.checkpoint import check_device, read_checkpoint


def _one_line_about_the_device(exc: pytest.ExceptionInfo[DataError], device: str) -> None:
    message = str(exc.value)
    assert exc.value.field == "device" and exc.value.source == device
    assert "\n" not in message and "checkpoint" not in message, message


def test_a_name_that_is_no_device_is_refused_as_a_device() -> None:
    with pytest.raises(DataError, match="not a torch device") as exc:
        abrnet.load(device="gpu")
    _one_line_about_the_device(exc, "gpu")


def test_cuda_on_a_machine_without_it_is_refused_as_a_device(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)  # this machine, or any, without CUDA
    for device in ("cuda", "cuda:1"):
        with pytest.raises(DataError, match="no CUDA") as exc:
            abrnet.load(device=device)
        _one_line_about_the_device(exc, device)


def test_every_checkpoint_reader_checks_the_device_first(tmp_path: pytest.TempPathFactory) -> None:
    """`read_checkpoint` (--resume, evaluate) too; a usable device still reads, and a bad file is still a bad file."""
    with pytest.raises(DataError, match="field 'device'"):
        read_checkpoint(tmp_path / "no-such.ckpt", map_location="gpu")  # the device is named before the file
    bad = tmp_path / "x.ckpt"
    bad.write_text("not a checkpoint")
    with pytest.raises(DataError, match="not a readable abrnet checkpoint"):
        read_checkpoint(bad, map_location="cpu")
    assert check_device("cpu") == torch.device("cpu")
    assert abrnet.load(device=torch.device("cpu")).device == torch.device("cpu")
