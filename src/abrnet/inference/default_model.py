"""The model that ships with abrnet: used wherever a checkpoint is not given (`abrnet predict FILE --out r.csv`).

It is a slim copy of a run's ``best.ckpt`` (hyper-parameters, EMA weights, the fitted series stage; no optimizer
state), written by `export_checkpoint` and stored as package data beside this module. It records the simulator and
architecture versions it was trained with, so a test fails as soon as either changes and the weights go stale.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

from abrnet.data.files import check_fname, staged_write, write_json
from abrnet.data.schema import DataError
from abrnet.data.simulate.cohort import GENERATOR_VERSION
from abrnet.inference.checkpoint import DATA_SHA256_KEY, SERIES_KEY, model_content_sha256, read_checkpoint
from abrnet.models.config import ARCHITECTURE_VERSION

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"
DEFAULT_CHECKPOINT = WEIGHTS_DIR / "abrnet-cpu.ckpt"
DEFAULT_CARD = (
    WEIGHTS_DIR / "abrnet-cpu.json"
)  # how it was trained and what it scored (same evaluation as `make train`)
VERSIONS_KEY = "abrnet_versions"


def code_versions() -> dict[str, str]:
    """The versions a checkpoint must match to be this code's model."""
    return {"simulator": GENERATOR_VERSION, "architecture": ARCHITECTURE_VERSION}


def default_checkpoint() -> Path:
    """Path of the shipped checkpoint; a clear error when this install has none."""
    if not DEFAULT_CHECKPOINT.exists():
        raise DataError(
            str(DEFAULT_CHECKPOINT), "<checkpoint>", "this install ships no default model: pass --checkpoint"
        )
    return DEFAULT_CHECKPOINT


def recorded_versions(path: str | Path) -> dict[str, str]:
    """The versions stored in a checkpoint written by `export_checkpoint` ({} for a plain training checkpoint)."""
    return dict(read_checkpoint(path).get(VERSIONS_KEY, {}))


def card_path(dst: str | Path) -> Path:
    """Where `export_checkpoint` writes the card of checkpoint ``dst``: beside it, as ``.json``."""
    return Path(dst).with_suffix(".json")


def export_checkpoint(
    src: str | Path,
    dst: str | Path,
    *,
    card: dict[str, Any] | None = None,
    force: bool = False,
    evaluated: tuple[str, str] | None = None,
) -> Path:
    """Write the slim copy of training checkpoint ``src`` to ``dst`` (and ``card`` as JSON beside it).

    Both targets are checked before anything is written, so a refusal leaves no half export; a ``dst`` ending in
    .json is refused with a card, as the card (``dst.with_suffix(".json")``) would be written over the checkpoint.
    ``evaluated`` = (metrics file, the ``model_content_sha256`` it records): the card's figures must be this model's, so
    another run's metrics (or an evaluation of a since-replaced best.ckpt) are refused."""
    src, dst = Path(src), check_fname(dst, overwrite=force)
    if card is not None:
        if card_path(dst) == dst:
            raise DataError(str(dst), "--out", "the model card is written beside it as .json; use e.g. a .ckpt name")
        check_fname(card_path(dst), overwrite=force)
    ckpt = read_checkpoint(src)
    if not isinstance(ckpt.get("hyper_parameters"), dict) or "state_dict" not in ckpt:
        raise DataError(str(src), "hyper_parameters", "missing: not an abrnet training checkpoint")
    if evaluated is not None and evaluated[1] != (sha256 := model_content_sha256(ckpt)):
        raise DataError(
            evaluated[0],
            "model_content_sha256",
            f"these metrics are of another model ({evaluated[1][:12]}…, not {src}'s {sha256[:12]}…): "
            f"evaluate it (abrnet evaluate --checkpoint {src}) and export with that metrics.json",
        )
    state = {k: v.clone() for k, v in ckpt["state_dict"].items() if k.startswith("model.")}  # (EMA weights)
    slim: dict[str, Any] = {"hyper_parameters": ckpt["hyper_parameters"], "state_dict": state}
    for kept in (SERIES_KEY, DATA_SHA256_KEY):  # the series stage; which data file it trained on (evaluate checks)
        if kept in ckpt:
            slim[kept] = ckpt[kept]
    slim[VERSIONS_KEY] = code_versions()
    with staged_write(dst, overwrite=force) as staged:
        torch.save(slim, staged)
    if card is not None:
        write_json({**card, "versions": code_versions()}, card_path(dst), overwrite=force)
    return dst
