#!/usr/bin/env bash
# One short GPU session (~9 minutes on one H100/H200): two time-boxed trainings on the default cohort (the `cpu`
# preset and the `base` preset, each evaluated on the held-out test patients), then the GPU throughput benchmarks
# (model, train, predict, generate). Everything lands in $OUT (default benchmarks/results/gpu):
#   log.txt, bench.tar.gz (benchmark JSON/Markdown), run_cpu.tar.gz / run_base.tar.gz (metrics.json, metrics.md,
#   run.json, alerts.jsonl, config.yaml) and the two best checkpoints without optimizer state (base in fp16).
# Usage: OUT=DIR bash benchmarks/gpu.sh [MINUTES_PER_TRAINING]   (PYTHON=... to pick the interpreter)
set -u
OUT=${OUT:-benchmarks/results/gpu}
MIN=${1:-2.0}
PY=${PYTHON:-python3}
mkdir -p "$OUT"
export PYTHONUNBUFFERED=1 PYTHONPATH=$PWD/src:$PWD/benchmarks${PYTHONPATH:+:$PYTHONPATH}
exec > >(tee "$OUT/log.txt") 2>&1
stamp() { echo "=== $(date +%T) $*"; }

stamp setup
nvidia-smi -L
$PY -c "import torch, abrnet, lightning; print('torch', torch.__version__, torch.cuda.get_device_name())" || exit 1

train() {  # NAME PRESET BATCH LR TRANSFORMER_LR
  stamp "train $1"
  timeout $((${MIN%.*} * 60 + 200)) $PY -m abrnet train --preset "$2" --patients 2000 --max-minutes "$MIN" \
    --max-steps 100000 --set data.batch_size="$3" --set optim.lr="$4" --set optim.transformer_lr="$5" \
    --set optim.ema_decay=0.999 --set trainer.val_every_n_steps=500 --set trainer.log_every_n_steps=100 \
    --out "runs/gpu_$1" || echo "train $1 failed: $?"
  tar czf "$OUT/run_$1.tar.gz" -C "runs/gpu_$1" --ignore-failed-read metrics.json metrics.md run.json \
    alerts.jsonl config.yaml 2>/dev/null
}
strip() {  # CKPT DEST DTYPE: weights, hyper-parameters and the series stage only (what load_checkpoint reads)
  $PY - "$1" "$2" "$3" <<'EOF'
import sys, torch
src, dst, dtype = sys.argv[1:]
c = torch.load(src, map_location="cpu", weights_only=True)
keep = {k: c[k] for k in ("hyper_parameters", "abrnet", "abrnet_series_classifier", "global_step") if k in c}
cast = torch.float16 if dtype == "fp16" else torch.float32
keep["state_dict"] = {k: v.to(cast) if v.is_floating_point() else v for k, v in c["state_dict"].items()}
torch.save(keep, dst)
EOF
}

train cpu cpu 256 2e-3 1e-3
strip runs/gpu_cpu/best.ckpt "$OUT/best_cpu_gpu.ckpt" fp32
train base base 256 8e-4 4e-4
strip runs/gpu_base/best.ckpt "$OUT/best_base_gpu.ckpt" fp16

stamp bench model
timeout 90 $PY benchmarks/model.py --device cuda --dtype bf16
stamp bench train
timeout 100 $PY benchmarks/train.py --device cuda --presets cpu base large --batch 256 --budget-s 6
stamp bench predict
timeout 60 $PY benchmarks/predict.py --device cuda --checkpoint runs/gpu_cpu/best.ckpt --records 2048
stamp bench generate
timeout 90 $PY benchmarks/generate.py --device cuda --checkpoint runs/gpu_cpu/best.ckpt --n 256
tar czf "$OUT/bench.tar.gz" --ignore-failed-read benchmarks/results/*cuda* 2>/dev/null
stamp done
