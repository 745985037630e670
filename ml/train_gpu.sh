#!/usr/bin/env bash
# The accelerator run behind the shipped weights: ml/train_gpu.sh DATA_DIR RESULTS_DIR [RECIPE ...]
#
# Recipes run one after another. Measured on one H200: alone, an epoch of the paper recipe takes 2.3-2.6 s
# and one of the BN recipes 2.6-2.8 s; four runs sharing the GPU took 8-12 s per epoch each, slower in
# total than running them in turn, so never run them side by side.
# The robust recipe shifts half the training images each epoch in CPU worker processes, one epoch ahead;
# it has not been timed on the GPU yet, so give it room: RUN_LIMIT_S=900 ml/train_gpu.sh DATA OUT robust.
# Each finished run is packed into RESULTS_DIR/<recipe>.tar.gz at once (checkpoints with optimizer state
# left out), so a run cut short by the time limit loses only itself.
set -uo pipefail
DATA=${1:?data folder}
RESULTS=${2:?results folder}
shift 2
RUNS=${RUNS_DIR:-/tmp/runs}
mkdir -p "$RESULTS" "$RUNS"
export PYTHONUNBUFFERED=1
nvidia-smi -L
python3 -c "import torch, PIL.features as f; print(torch.__version__, torch.cuda.get_device_name(), 'webp', f.check('webp'))" || exit 1

recipe_args() {
  case "$1" in
    paper) echo "--config paper" ;;
    improved) echo "--config improved" ;;
    reference) echo "--config improved --epochs 46 --set warmup_epochs=0 --set weight_decay=0 --set rotate_degrees=0 --set contrast=0 --set ema_decay=0" ;;
    balanced) echo "--config improved --set balanced_sampling=true" ;;
    robust) echo "--config robust" ;;
    *) echo "unknown recipe $1" >&2; return 1 ;;
  esac
}

# Exercise every GPU code path on a small subset first, so a bug costs seconds, not the run. The robust
# preset's code paths include the improved one's (BN, EMA) plus standardisation and the shift workers.
python3 -m ml train --data "$DATA" --out "$RUNS/smoke" --config robust --epochs 2 --limit 400 --device cuda \
  > "$RUNS/smoke.log" 2>&1 || { cat "$RUNS/smoke.log"; exit 1; }

for name in "${@:-improved paper}"; do
  for recipe in $name; do
    args=$(recipe_args "$recipe") || exit 1
    # shellcheck disable=SC2086
    timeout "${RUN_LIMIT_S:-330}" python3 -m ml train --data "$DATA" --out "$RUNS/$recipe" $args --device cuda \
      > "$RUNS/$recipe.log" 2>&1
    echo "== $recipe (exit $?)"; grep -E "epoch [0-9]+/|temperature|wrote" "$RUNS/$recipe.log" | tail -3
    tar -czf "$RESULTS/$recipe.tar.gz" -C "$RUNS" --exclude='checkpoint.ckpt.safetensors' "$recipe" "$recipe.log"
  done
done
first=$(ls "$RUNS"/*/model.safetensors 2>/dev/null | grep -v smoke | head -1)
python3 -m bench.model_limit --device cuda ${first:+--weights "$first"} --batch-sizes 1 32 128 --seconds 1.5 \
  --json "$RESULTS/model_limit_gpu.json"
