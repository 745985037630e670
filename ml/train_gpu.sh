#!/usr/bin/env bash
# The accelerator run behind the shipped weights: the paper's recipe and the candidate recipes side by
# side on one GPU (a batch-32 CNN leaves an H100/H200 mostly idle, so they share it), then the model-limit
# benchmark. Usage: ml/train_gpu.sh DATA_DIR RESULTS_DIR
set -uo pipefail
DATA=${1:?data folder}
RESULTS=${2:?results folder}
RUNS=${RUNS_DIR:-/tmp/runs}
mkdir -p "$RESULTS" "$RUNS"
export PYTHONUNBUFFERED=1
nvidia-smi -L
python3 -c "import torch, PIL.features as f; print(torch.__version__, torch.cuda.get_device_name(), 'webp', f.check('webp'))" || exit 1

# Exercise every GPU code path on a small subset first, so a bug costs seconds, not the run.
python3 -m ml train --data "$DATA" --out "$RUNS/smoke" --config improved --epochs 1 --limit 400 --device cuda \
  > "$RUNS/smoke.log" 2>&1 || { cat "$RUNS/smoke.log"; exit 1; }
tail -3 "$RUNS/smoke.log"

declare -A RECIPES=(
  [paper]="--config paper"
  [reference]="--config improved --epochs 46 --set warmup_epochs=0 --set weight_decay=0 --set rotate_degrees=0 --set contrast=0 --set ema_decay=0"
  [improved]="--config improved"
  [improved-balanced]="--config improved --set balanced_sampling=true"
)
for name in "${!RECIPES[@]}"; do
  # shellcheck disable=SC2086
  timeout "${RUN_LIMIT_S:-470}" python3 -m ml train --data "$DATA" --out "$RUNS/$name" ${RECIPES[$name]} --device cuda \
    > "$RUNS/$name.log" 2>&1 &
done
wait
for name in "${!RECIPES[@]}"; do
  echo "== $name"; grep -E "epoch [0-9]+/|temperature|wrote" "$RUNS/$name.log" | tail -3
  tar -czf "$RESULTS/$name.tar.gz" -C "$RUNS" --exclude='checkpoint.ckpt.safetensors' "$name" "$name.log"
done
python3 -m bench.model_limit --device cuda --weights "$RUNS/improved/model.safetensors" --batch-sizes 1 32 128 \
  --seconds 2 --json "$RESULTS/model_limit_gpu.json"
