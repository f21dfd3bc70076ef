#!/bin/sh
# Install PyTorch without pulling a multi-GB CUDA build onto CPU-only machines.
#   - a machine with an NVIDIA driver gets the default (CUDA) build of torch;
#   - otherwise torch==2.13.0, which resolves to a local CPU wheel where pip's find-links provides one;
#     elsewhere set TORCH_INDEX_URL to PyTorch's CPU wheel index to get the CPU build.
set -e
PIP=${PIP:-"python3 -m pip"}
if $PIP show torch >/dev/null 2>&1; then exit 0; fi
if command -v nvidia-smi >/dev/null 2>&1 && nvidia-smi -L >/dev/null 2>&1; then
    $PIP install -q "torch>=2.3"
elif [ -n "${TORCH_INDEX_URL:-}" ]; then
    $PIP install -q torch --index-url "$TORCH_INDEX_URL"
else
    $PIP install -q "torch==2.13.0"
fi
