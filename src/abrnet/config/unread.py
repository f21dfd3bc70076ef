"""Config keys that no code reads under the rest of the config: set by the user there, they are an error.

Why: ``data.patients: 5`` beside ``data.path`` read as "train on 5 patients of my file", yet the file's patients were
all used and the 5 was recorded in the run's config.yaml as if it had applied; ``huber_delta`` under a Gaussian loss
and ``focal_gamma`` under cross-entropy were likewise silent. Each rule names a key, the setting that leaves it unread
and why (checked against where the training and evaluation code read it).

Which keys count as set: any typed for this run (``--set``, a CLI option), and a file's key whose value is not its
default. A file may spell out a key at its default: ``configs/optimized_architecture.yaml`` lists every key (a
Gaussian run's ``huber_delta: 1.345``) and is the README's config for ``--data FILE``, and a run's recorded
config.yaml holds every field; such a key says nothing the run does not already do.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from abrnet.config.train_config import TrainConfig


@dataclass(frozen=True)
class UnreadRule:
    """``key`` is never read when ``applies(cfg)``; ``setting`` names that setting and ``why`` says what decides
    instead (the message: ``<key>: set with <setting>, <why>; remove it``)."""

    key: str
    setting: str
    why: str
    applies: Callable[[TrainConfig], bool]


def _class_beta_unread(cfg: TrainConfig) -> bool:
    """`class_balanced_beta` feeds the effective-number weights: those of ``class_weights: balanced``, or the
    per-batch ones of the class_balanced loss when ``class_weights: none`` (`abrnet.training.losses`)."""
    loss = cfg.loss
    return isinstance(loss.class_weights, list) or (
        loss.class_weights == "none" and loss.classification_loss != "class_balanced"
    )


def _series_off(cfg: TrainConfig) -> bool:
    return not cfg.series.enabled


def _has_transformer(cfg: TrainConfig) -> bool:
    """Whether the network has a transformer layer at any level (`optimizer_groups` gives those `transformer_lr`)."""
    net = cfg.network_config()
    return any(net.has_transformer(length) for length in net.lengths)


UNREAD_RULES = (
    # `load_training_cohort` and `series_fit_cohort` read these only for the simulated default data
    UnreadRule("data.patients", "data.path", "whose file fixes the patients", lambda c: c.data.path is not None),
    UnreadRule(
        "data.cache_dir",
        "data.path",
        "whose file is read as it is (nothing is simulated or cached)",
        lambda c: c.data.path is not None,
    ),
    UnreadRule(
        "series.patients",
        "data.path",
        "whose validation split fits the series stage (nothing is simulated)",
        lambda c: c.data.path is not None,
    ),
    UnreadRule(
        "series.long_grid_patients",
        "data.path",
        "whose validation split fits the series stage (nothing is simulated)",
        lambda c: c.data.path is not None,
    ),
    # `training.run` fits the series stage only with series.enabled (hunt 50c #2)
    UnreadRule(
        "series.patients", "series.enabled: false", "which fits no series stage", lambda c: not c.series.enabled
    ),
    UnreadRule(
        "series.long_grid_patients",
        "series.enabled: false",
        "which fits no series stage",
        lambda c: not c.series.enabled,
    ),
    UnreadRule("series.c", "series.enabled: false", "which fits no series stage", lambda c: not c.series.enabled),
    UnreadRule(
        "optim.transformer_lr",
        "model.preset: {model.preset} and model.overrides: {model.overrides}",
        "which give the network no transformer layer (only a transformer layer's parameters take this rate)",
        lambda c: not _has_transformer(c),
    ),
    UnreadRule(
        "loss.huber_delta",
        "loss.regression_loss: {loss.regression_loss}",
        "which has no Huber threshold (huber reads it)",
        lambda c: c.loss.regression_loss != "huber",
    ),
    UnreadRule(
        "loss.focal_gamma",
        "loss.classification_loss: {loss.classification_loss}",
        "which has no focusing exponent (focal reads it)",
        lambda c: c.loss.classification_loss != "focal",
    ),
    UnreadRule(
        "loss.class_balanced_beta",
        "loss.class_weights: {loss.class_weights}",
        "which computes no effective-number weights (class_weights: balanced, or the class_balanced loss with "
        "class_weights: none, read it)",
        _class_beta_unread,
    ),
)
RULES = {rule.key: rule for rule in reversed(UNREAD_RULES)}  # each key's first rule (`cli.train` names its why)


def _applying(cfg: TrainConfig) -> dict[str, UnreadRule]:
    """Each unread key with the first rule that leaves it unread (``series.patients`` has two)."""
    out: dict[str, UnreadRule] = {}
    for rule in UNREAD_RULES:
        if rule.key not in out and rule.applies(cfg):
            out[rule.key] = rule
    return out


def unread_fields(cfg: TrainConfig) -> list[str]:
    """The key paths `cfg` never reads, set or not (a comparison of two configs, such as --resume's, may skip them:
    a run's recorded ``data.patients`` beside ``data.path`` says nothing of what it trained on)."""
    return list(_applying(cfg))


def unread_keys(cfg: TrainConfig, typed: Iterable[str] = ()) -> list[str]:
    """One ``key: set with ...; remove it`` per key the user set that `cfg` never reads (see the module doc).
    ``typed``: the key paths given for this run (overrides, options); a key under one of them counts as set."""
    typed = tuple(typed)
    found = []
    for key, rule in _applying(cfg).items():
        section_name, field = key.rsplit(".", 1)
        section = _get(cfg, section_name)
        if field not in section.model_fields_set:
            continue
        by_hand = any(key == t or key.startswith(f"{t}.") for t in typed)
        default = type(section).model_fields[field].get_default(call_default_factory=True)
        if by_hand or getattr(section, field) != default:
            setting = rule.setting.format(loss=cfg.loss, model=cfg.model)
            found.append(f"{key}: set with {setting}, {rule.why}; remove it")
    return found


def _get(cfg: Any, dotted: str) -> Any:
    """The section at a dotted path (``"loss"``, ``"loss.weights"``)."""
    for part in dotted.split("."):
        cfg = getattr(cfg, part)
    return cfg
