"""Training alerts: catch divergence, dead metrics, attention collapse and one task swamping the others early.

Why a monitor and not just logged curves: on a 20-minute CPU run nobody watches TensorBoard live, and a NaN step
that is applied silently ruins the EMA weights. Every alert goes to three places at once: one line on the console
(rich), one JSON line in ``out_dir/alerts.jsonl`` (keys: time, step, kind, level, message, value; a non-finite
value is written as the string "nan" / "inf" / "-inf" so the file stays valid JSON), and the logger's text panel
when a TensorBoard-like logger is given. ``monitor.alerts`` keeps them in memory for tests and the run summary.

Alert kinds: ``nan_loss`` (error), ``diverged`` (critical, then `TrainingDiverged` is raised), ``nan_metric``
(error), ``peak_r2_nan`` (error), ``threshold_r2_negative`` (warning), ``attention_collapse`` (warning; fed every
validation with the attention entropies averaged over the analysis passes of the whole split), ``task_dominance``
(warning; fed with per-task gradient norms on the shared trunk).
"""

from __future__ import annotations

import contextlib
import json
import math
from collections.abc import Mapping
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from rich.console import Console
from rich.text import Text

__all__ = ["Alert", "AlertMonitor", "TrainingDiverged", "normalised_attention_entropy"]

_STYLES = {"info": "cyan", "warning": "yellow", "error": "bold red", "critical": "bold white on red"}


class TrainingDiverged(RuntimeError):  # noqa: N818 - the name the training module expects
    """Raised after ``nan_patience`` consecutive steps with a non-finite loss."""


@dataclass(frozen=True)
class Alert:
    """One alert as written to alerts.jsonl."""

    time: str
    step: int
    kind: str
    level: str
    message: str
    value: float | str | None


def _to_float(v: Any) -> float:
    """float() of a Python number, numpy scalar or 0-dim tensor (NaN if it cannot be read)."""
    try:
        if hasattr(v, "detach"):
            v = v.detach().float().mean().item() if v.numel() != 1 else v.detach().item()
        return float(v)
    except (TypeError, ValueError, RuntimeError):
        return math.nan


def _json_value(v: float | None) -> float | str | None:
    if v is None:
        return None
    if math.isnan(v):
        return "nan"
    if math.isinf(v):
        return "inf" if v > 0 else "-inf"
    return float(v)


def normalised_attention_entropy(attn: Any) -> float:
    """Mean entropy of attention rows divided by log(key length): 1 = uniform, 0 = one-hot (collapsed).

    attn: tensor (..., L_q, L_k) of attention probabilities (rows sum to 1).
    """
    import torch

    a = torch.as_tensor(attn).detach().float()
    n_keys = a.shape[-1]
    if n_keys < 2:
        return 1.0
    ent = -(a * a.clamp_min(1e-12).log()).sum(-1)  # (..., L_q)
    return float(ent.mean() / math.log(n_keys))


class AlertMonitor:
    """Checks losses, metrics, attention entropies and task shares; reports every alert three ways.

    ``cfg`` is an `AlertsConfig` or a whole `TrainConfig` (its ``alerts`` section is used).
    """

    def __init__(self, out_dir: str | Path, cfg: Any, logger: Any = None, console: Console | None = None) -> None:
        self.cfg = getattr(cfg, "alerts", cfg)
        self.out_dir = Path(out_dir)
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.path = self.out_dir / "alerts.jsonl"
        self.logger = logger
        self.console = console if console is not None else Console(stderr=True)
        self.alerts: list[Alert] = []
        self.consecutive_nan = 0

    # ------------------------------------------------------------------------------------------------- reporting
    def emit(self, step: int, kind: str, level: str, message: str, value: float | None = None) -> Alert:
        """Record one alert: console line, alerts.jsonl line, logger text, and ``self.alerts``."""
        alert = Alert(
            time=datetime.now(UTC).isoformat(timespec="seconds"),
            step=int(step),
            kind=kind,
            level=level,
            message=message,
            value=_json_value(value),
        )
        self.alerts.append(alert)
        line = Text(f"ALERT {level.upper():8s} step {step:>7d}  {kind}: ", style=_STYLES.get(level, ""))
        line.append(message)  # plain text: brackets in the message are not rich markup
        with contextlib.suppress(Exception):  # the console must never stop training
            self.console.print(line, soft_wrap=True, highlight=False)
        with self.path.open("a", encoding="utf-8") as fh:
            fh.write(json.dumps(asdict(alert)) + "\n")
        self._to_logger(alert)
        return alert

    def _to_logger(self, alert: Alert) -> None:
        """Send to ``logger.add_text`` (SummaryWriter) or ``logger.experiment.add_text`` (Lightning); never raise."""
        if self.logger is None:
            return
        writer = self.logger if hasattr(self.logger, "add_text") else getattr(self.logger, "experiment", None)
        add_text = getattr(writer, "add_text", None)
        if not callable(add_text):
            return
        with contextlib.suppress(Exception):
            add_text(f"alerts/{alert.kind}", f"[{alert.level}] step {alert.step}: {alert.message}", alert.step)

    # ---------------------------------------------------------------------------------------------------- checks
    def check_losses(self, step: int, parts: Mapping[str, Any]) -> bool:
        """True if every loss part is finite. Otherwise alert and return False (= skip this step's update);
        the ``nan_patience``-th consecutive bad step raises `TrainingDiverged`."""
        values = {k: _to_float(v) for k, v in parts.items()}
        bad = {k: v for k, v in values.items() if not math.isfinite(v)}
        if not bad:
            self.consecutive_nan = 0
            return True
        self.consecutive_nan += 1
        names = ", ".join(f"{k}={v}" for k, v in bad.items())
        k = self.cfg.nan_patience
        first = next(iter(bad.values()))
        if self.consecutive_nan >= k:
            msg = (
                f"non-finite loss for {self.consecutive_nan} consecutive steps (nan_patience={k}); last: {names}. "
                "Lower optim.lr / transformer_lr, check grad_clip and the input data normalisation."
            )
            self.emit(step, "diverged", "critical", msg, first)
            raise TrainingDiverged(f"step {step}: {msg}")
        self.emit(
            step,
            "nan_loss",
            "error",
            f"non-finite loss ({names}); step skipped ({self.consecutive_nan}/{k} in a row)",
            first,
        )
        return False

    def check_metrics(self, step: int, metrics: Mapping[str, Any], progress: float) -> list[Alert]:
        """Validation metrics: any non-finite value; a NaN peak R²; threshold R² < 0 after the grace fraction.

        Names are matched loosely: a peak R² is a name containing "r2" and one of peak/latency/amplitude; the
        threshold R² contains "r2" and "threshold".
        """
        raised: list[Alert] = []
        for name, raw in metrics.items():
            v = _to_float(raw)
            low = name.lower()
            is_r2 = "r2" in low
            is_peak_r2 = is_r2 and any(s in low for s in ("peak", "latency", "amplitude"))
            is_thr_r2 = is_r2 and "threshold" in low
            if is_peak_r2 and math.isnan(v):
                raised.append(
                    self.emit(
                        step, "peak_r2_nan", "error", f"{name} is NaN (no labelled peaks or constant targets?)", v
                    )
                )
            elif not math.isfinite(v):
                raised.append(self.emit(step, "nan_metric", "error", f"metric {name} is {v}", v))
            elif is_thr_r2 and v < 0.0 and progress >= self.cfg.threshold_r2_grace_fraction:
                raised.append(
                    self.emit(
                        step,
                        "threshold_r2_negative",
                        "warning",
                        f"{name} = {v:.3f} < 0 at {progress:.0%} of the run (grace "
                        f"{self.cfg.threshold_r2_grace_fraction:.0%}): worse than predicting the mean threshold",
                        v,
                    )
                )
        return raised

    def check_attention(self, step: int, entropies: Mapping[str, Any]) -> list[Alert]:
        """Alert for each layer whose mean normalised attention entropy is below the floor (or non-finite)."""
        raised: list[Alert] = []
        floor = self.cfg.attention_entropy_floor
        for layer, raw in entropies.items():
            v = _to_float(raw)
            if not math.isfinite(v):
                raised.append(self.emit(step, "nan_metric", "error", f"attention entropy of {layer} is {v}", v))
            elif v < floor:
                raised.append(
                    self.emit(
                        step,
                        "attention_collapse",
                        "warning",
                        f"attention collapse in {layer}: mean normalised entropy {v:.3f} < floor {floor}",
                        v,
                    )
                )
        return raised

    def check_task_dominance(self, step: int, grad_norms: Mapping[str, Any]) -> list[Alert]:
        """Alert when one task's share of the per-task gradient norms on the shared trunk exceeds the ceiling.

        ``grad_norms``: task → L2 norm of its weighted loss term's gradient on the shared trunk
        (`abrnet.training.losses.task_gradient_norms`). Gradient norms, not loss values: a likelihood term can be
        negative (|NLL| would make a well-fitted task "dominate") and a loss value says nothing of how hard the task
        pulls the shared weights. A negative or non-finite norm is a caller error and ignored; fewer than two
        non-zero tasks means there is nothing to dominate.
        """
        vals = {k: _to_float(v) for k, v in grad_norms.items()}
        vals = {k: v for k, v in vals.items() if math.isfinite(v) and v > 0.0}
        total = sum(vals.values())
        if len(vals) < 2 or total <= 0.0:
            return []
        ceiling = self.cfg.task_dominance_ceiling
        task, top = max(vals.items(), key=lambda kv: kv[1])
        share = top / total
        if share <= ceiling:
            return []
        msg = (
            f"task '{task}' is {share:.0%} of the per-task gradient norm on the shared trunk (ceiling "
            f"{ceiling:.0%}); rebalance loss.weights"
        )
        return [self.emit(step, "task_dominance", "warning", msg, share)]
