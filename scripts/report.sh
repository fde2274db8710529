#!/usr/bin/env bash
# The privacy/utility comparison of docs/RESULTS.md, regenerated end to end: every method row is
# trained on ORL-id and on LFW-disjoint-5 with the same budget, evaluated, attacked
# (`hymask attack`: linear, multi-observation, learned reconstruction, model inversion), and the
# table, plots and image grid are written. Every finished piece is kept and skipped on a rerun, so
# an interrupted report continues where it stopped. Needs ../shared/data.
#
#   scripts/report.sh [--profile cpu|gpu] [--runs DIR] [--stage train|attack|table|all]
#
# Profiles: cpu (default) is sized for a 2-core machine, about two hours in all (LFW: 4 epochs
# per method); gpu is the
# full-size run (IResNet-50, 30 LFW epochs, every auxiliary image) for a machine with a GPU.
set -euo pipefail
cd "$(dirname "$0")/.."

profile=cpu
runs=runs/report
stage=all
while [ $# -gt 0 ]; do
  case "$1" in
    --profile) profile="$2"; shift 2 ;;
    --runs) runs="$2"; shift 2 ;;
    --stage) stage="$2"; shift 2 ;;
    -h|--help) sed -n '2,11p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
    *) echo "unknown argument $1 (see --help)" >&2; exit 2 ;;
  esac
done
case "$profile" in
  cpu) orl_extra=""; lfw_extra="train.epochs=4"; attack_extra="" ;;
  gpu) orl_extra="model.backbone=iresnet50 train.epochs=60"
       lfw_extra="model.backbone=iresnet50 train.epochs=30"
       attack_extra="attack.aux_images=0 attack.reconstruction_epochs=20 attack.inversion_steps=500" ;;
  *) echo "unknown profile $profile (cpu or gpu)" >&2; exit 2 ;;
esac
if [ ! -d ../shared/data/orl ] || [ ! -d ../shared/data/lfw ]; then
  echo "the report needs ../shared/data/orl and ../shared/data/lfw (see ../shared/data/README.md)" >&2
  exit 1
fi

# The rows of the table: name, then the config overrides that make the method.
rows=(
  "none       mask.method=none"
  "mask       mask.method=mask"
  "dp         mask.method=dp mask.dp_epsilon=8 mask.dp_clip=32"
  "instahide  mask.method=instahide mask.k=4 mask.weights=gaussian mask.weight_cap=0.65"
  "mixup-k2   mask.method=mixup mask.k=2"
  "mixup-k4   mask.method=mixup mask.k=4"
  "mixup-k6   mask.method=mixup mask.k=6"
  "adaptive   mask.method=adaptive"
)
# The attacks' evaluator: an independent FR model trained on the raw ORL training images (another
# seed, head and embedding size than the `none` row's model).
evaluator="mask.method=none seed=7 model.head=cosface model.scale=32 model.margin=0.35 model.embedding=256"

mkdir -p "$runs"
# Run a copy, so that rebuilding during the (long) runs cannot change the binary under them.
# One copy per stage: stages may run side by side (a copy in use cannot be overwritten).
bin="$runs/bin-$stage/hymask"
mkdir -p "$(dirname "$bin")"
cp build/bin/hymask "$bin"

train() {  # name config overrides...
  local name="$1" config="$2"; shift 2
  local dir="$runs/$name"
  if [ -f "$dir/eval.json" ]; then return; fi
  rm -rf "$dir"
  local start; start=$(date +%s)
  "$bin" train --config "$config" --out "$dir" "$@" > "$dir.log" 2>&1 \
    || { echo "$name: training failed, see $dir.log" >&2; exit 1; }
  echo "$name: trained in $(( $(date +%s) - start )) s: $(tail -1 "$dir.log" | sed 's/.*evaluation: //')"
}

if [ "$stage" = all ] || [ "$stage" = train ]; then
  # shellcheck disable=SC2086
  train orl-evaluator configs/orl.yaml $evaluator $orl_extra
  for row in "${rows[@]}"; do
    read -r name overrides <<< "$row"
    # shellcheck disable=SC2086
    train "orl-$name" configs/orl.yaml $overrides $orl_extra
  done
  for row in "${rows[@]}"; do
    read -r name overrides <<< "$row"
    # shellcheck disable=SC2086
    train "lfw-$name" configs/lfw.yaml $overrides $lfw_extra
  done
fi

if [ "$stage" = all ] || [ "$stage" = attack ]; then
  for row in "${rows[@]}"; do
    read -r name _ <<< "$row"
    dir="$runs/orl-$name"
    if [ -f "$dir/attack/attack.json" ]; then continue; fi
    start=$(date +%s)
    # shellcheck disable=SC2086
    "$bin" attack --run "$dir" --evaluator "$runs/orl-evaluator" --out "$dir/attack" $attack_extra \
      > "$dir/attack.log" 2>&1 || { echo "$name: attack failed, see $dir/attack.log" >&2; exit 1; }
    echo "$name: attacked in $(( $(date +%s) - start )) s"
  done
fi

if [ "$stage" = all ] || [ "$stage" = table ]; then
  names=()
  for row in "${rows[@]}"; do read -r name _ <<< "$row"; names+=("$name"); done
  python3 scripts/report_table.py "$runs" docs "${names[@]}"
fi
