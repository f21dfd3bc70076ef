from __future__ import annotations

import dataclasses
from typing import Any

import pytest
import torch

from abrnet.models import OUTPUT_KEYS, ModelConfig, OptimizedHierarchicalUNet
from abrnet.models.attention import GATED_TRANSFORMER_TYPES

from .conftest import make_inputs, make_model


def expected_shapes(batch: int, length: int) -> dict[str, tuple[int, ...]]:
    shapes = {k: (batch, 3) for k in OUTPUT_KEYS if k.startswith("peak_")}
    shapes |= {"signal": (batch, length), "class_logits": (batch, 5), "static_params": (batch, 4)}
    shapes |= {"static_params_logvar": (batch, 4), "threshold": (batch,), "threshold_logvar": (batch,)}
    return shapes | {"no_response_logit": (batch,)}


@pytest.mark.parametrize("batch", [1, 7])
@pytest.mark.parametrize("length", [200, 150, 256])
def test_output_keys_and_shapes(batch: int, length: int) -> None:
    model = make_model(input_length=length)
    x, s, t = make_inputs(batch, length)
    out = model(x, s, t)
    assert set(out) == set(OUTPUT_KEYS)
    assert {k: tuple(v.shape) for k, v in out.items()} == expected_shapes(batch, length)
    out3 = model(x.unsqueeze(1), s, None)  # (B, 1, T) input, t = None
    assert out3["signal"].shape == (batch, length)


def test_placement_rule_for_200_samples_and_4_levels(tiny: OptimizedHierarchicalUNet) -> None:
    assert tiny.config.lengths == (200, 100, 50, 25, 13)
    rows = {(r["block"], r["length"]): r["transformer_layers"] for r in tiny.transformer_placement()}
    with_attention = sorted({length for (_, length), n in rows.items() if n > 0})
    assert with_attention == [50, 100, 200]
    assert rows[("encoder.3", 25)] == rows[("decoder.0", 25)] == rows[("bottleneck", 13)] == 0
    assert not any(isinstance(m, GATED_TRANSFORMER_TYPES) for m in tiny.bottleneck.modules())


def test_every_parameter_gets_gradient() -> None:
    torch.manual_seed(0)
    model = make_model().train()
    model.set_transformer_gate(1.0)
    x, s, t = make_inputs(4)
    out = model(x, s, t, drop_condition=torch.zeros(4, dtype=torch.bool))
    sum(v.sum() for v in out.values()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == ["condition.null_embedding"]


def test_dropped_condition_trains_null_embedding() -> None:
    model = make_model()
    x, s, t = make_inputs(4)
    out = model(x, s, t, drop_condition=torch.tensor([True, False, True, False]))
    sum(v.sum() for v in out.values()).backward()
    missing = [n for n, p in model.named_parameters() if p.grad is None or p.grad.abs().sum() == 0]
    assert missing == []


@pytest.mark.parametrize("value", [1e3, -1e3, 0.0])
def test_outputs_finite_for_extreme_inputs(tiny: OptimizedHierarchicalUNet, value: float) -> None:
    x = torch.full((2, 200), value)
    out = tiny(x, torch.zeros(2, 4), torch.tensor([0, 999]))
    assert all(torch.isfinite(v).all() for v in out.values())
    x = torch.randn(2, 200) * abs(value)
    assert all(torch.isfinite(v).all() for v in tiny(x, torch.randn(2, 4) * 10).values())


def test_null_condition_changes_outputs(tiny: OptimizedHierarchicalUNet) -> None:
    x, s, t = make_inputs(3)
    cond = tiny(x, s, t, drop_condition=torch.zeros(3, dtype=torch.bool))
    null = tiny(x, s, t, drop_condition=torch.ones(3, dtype=torch.bool))
    assert (cond["signal"] - null["signal"]).abs().max() > 1e-4
    other = tiny(x, s + 1.0, t, drop_condition=torch.ones(3, dtype=torch.bool))  # null ignores the parameters
    torch.testing.assert_close(null["signal"], other["signal"])


def test_training_mode_drops_condition_per_sample() -> None:
    """With p = 0.5 some rows of one batch are dropped and others not: the decision is per sample, it is the
    null-embedding pass for exactly the dropped rows, and eval mode drops none."""
    model = make_model(cond_drop_prob=0.5, dropout=0.0, static_missing_prob=0.0).train()  # only CFG is random
    x, s, t = make_inputs(64)
    torch.manual_seed(0)
    a = model(x, s, t)["signal"]
    torch.manual_seed(0)  # same draws: the same rows are dropped
    b = model(x, s + 3.0, t)["signal"]
    dropped = (a - b).abs().amax(-1) == 0  # (B,) rows the static params did not reach
    assert 16 <= int(dropped.sum()) <= 48, int(dropped.sum())  # Binomial(64, 0.5): per sample, neither all nor none
    with torch.no_grad():
        explicit = model.eval()(x, s, t, drop_condition=dropped)["signal"]
        torch.testing.assert_close(explicit, a.detach())  # dropped rows = null embedding, the others conditioned
        c = model(x, s + 3.0, t)["signal"]
    assert bool(((c - model(x, s, t)["signal"]).abs().amax(-1) > 0).all())  # eval: every row conditioned


@pytest.mark.parametrize("scale", [0.0, 1.0, 3.5])
def test_guidance_scale_equals_manual_combination(tiny: OptimizedHierarchicalUNet, scale: float) -> None:
    x, s, t = make_inputs(3)
    cond = tiny(x, s, t, drop_condition=torch.zeros(3, dtype=torch.bool))
    uncond = tiny(x, s, t, drop_condition=torch.ones(3, dtype=torch.bool))
    guided = tiny(x, s, t, guidance_scale=scale)
    torch.testing.assert_close(guided["signal"], uncond["signal"] + scale * (cond["signal"] - uncond["signal"]))
    torch.testing.assert_close(guided["class_logits"], cond["class_logits"])
    assert set(guided) == set(OUTPUT_KEYS)


def _attention_calls(model: OptimizedHierarchicalUNet) -> tuple[list[str], list[Any]]:
    """Names of attention modules whose forward ran (filled by forward hooks), and the hook handles."""
    calls: list[str] = []
    handles = [
        m.register_forward_hook(lambda *_, n=name: calls.append(n)) for name, m in model.attention_modules().items()
    ]
    return calls, handles


@pytest.mark.parametrize("flags_on", [True, False])
def test_warmup_gate_runs_no_attention_at_all(flags_on: bool) -> None:
    """Gate 0 = S4-only: no attention module runs (transformers, skip fusion, peak and cross-task attention) and
    the outputs do not depend on any attention weight; at gate 1 every attention runs again."""
    torch.manual_seed(0)
    model = make_model(**({} if flags_on else {"use_multi_scale_attention": False, "use_cross_attention": False}))
    assert len(model.attention_modules()) >= 6
    x, s, t = make_inputs(3)
    model.set_transformer_gate(0.0)
    calls, handles = _attention_calls(model)
    before = model(x, s, t)
    assert calls == []
    with torch.no_grad():  # attention scores (queries, keys) and the transformer layers are unused at gate 0
        for m in model.attention_modules().values():
            m.q.weight.add_(torch.randn_like(m.q.weight))
        for m in model.modules():
            if isinstance(m, GATED_TRANSFORMER_TYPES):
                for p in m.parameters():
                    p.add_(torch.randn_like(p))
    after = model(x, s, t)
    for k in before:
        assert torch.equal(before[k], after[k]), k
    model.set_transformer_gate(1.0)
    model(x, s, t)
    assert sorted(set(calls)) == sorted(model.attention_modules())
    for h in handles:
        h.remove()


def test_attention_gate_ramps_continuously(tiny: OptimizedHierarchicalUNet) -> None:
    """Half-way through the ramp the outputs lie between gate 0 and gate 1 (no jump when attention switches on)."""
    x, s, t = make_inputs(2)
    outs = {}
    for g in (0.0, 1e-4, 1.0):
        tiny.set_transformer_gate(g)
        outs[g] = tiny(x, s, t)["signal"]
    near = (outs[1e-4] - outs[0.0]).abs().max()
    assert 0 < near < 1e-2 * (outs[1.0] - outs[0.0]).abs().max()


def test_transformer_gate_zero_removes_transformer_branches(tiny: OptimizedHierarchicalUNet) -> None:
    x, s, t = make_inputs(2)
    tiny.set_transformer_gate(0.0)
    before = tiny(x, s, t)
    with torch.no_grad():
        for m in tiny.modules():
            if isinstance(m, GATED_TRANSFORMER_TYPES):
                for p in m.parameters():
                    p.add_(torch.randn_like(p))
    after = tiny(x, s, t)
    for k in before:
        assert torch.equal(before[k], after[k]), k
    tiny.set_transformer_gate(1.0)
    assert not torch.equal(tiny(x, s, t)["signal"], before["signal"])
    assert float(tiny.transformer_gate) == 1.0
    with pytest.raises(ValueError):
        tiny.set_transformer_gate(1.5)


FLAGS = [
    "use_task_specific_extractors",
    "use_attention_skip_connections",
    "use_multi_scale_attention",
    "use_cross_attention",
    "enable_joint_generation",
]


@pytest.mark.parametrize("flag", FLAGS)
def test_each_flag_off_still_runs(flag: str) -> None:
    torch.manual_seed(0)
    model = make_model(**{flag: False})
    x, s, t = make_inputs(2)
    out = model(x, s, t)
    keys = set(OUTPUT_KEYS) - (
        {"static_params", "static_params_logvar"} if flag == "enable_joint_generation" else set()
    )
    assert set(out) == keys
    assert all(torch.isfinite(v).all() for v in out.values())
    sum(v.sum() for v in out.values()).backward()


def test_flags_off_remove_their_components() -> None:
    from abrnet.models.attention import MultiScaleAttention
    from abrnet.models.blocks import AttentionSkipConnection

    model = make_model(**dict.fromkeys(FLAGS, False))
    assert model.task_features is None and model.static_head is None
    assert not any(isinstance(m, MultiScaleAttention | AttentionSkipConnection) for m in model.modules())
    assert not any(type(m).__name__ == "CrossAttentionTransformerBlock" for m in model.modules())


def test_constructor_keywords_override_config() -> None:
    cfg = ModelConfig.from_preset("tiny")
    model = OptimizedHierarchicalUNet(cfg, use_task_specific_extractors=False, dropout=0.2)
    assert model.config.use_task_specific_extractors is False and model.config.dropout == 0.2
    assert cfg.use_task_specific_extractors is True  # caller's config untouched
    assert OptimizedHierarchicalUNet().config == ModelConfig()


def test_optimizer_groups_cover_each_parameter_once(tiny: OptimizedHierarchicalUNet) -> None:
    groups = tiny.optimizer_groups(lr=3e-4, transformer_lr=1e-4, weight_decay=0.05)
    seen = [id(p) for g in groups for p in g["params"]]
    assert len(seen) == len(set(seen)) == len(list(tiny.parameters()))
    by_name = {g["name"]: g for g in groups}
    transformer = {id(p) for m in tiny.modules() if isinstance(m, GATED_TRANSFORMER_TYPES) for p in m.parameters()}
    for g in groups:
        ids = {id(p) for p in g["params"]}
        if g["name"].startswith("transformer"):
            assert g["lr"] == 1e-4 and ids <= transformer
        elif g["name"].startswith("ssm"):
            assert g["lr"] == tiny.config.s4_lr and g["weight_decay"] == 0.0
            assert all(hasattr(p, "_optim") for p in g["params"])
        else:
            assert g["lr"] == 3e-4 and not ids & transformer
    assert by_name["decay"]["weight_decay"] == by_name["transformer_decay"]["weight_decay"] == 0.05
    assert by_name["no_decay"]["weight_decay"] == by_name["transformer_no_decay"]["weight_decay"] == 0.0
    assert all(p.ndim >= 2 for p in by_name["decay"]["params"])
    assert any(p is tiny.condition.null_embedding for p in by_name["no_decay"]["params"])
    torch.optim.AdamW(groups)  # accepted as is


def test_attention_entropies_reported(tiny: OptimizedHierarchicalUNet) -> None:
    tiny(*make_inputs(2))
    ent = tiny.attention_entropies()
    assert set(ent) == set(tiny.attention_modules())  # every attention module reports
    assert "encoder.0.transformers.0.attn" in ent and "decoder.3.transformers.0.cross_attn" in ent
    assert "decoder.3.skip.attn" in ent and "task_features.peaks.attn" in ent
    assert all(0.05 < v <= 1.0 for v in ent.values())  # a fresh model attends broadly, not one-hot
    with torch.no_grad():  # sharpen one attention: its entropy (and only its) drops towards 0
        tiny.task_features.peaks.attn.q.weight.mul_(1e3)
    tiny(*make_inputs(2))
    sharp = tiny.attention_entropies()
    assert sharp["task_features.peaks.attn"] < 0.5 * ent["task_features.peaks.attn"]
    assert sharp["encoder.0.transformers.0.attn"] == pytest.approx(ent["encoder.0.transformers.0.attn"])


def test_entropy_accumulation_averages_every_analysis_row_only(tiny: OptimizedHierarchicalUNet) -> None:
    """Validation's collapse check: every row of every analysis pass (t = 0), diffusion passes left out."""
    name = "task_features.peaks.attn"
    xa, sa, _ = make_inputs(5, seed=1)
    xb, sb, _ = make_inputs(3, seed=2)
    tiny.set_attention_monitoring(None)
    singles = []
    for x, s in ((xa, sa), (xb, sb)):
        tiny(x, s)
        singles.append(tiny.attention_entropies()[name])
    tiny.start_entropy_accumulation()
    tiny(xa, sa, torch.zeros(5, dtype=torch.long))
    tiny(xa * 5, sa, torch.full((5,), 500))  # a diffusion pass: not counted
    tiny(xb, sb)  # t = None is the analysis path too
    got = tiny.stop_entropy_accumulation()
    assert got[name] == pytest.approx((5 * singles[0] + 3 * singles[1]) / 8, rel=1e-5)
    assert tiny.stop_entropy_accumulation() == {}  # stopped: nothing more is collected
    tiny.set_attention_monitoring(0)
    tiny(xa, sa)
    assert tiny.attention_entropies() == {}  # monitoring off: training steps skip the cost


@pytest.mark.parametrize(("preset", "low", "high"), [("tiny", 100_000, 300_000), ("cpu", 1_000_000, 1_500_000)])
def test_preset_parameter_counts(preset: str, low: int, high: int) -> None:
    model = OptimizedHierarchicalUNet(ModelConfig.from_preset(preset))
    assert low <= sum(p.numel() for p in model.parameters()) < high


def test_base_preset_is_published_size_class() -> None:
    cfg = ModelConfig.from_preset("base")
    assert cfg.base_channels == 64 and cfg.levels == 4


@pytest.mark.parametrize(
    ("field", "value"),
    [("levels", 0), ("dropout", 1.0), ("cond_drop_prob", -0.1), ("channel_mults", (1, 2)), ("n_heads", 3),
     ("s4_init", "x"), ("input_length", 8)],
)  # fmt: skip
def test_config_validation_names_the_field(field: str, value: object) -> None:
    with pytest.raises(ValueError, match=field):
        ModelConfig.from_preset("tiny", **{field: value})


def test_from_preset_rejects_unknown() -> None:
    with pytest.raises(ValueError, match="preset"):
        ModelConfig.from_preset("huge")
    with pytest.raises(TypeError, match="unknown"):
        ModelConfig.from_preset("tiny", channels=3)
    assert dataclasses.replace(ModelConfig(), levels=3, channel_mults=(1, 2, 2)).lengths == (200, 100, 50, 25)


def test_separate_analysis_embedding_moves_only_the_analysis_rows() -> None:
    """With its own embedding, the t = 0 analysis path's static map can change without touching diffusion steps."""
    model = make_model(separate_analysis_embedding=True)
    x, static, _ = make_inputs(batch=4)
    t = torch.tensor([0, 0, 300, 700])
    with torch.no_grad():
        before = model(x, static, t)["signal"]
        for p in model.condition.static_analysis.parameters():
            p.add_(0.5 * torch.randn_like(p))
        after = model(x, static, t)["signal"]
    assert (after[:2] - before[:2]).abs().amax() > 1e-4  # analysis rows read the changed embedding
    torch.testing.assert_close(after[2:], before[2:], rtol=0, atol=0)  # diffusion rows do not


def test_separate_analysis_embedding_off_adds_no_parameters() -> None:
    """Off (the default) the state dict is the one earlier checkpoints hold."""
    names = [n for n, _ in make_model().named_parameters()]
    assert not any("static_analysis" in n for n in names)
    assert any("static_analysis" in n for n, _ in make_model(separate_analysis_embedding=True).named_parameters())
