"""`ABRLitModule` in isolation and in short fits: label masking, curriculum gates, per-group learning rates,
NaN alerts end to end, and the weights-only checkpoint loader."""

from __future__ import annotations

import json
import math
import pickle
from pathlib import Path
from typing import Any

import lightning as L
import numpy as np
import pytest
import torch

import abrnet.training.run as run_mod
from abrnet.config.train_config import TrainConfig, load_config
from abrnet.constants import CLASS_NAMES
from abrnet.data.schema import ABRCohort, DataError
from abrnet.data.simulate import SimulationConfig, simulate_cohort
from abrnet.inference.checkpoint import load_checkpoint
from abrnet.models.attention import GATED_TRANSFORMER_TYPES
from abrnet.training.alerts import TrainingDiverged
from abrnet.training.curriculum import PHASES, phase_name, task_weight_multipliers, transformer_gate
from abrnet.training.datamodule import ABRDataModule
from abrnet.training.module import ABRLitModule

from .conftest import make_toy_cohort

BASE = [
    "seed=3",
    "model.preset=tiny",
    "data.batch_size=16",
    "trainer.max_minutes=null",
    "trainer.log_every_n_steps=1",
    "series.enabled=false",  # these fits test the loop and its alerts, not the series stage (300 simulated patients)
]


@pytest.fixture(scope="module")
def small_cohort() -> ABRCohort:
    """20 simulated patients (~500 records): enough for a train/val/test split of a tiny fit."""
    return simulate_cohort(SimulationConfig(n_patients=20), seed=3)


def _module(cfg: TrainConfig, cohort: ABRCohort) -> tuple[ABRLitModule, ABRDataModule]:
    dm = ABRDataModule(cohort, seed=cfg.seed, batch_size=cfg.data.batch_size)
    counts = np.bincount(cohort.class_id[cohort.class_id >= 0], minlength=len(CLASS_NAMES)).astype(float)
    return ABRLitModule(cfg.model_dump(mode="json"), dm.normalizer.to_dict(), counts.tolist()), dm


def _batch(dm: ABRDataModule, n: int = 16) -> dict[str, torch.Tensor]:
    ds = dm.dataset("train")
    return {k: v[:n].clone() for k, v in ds.tensors.items()}


def _transformer_params(model: torch.nn.Module) -> list[torch.nn.Parameter]:
    return [p for m in model.modules() if isinstance(m, GATED_TRANSFORMER_TYPES) for p in m.parameters()]


def _fit_with(monkeypatch: pytest.MonkeyPatch, callbacks: list[L.Callback]) -> None:
    """Make `train()` add `callbacks` to the Trainer it builds."""
    orig = run_mod.build_trainer

    def build(cfg: TrainConfig, out_dir: Path, **kw: Any) -> L.Trainer:
        trainer = orig(cfg, out_dir, **kw)
        trainer.callbacks[:0] = callbacks  # before ModelCheckpoint (Lightning keeps checkpoints last)
        return trainer

    monkeypatch.setattr(run_mod, "build_trainer", build)


# ---------------------------------------------------------------------------------------------------- 1. masking
@pytest.mark.parametrize("unlabelled", ["no_peaks", "no_classes_or_thresholds", "nothing"])
def test_training_step_is_finite_without_labels(unlabelled: str) -> None:
    """A batch whose peaks (or classes / thresholds / no-response, or everything) are all unknown still gives a
    finite loss, and every parameter that gets a gradient gets a finite one."""
    cfg = load_config(None, BASE)
    module, dm = _module(cfg, make_toy_cohort(n_patients=8))
    batch = _batch(dm)
    if unlabelled in ("no_peaks", "nothing"):
        batch["latency"][:] = torch.nan
        batch["amplitude"][:] = torch.nan
    if unlabelled in ("no_classes_or_thresholds", "nothing"):
        batch["class_id"][:] = -1
        batch["threshold"][:] = torch.nan
        batch["no_response"][:] = torch.nan
    loss = module.training_step(batch, 0)
    assert loss is not None and torch.isfinite(loss), loss
    loss.backward()
    with_grad = [(n, p.grad) for n, p in module.named_parameters() if p.grad is not None]
    assert len(with_grad) > 0.5 * sum(1 for _ in module.parameters())
    bad = [n for n, g in with_grad if not torch.isfinite(g).all()]
    assert not bad, f"non-finite gradients: {bad[:5]}"


# --------------------------------------------------------------------------------------------- 2. curriculum gate
def test_transformer_branch_is_exactly_off_in_warmup_and_on_after_ramp(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config(
        None, [*BASE, "trainer.max_steps=100", "curriculum.s4_warmup=0.2", "curriculum.transformer_ramp=0.2"]
    )
    module, dm = _module(cfg, make_toy_cohort(n_patients=8))
    model = module.model.eval()
    batch = _batch(dm, 8)
    params = _transformer_params(model)
    assert params, "the tiny preset must have transformer layers for this test"
    t = torch.arange(8) * 100

    def outputs() -> dict[str, torch.Tensor]:
        with torch.no_grad():
            return model(batch["signal"], batch["static"], t)

    def perturb() -> None:
        with torch.no_grad():
            for p in params:
                p.add_(torch.randn(p.shape, generator=torch.Generator().manual_seed(p.numel())))

    # progress 0 (no trainer: global step 0) -> S4 warm-up: the module sets the gate to exactly 0
    module.on_train_batch_start(batch, 0)
    assert float(model.transformer_gate) == 0.0
    before = outputs()
    perturb()
    after = outputs()
    for k in before:
        assert torch.equal(before[k], after[k]), f"{k} changed under gate 0"

    # mid-ramp and after the ramp: the gate follows the curriculum, and the transformer changes the output
    monkeypatch.setattr(module, "progress", lambda: 0.3)
    module.on_train_batch_start(batch, 0)
    assert float(model.transformer_gate) == pytest.approx(0.5)
    monkeypatch.setattr(module, "progress", lambda: 0.5)
    module.on_train_batch_start(batch, 0)
    assert float(model.transformer_gate) == 1.0
    gated_on = outputs()
    perturb()
    assert not torch.equal(gated_on["signal"], outputs()["signal"])


class _GateRecorder(L.Callback):
    """Records (global step, transformer gate) of every optimizer step, as the training step saw it, and the
    global step of every attention-module forward call (forward hooks on all of them)."""

    def __init__(self) -> None:
        self.seen: list[tuple[int, float]] = []
        self.attention_steps: list[int] = []

    def on_train_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        for m in pl_module.model.attention_modules().values():
            m.register_forward_hook(lambda *_: self.attention_steps.append(trainer.global_step))

    def on_after_backward(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        self.seen.append((trainer.global_step, float(pl_module.model.transformer_gate)))


def test_gate_follows_curriculum_during_fit(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_cohort: ABRCohort
) -> None:
    overrides = [*BASE, "trainer.max_steps=8", "trainer.val_every_n_steps=8", "optim.ema_decay=0"]
    overrides += ["curriculum.s4_warmup=0.25", "curriculum.transformer_ramp=0.25"]
    overrides += ["curriculum.stages.classification_threshold.start=0.25", "curriculum.stages.static.start=0.5"]
    overrides += ["curriculum.stages.static.ramp=0.25"]
    cfg = load_config(None, overrides)
    rec = _GateRecorder()
    _fit_with(monkeypatch, [rec])
    run_mod.train(cfg, tmp_path / "run", enable_progress_bar=False, cohort=small_cohort)
    steps = [s for s, _ in rec.seen]
    assert steps == list(range(8))
    expected = [transformer_gate(s / 8, cfg.curriculum) for s in steps]
    assert [g for _, g in rec.seen] == pytest.approx(expected)
    assert expected[:3] == [0.0, 0.0, 0.0] and expected[3] == 0.5 and expected[-1] == 1.0
    # S4-only warm-up: no attention module ran at all in steps 0-2; from the ramp on, attention runs
    assert rec.attention_steps and min(rec.attention_steps) == 3
    # the logged gate, phase and per-task weights (CSV, every step) say the same
    rows = (tmp_path / "run" / "csv" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    scol = header.index("step")

    def logged(name: str) -> dict[int, float]:
        col = header.index(name)
        return {int(r.split(",")[scol]): float(r.split(",")[col]) for r in rows[1:] if r.split(",")[col]}

    assert logged("train/transformer_gate") == pytest.approx(dict(zip(steps, expected, strict=True)))
    assert logged("train/phase") == {s: float(PHASES.index(phase_name(s / 8, cfg.curriculum))) for s in steps}
    for task in ("signal", "threshold", "static"):
        want = {s: task_weight_multipliers(s / 8, cfg.curriculum)[task] for s in steps}
        assert logged(f"train/task_weight/{task}") == pytest.approx(want)


# -------------------------------------------------------------------------------------- 3. per-group learning rates
def test_configure_optimizers_groups_and_lr_ratios(monkeypatch: pytest.MonkeyPatch) -> None:
    cfg = load_config(None, [*BASE, "trainer.max_steps=100", "optim.lr=2e-3", "optim.transformer_lr=3e-4"])
    module, _ = _module(cfg, make_toy_cohort(n_patients=8))
    conf = module.configure_optimizers()
    opt, sched = conf["optimizer"], conf["lr_scheduler"]["scheduler"]
    assert conf["lr_scheduler"]["interval"] == "step"

    ids = [id(p) for g in opt.param_groups for p in g["params"]]
    trainable = [p for p in module.parameters() if p.requires_grad]
    assert len(ids) == len(set(ids)) == len(trainable)  # every parameter in exactly one group
    assert set(ids) == {id(p) for p in trainable}

    transformer = {id(p) for p in _transformer_params(module.model)}
    assert transformer
    expected_base: dict[int, float] = {}
    for g in opt.param_groups:
        for p in g["params"]:
            hint = getattr(p, "_optim", None)
            if hint is not None:
                want = hint.get("lr", cfg.optim.lr)
            elif id(p) in transformer:
                want = cfg.optim.transformer_lr
            else:
                want = cfg.optim.lr
            assert g["initial_lr"] == pytest.approx(want), g["name"]
            expected_base[id(p)] = want
    names = {g["name"] for g in opt.param_groups}
    assert {"transformer_decay", "decay", "no_decay"} <= names

    def check_ratios() -> float:
        factors = {g["lr"] / g["initial_lr"] for g in opt.param_groups}
        assert max(factors) == pytest.approx(min(factors), rel=1e-9)  # one schedule factor for every group
        return factors.pop()

    assert check_ratios() == pytest.approx(0.01)  # progress 0 -> warm-up floor
    for p in (0.03, 0.5):
        monkeypatch.setattr(module, "progress", lambda p=p: p)
        opt.step()  # no grads: a no-op that keeps the scheduler's step-order check quiet
        sched.step()
        f = check_ratios()
        tr = next(g for g in opt.param_groups if g["name"] == "transformer_decay")
        other = next(g for g in opt.param_groups if g["name"] == "decay")
        assert tr["lr"] / other["lr"] == pytest.approx(cfg.optim.transformer_lr / cfg.optim.lr)
    assert 0.05 < f < 1.0  # cosine phase


# --------------------------------------------------------------------------------------------------- 6. NaN alerts
class _NaNAt(L.Callback):
    """Makes the model's signal output NaN on the given batch indices (counting every batch, skipped or not)."""

    def __init__(self, batches: set[int] | None = None, from_batch: int | None = None) -> None:
        self.batches, self.from_batch = batches or set(), from_batch
        self.handle: Any = None
        self.snapshots: dict[int, tuple[int, torch.Tensor]] = {}
        self.n = 0

    def on_train_batch_start(self, trainer: L.Trainer, pl_module: L.LightningModule, batch: Any, idx: int) -> None:
        if self.handle is not None:
            self.handle.remove()
            self.handle = None
        flat = torch.cat([p.detach().flatten() for p in pl_module.parameters()]).clone()
        self.snapshots[self.n] = (trainer.global_step, flat)
        if self.n in self.batches or (self.from_batch is not None and self.n >= self.from_batch):
            self.handle = pl_module.model.register_forward_hook(
                lambda m, i, out: {**out, "signal": out["signal"] * torch.nan}
            )
        self.n += 1


def _alerts(run_dir: Path) -> list[dict]:
    return [json.loads(line) for line in (run_dir / "alerts.jsonl").read_text().splitlines()]


def test_nan_loss_is_alerted_and_skipped(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_cohort) -> None:
    cfg = load_config(None, [*BASE, "trainer.max_steps=6", "trainer.val_every_n_steps=6", "alerts.nan_patience=3"])
    nan = _NaNAt(batches={2})
    _fit_with(monkeypatch, [nan])
    summary = run_mod.train(cfg, tmp_path / "run", enable_progress_bar=False, cohort=small_cohort)
    assert summary["global_step"] == 6  # the run still completes
    alerts = [a for a in _alerts(tmp_path / "run") if a["kind"] in ("nan_loss", "diverged")]
    assert [(a["kind"], a["step"], a["value"]) for a in alerts] == [("nan_loss", 2, "nan")]
    assert "step skipped" in alerts[0]["message"]
    # the NaN batch changed no weight (Lightning still counts the step: the step clock and data order stay
    # those of an uninterrupted run, so a resume across it is still exact)
    (step2, w2), (step3, w3) = nan.snapshots[2], nan.snapshots[3]
    assert (step2, step3) == (2, 3)
    assert torch.equal(w2, w3)
    assert torch.isfinite(w3).all()
    assert not torch.equal(nan.snapshots[3][1], nan.snapshots[4][1])  # and training went on


def test_consecutive_nan_losses_stop_training(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_cohort) -> None:
    cfg = load_config(None, [*BASE, "trainer.max_steps=10", "trainer.val_every_n_steps=10", "alerts.nan_patience=3"])
    _fit_with(monkeypatch, [_NaNAt(from_batch=2)])
    with pytest.raises(TrainingDiverged, match=r"non-finite loss for 3 consecutive steps \(nan_patience=3\)"):
        run_mod.train(cfg, tmp_path / "run", enable_progress_bar=False, cohort=small_cohort)
    kinds = [(a["kind"], a["level"]) for a in _alerts(tmp_path / "run")]
    assert kinds[-3:] == [("nan_loss", "error"), ("nan_loss", "error"), ("diverged", "critical")]


# ---------------------------------------------------------------------------------------- 8. checkpoint loading
class _Payload:
    """An arbitrary Python object: unpickling it would create `marker` (it must never be unpickled)."""

    def __init__(self, marker: Path) -> None:
        self.marker = marker

    def __reduce__(self) -> tuple:
        return (Path.touch, (self.marker,))


def test_load_checkpoint_refuses_pickled_objects(tmp_path: Path, tiny_run: dict) -> None:
    good = torch.load(tiny_run["dir"] / "best.ckpt", map_location="cpu", weights_only=True)  # plain data only
    marker = tmp_path / "unpickled"
    evil = tmp_path / "evil.ckpt"
    torch.save({**good, "extra": _Payload(marker)}, evil)
    with pytest.raises(pickle.UnpicklingError):  # proof the file does hold a non-weights object
        torch.load(evil, map_location="cpu", weights_only=True)
    with pytest.raises(DataError, match=r"evil\.ckpt.*not a readable abrnet checkpoint \(UnpicklingError\)"):
        load_checkpoint(evil)
    assert not marker.exists()  # the object's code never ran

    loaded = load_checkpoint(tiny_run["dir"] / "best.ckpt")  # the real one still loads
    assert float(loaded.model.transformer_gate) == 1.0
    assert math.isfinite(loaded.normalizer.signal_scale)


def test_task_dominance_and_attention_collapse_alerts_in_a_fit(tmp_path: Path, small_cohort: ABRCohort) -> None:
    """In the full multi-task phase the training loop feeds per-task gradient norms on the shared trunk to the
    dominance alert (here the threshold weight is made to swamp the rest), and every validation checks the attention
    entropies of the analysis path (a fresh model attends broadly: no collapse alert)."""
    cfg = load_config(
        None,
        [
            *BASE,
            "trainer.max_steps=4",
            "trainer.val_every_n_steps=4",
            "trainer.log_every_n_steps=2",
            "alerts.dominance_every_n_steps=2",
            "optim.ema_decay=0",
            "curriculum.s4_warmup=0",
            "curriculum.transformer_ramp=0",
            "curriculum.stages.classification_threshold.start=0",
            "curriculum.stages.static.start=0",
            "curriculum.stages.static.ramp=0",
            "loss.weights.threshold=10000",
        ],
    )
    run_mod.train(cfg, tmp_path / "run", enable_progress_bar=False, cohort=small_cohort)
    alerts = _alerts(tmp_path / "run")
    dominance = [a for a in alerts if a["kind"] == "task_dominance"]
    assert [a["step"] for a in dominance] == [0, 2] and all("'threshold'" in a["message"] for a in dominance)
    assert not [a for a in alerts if a["kind"] == "attention_collapse"]
    rows = (tmp_path / "run" / "csv" / "metrics.csv").read_text().splitlines()
    header = rows[0].split(",")
    assert "train/grad_norm/threshold" in header and "val/attention_entropy_min" in header
    col = header.index("val/attention_entropy_min")
    assert float(next(r.split(",")[col] for r in rows[1:] if r.split(",")[col])) > 0.1


class _CollapseAttention(L.Callback):
    """Before validation, make the peak attention's queries huge: its rows turn one-hot (collapsed)."""

    def on_validation_epoch_start(self, trainer: L.Trainer, pl_module: L.LightningModule) -> None:
        with torch.no_grad():
            pl_module.model.task_features.peaks.attn.q.weight.mul_(1e4)


def test_attention_collapse_fires_on_the_validation_analysis_path(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, small_cohort: ABRCohort
) -> None:
    cfg = load_config(
        None,
        [*BASE, "trainer.max_steps=2", "trainer.val_every_n_steps=2", "optim.ema_decay=0", "curriculum.s4_warmup=0",
         "curriculum.transformer_ramp=0"],
    )  # fmt: skip
    _fit_with(monkeypatch, [_CollapseAttention()])
    run_mod.train(cfg, tmp_path / "run", enable_progress_bar=False, cohort=small_cohort)
    collapse = [a for a in _alerts(tmp_path / "run") if a["kind"] == "attention_collapse"]
    assert len(collapse) == 1 and "task_features.peaks.attn" in collapse[0]["message"]
    assert collapse[0]["step"] == 2 and collapse[0]["value"] < 0.1
