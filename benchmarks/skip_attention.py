"""What the decoder's attention skip fusion attends to: local keys, one key for every query, or everything?

The training alert `attention_collapse` fires when an attention's mean normalised entropy falls under a floor; in
longer fits it fires on the decoder's skip fusion. A low entropy is not by itself a defect (attending to one's own
position is low-entropy and useful), so this script says which kind it is, per skip connection, on validation records:
the entropy, the mean largest weight, how many distinct keys the queries of one head pick as their largest weight
(1 = every query reads the same key: a sink), how far that key is from the query's own position, and the mean of
the sigmoid gate that mixes the attended skip into the raw one.

    python benchmarks/skip_attention.py --checkpoint runs/final/best.ckpt src/abrnet/inference/weights/abrnet-cpu.ckpt
"""

from __future__ import annotations

import argparse
from pathlib import Path

import numpy as np
import torch

from _common import (
    analysis_predictions,
    parse_args,
    provenance,
    require_checkpoint,
    results_head,
    validation_sample,
    write_results,
)
from abrnet.inference.checkpoint import LoadedModel, load_checkpoint
from abrnet.models.attention import normalised_entropy
from abrnet.models.blocks import AttentionSkipConnection


def _statistics(weights: torch.Tensor, gate: torch.Tensor) -> dict[str, float]:
    """The module doc's statistics of one batch: weights (B, H, T, S), gate (B, C, T)."""
    _, _, n_q, n_k = weights.shape
    top = weights.argmax(dim=-1).float()  # (B, H, T)
    own = torch.arange(n_q).float() * (n_k - 1) / max(n_q - 1, 1)  # (T,) the query's own position among the keys
    return {
        "length": n_q,
        "entropy": float(normalised_entropy(weights)),
        "mean_max_weight": float(weights.max(dim=-1).values.mean()),
        "distinct_top_keys_per_head": float(np.mean([len(torch.unique(r)) for r in top.reshape(-1, n_q)])),
        "top_key_distance_samples": float((top - own).abs().mean()),
        "gate_mean": float(gate.mean()),
    }


def skip_attention(loaded: LoadedModel, n_records: int) -> dict[str, dict[str, float]]:
    """Per skip connection: the statistics of the module doc on `n_records` validation records (analysis path),
    averaged over the pass's batches weighted by their size."""
    batches: dict[str, list[tuple[int, dict[str, float]]]] = {}

    def hook(name: str):
        @torch.no_grad()
        def record(module: AttentionSkipConnection, args: tuple, _out: torch.Tensor) -> None:
            x, skip = args  # (B, C, T) each
            q, kv = module.norm_q(x).transpose(1, 2), module.norm_kv(skip).transpose(1, 2)  # (B, T, C)
            attn = module.attn
            qh, (kh, _) = attn.split_heads(attn.q(q)), attn.keys_values(kv)  # (B, H, T, d), (B, H, S, d)
            weights = attn.weights(qh, kh)  # (B, H, T, S)
            attended = attn(q, kv).transpose(1, 2)  # (B, C, T)
            gate = torch.sigmoid(module.gate(torch.cat([x, skip, attended], dim=1)))  # (B, C, T)
            batches.setdefault(name, []).append((x.shape[0], _statistics(weights, gate)))

        return record

    handles = [
        m.register_forward_hook(hook(name))
        for name, m in loaded.model.named_modules()
        if isinstance(m, AttentionSkipConnection)
    ]
    try:
        analysis_predictions(loaded, validation_sample(loaded, n_records))
    finally:
        for h in handles:
            h.remove()
    out = {}
    for name, parts in batches.items():
        sizes = np.array([n for n, _ in parts], dtype=np.float64)
        out[name] = {k: float(np.average([st[k] for _, st in parts], weights=sizes)) for k in parts[0][1]}
        out[name]["length"] = int(parts[0][1]["length"])
    return out


def to_markdown(result: dict) -> str:
    lines = [
        *results_head("The decoder's attention skip fusion: what it attends to", result),
        "| checkpoint | skip connection | length | entropy | mean max weight | distinct top keys per head | "
        "top key's distance (samples) | gate mean |",
        "|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for path, rows in result["checkpoints"].items():
        for name, r in rows.items():
            lines.append(
                f"| `{path}` | {name} | {r['length']} | {r['entropy']:.3f} | {r['mean_max_weight']:.2f} | "
                f"{r['distinct_top_keys_per_head']:.1f} | {r['top_key_distance_samples']:.1f} | {r['gate_mean']:.2f} |"
            )
    lines += [
        "",
        f"{result['records']} validation records. Entropy 1 = uniform weights (the attended skip is the same mean of",
        "every position for each query); a low entropy with ~1 distinct top key per head is a sink (every query reads",
        "one key); a low entropy with many distinct top keys near distance 0 would be local attention.",
    ]
    return "\n".join(lines) + "\n"


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    ap.add_argument("--checkpoint", type=Path, nargs="+", default=[Path("runs/default/best.ckpt")])
    ap.add_argument("--records", type=int, default=256, help="validation records to read")
    args = parse_args(ap, "skip_attention")
    require_checkpoint(*args.checkpoint)
    checkpoints = {str(p): skip_attention(load_checkpoint(p), args.records) for p in args.checkpoint}
    result = {**provenance(), "records": args.records, "checkpoints": checkpoints}
    write_results("skip_attention", result, to_markdown(result), force=args.force)


if __name__ == "__main__":
    main()
