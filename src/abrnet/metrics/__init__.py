"""Clinical read-outs computed from signals and peak latencies (pure numpy; no model, no files)."""
