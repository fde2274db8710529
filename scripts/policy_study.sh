#!/usr/bin/env bash
# The adaptive-policy study of docs/RESULTS.md ("The adaptive policy"): ORL-id runs of the
# reward designs and the fixed settings they compete with, three seeds each, every one trained
# (40 validation images held out, as for the constrained reward's reference) and attacked. About
# 10-15 s of training and 20 s of attack per run on an idle 2-core machine. Finished runs are
# skipped on a rerun; the summary is printed at the end.
#   scripts/policy_study.sh [RUNS_DIR]        (default runs/policy-study)
set -euo pipefail
cd "$(dirname "$0")/.."
runs="${1:-runs/policy-study}"
mkdir -p "$runs"
bin="$runs/hymask"
cp build/bin/hymask "$bin"
val="train.val_samples=40 train.val_every=8"
# The learned attack the study was measured with (scripts/report.sh's cpu profile says why).
attack="attack.aux_images=2000 attack.reconstruction_epochs=3 attack.reconstruction_restarts=1 attack.identity_weight=0"
[ -f "$runs/evaluator/eval.json" ] || "$bin" train --config configs/orl.yaml --out "$runs/evaluator" \
  mask.method=none seed=7 model.head=cosface model.scale=32 model.margin=0.35 \
  model.embedding=256 > "$runs/evaluator.log" 2>&1
point() {  # name seed overrides...
  local name="$1" seed="$2"; shift 2
  local dir="$runs/$name-s$seed"
  if [ ! -f "$dir/eval.json" ]; then
    rm -rf "$dir"
    # shellcheck disable=SC2086
    "$bin" train --config configs/orl.yaml --out "$dir" seed="$seed" $val "$@" > "$dir.log" 2>&1
  fi
  [ -f "$dir/attack/attack.json" ] ||
    # shellcheck disable=SC2086
    "$bin" attack --run "$dir" --evaluator "$runs/evaluator" --out "$dir/attack" $attack \
      > "$dir/attack.log" 2>&1
}
adaptive="mask.method=adaptive policy.update_every=8 policy.finish=0"  # as the study was measured
for seed in 1 2 3; do
  point mask "$seed" mask.method=mask
  point dp "$seed" mask.method=dp mask.dp_epsilon=8 mask.dp_clip=32
  point mixup-k2 "$seed" mask.method=mixup mask.k=2
  point mixup-k3-gaussian "$seed" mask.method=mixup mask.k=3 mask.weights=gaussian
  point mixup-k4 "$seed" mask.method=mixup mask.k=4
  point mixup-k6 "$seed" mask.method=mixup mask.k=6
  point adaptive-loss "$seed" $adaptive policy.reward=loss
  point adaptive-teacher "$seed" $adaptive policy.reward=teacher
  point adaptive-constrained-3 "$seed" $adaptive policy.reward=constrained \
    policy.reference="$runs/mask-s$seed" policy.max_accuracy_drop=3
  [ "$seed" = 1 ] || continue  # the policy choosing the drop level too: one seed was enough
  for reward in loss teacher; do
    point "adaptive-$reward-drop-levels-4" "$seed" $adaptive policy.reward=$reward policy.drop_levels=4
  done
  point adaptive-constrained-3-drop-levels-4 "$seed" $adaptive policy.reward=constrained \
    policy.reference="$runs/mask-s$seed" policy.max_accuracy_drop=3 policy.drop_levels=4
done
python3 - "$runs" <<'PY'
import glob, json, os, statistics, sys
rows = {}
for path in sorted(glob.glob(f"{sys.argv[1]}/*-s[0-9]/eval.json")):
    run = os.path.dirname(path)
    attack = json.load(open(f"{run}/attack/attack.json"))
    name = os.path.basename(run).rsplit("-s", 1)[0]
    rows.setdefault(name, []).append((100 * json.load(open(path))["top1"],
                                      100 * attack["reconstruction"]["identity_hit"],
                                      100 * attack["model_inversion"]["top1"]))
print("| row | seeds | ORL-id top-1 % | learned-attack hits % | model-inversion top-1 % |")
print("| --- | --- | --- | --- | --- |")
for name, values in rows.items():
    cells = []
    for column in zip(*values):
        cells.append(f"{statistics.mean(column):.1f} [{min(column):.1f}-{max(column):.1f}]")
    print(f"| {name} | {len(values)} | " + " | ".join(cells) + " |")
PY
