#!/usr/bin/env bash
# The GPU check, in one call of at most about 8 minutes on one GPU: every cell of the paper
# profile's preflight on the GPU, fast path off and on, each interrupted after its checkpoint
# and resumed; device name, s/step and peak GPU memory per cell and mode go to
# results/paper-preflight/gpu_check.{md,json}.
#
#   workflow/scripts/gpu_check.sh                 # on the GPU ($SEMIGAN_DEVICE, default cuda)
#   GPU_CHECK_STEPS=4 SEMIGAN_DEVICE=cpu workflow/scripts/gpu_check.sh --only mnist/n100/supervised
#
# GPU_CHECK_STEPS (default 20) steps per cell; GPU_CHECK_OUT (default results/paper-preflight);
# further arguments go to `python -m semigan.gpu_check` (--only <run prefixes>, --modes plain|fast).
set -euo pipefail
cd "$(dirname "$0")/../.."
export SEMIGAN_DEVICE="${SEMIGAN_DEVICE:-cuda}"
steps="${GPU_CHECK_STEPS:-20}"
out="${GPU_CHECK_OUT:-results/paper-preflight}"
mkdir -p "$out"
if command -v nvidia-smi >/dev/null 2>&1; then
  nvidia-smi --query-gpu=name,memory.total,driver_version --format=csv > "$out/gpu_check_nvidia_smi.csv" || true
fi
exec "${PYTHON:-python}" -m semigan.gpu_check --steps "$steps" --out "$out" "$@"
