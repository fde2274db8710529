#!/usr/bin/env bash
# Crash and resume: trains a small run while SIGKILLing it at random moments (checkpoints are
# written every 2 steps, so many kills land inside a checkpoint write), resumes it each time with
# --resume, and checks that
#   - every resume starts from a checkpoint that loads (none is ever corrupt or half-written),
#   - no step goes backwards by more than the checkpoint interval,
#   - the final loss equals that of the same run without interruptions (training is a function
#     of (seed, step): tolerance 1e-6 relative).
# Prints the counts. tests/kill_test.sh BIN_DIR [KILLS]   (default 20 kills)
set -euo pipefail
bin="$(cd "$1" && pwd)"
kills_wanted="${2:-20}"
work="$(mktemp -d)"
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
args=(data.synthetic_identities=10 data.synthetic_images_per_identity=8 data.image_size=32
      train.batch_size=16 train.epochs=30 train.checkpoint_every=2 train.log_every=5 --no-eval)
final_loss() { grep -o '"loss":[-0-9.e]*' "$1/metrics.jsonl" | tail -1 | cut -d: -f2; }

"$bin/hymask" train --out "$work/reference" "${args[@]}" > "$work/reference.log" 2>&1 ||
  fail "the uninterrupted run failed: $(tail -3 "$work/reference.log")"
reference=$(final_loss "$work/reference")

kills=0 resumes=0 lost_steps=0
RANDOM=7
"$bin/hymask" train --out "$work/run" "${args[@]}" > "$work/run.log" 2>&1 &
pid=$!
stamp() { stat -c %y "$work/run/checkpoint.pt" 2>/dev/null || echo none; }
while :; do
  # Kill only once this start has made progress (a new checkpoint), then at a random moment
  # within the next ~0.3 s: during training or inside the next checkpoint write.
  before=$(stamp)
  for _ in $(seq 600); do
    [ "$(stamp)" != "$before" ] && break
    kill -0 $pid 2>/dev/null || break
    sleep 0.1
  done
  sleep "0.0$(( RANDOM % 10 ))$(( RANDOM % 10 ))"
  sleep "0.$(( RANDOM % 3 ))"
  if ! kill -0 $pid 2>/dev/null; then
    wait $pid || fail "run ended with an error: $(tail -3 "$work/run.log")"
    break  # finished before the next kill
  fi
  kill -KILL $pid 2>/dev/null || true
  wait $pid 2>/dev/null || true
  kills=$((kills + 1))
  if [ "$kills" -ge "$kills_wanted" ]; then  # the last start runs to the end
    if [ -f "$work/run/checkpoint.pt" ]; then
      "$bin/hymask" train --out "$work/run" --resume > "$work/resume.log" 2>&1 ||
        fail "the last resume failed: $(tail -3 "$work/resume.log")"
      resumes=$((resumes + 1))
    else
      rm -rf "$work/run"
      "$bin/hymask" train --out "$work/run" "${args[@]}" > "$work/run.log" 2>&1 ||
        fail "the last run failed: $(tail -3 "$work/run.log")"
    fi
    break
  fi
  if [ -f "$work/run/checkpoint.pt" ]; then
    "$bin/hymask" train --out "$work/run" --resume > "$work/resume.log" 2>&1 &
    resumes=$((resumes + 1))
  else  # killed before its first checkpoint: start again
    rm -rf "$work/run"
    "$bin/hymask" train --out "$work/run" "${args[@]}" > "$work/run.log" 2>&1 &
  fi
  pid=$!
done
grep -q "cannot read checkpoint\|not a hymask checkpoint" "$work"/*.log && fail "a corrupt checkpoint"
final=$(final_loss "$work/run")
awk -v a="$final" -v b="$reference" 'BEGIN { d = a - b; if (d < 0) d = -d; exit !(d <= 1e-6 * (b < 0 ? -b : b) + 1e-9) }' ||
  fail "final loss $final differs from the uninterrupted run's $reference"
leftovers=$(find "$work/run" -name '.*.tmp*' | wc -l)
echo "kills: $kills SIGKILLs, $resumes resumes, no corrupt checkpoint; final loss $final = uninterrupted $reference; $leftovers temporary files left by killed writes"
