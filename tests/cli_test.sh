#!/usr/bin/env bash
# End-to-end checks of the hymask command line, as a user runs it.
# Usage: cli_test.sh BUILD_BIN_DIR
set -euo pipefail
bin="$1/hymask"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }

# mask: the same config and seed give the same bytes; the outputs are all there.
"$bin" mask --out "$work/a" --limit 40 mask.k=3 train.batch_size=16 --preview "$work/a/p.png"
"$bin" mask --out "$work/b" --limit 40 mask.k=3 train.batch_size=16
for f in protected.npy labels.npy weights.npy manifest.json; do
  cmp -s "$work/a/$f" "$work/b/$f" || fail "$f differs between two identical runs"
done
[ -s "$work/a/p.png" ] || fail "no preview written"
"$bin" mask --out "$work/c" --limit 40 mask.k=3 train.batch_size=16 seed=2
cmp -s "$work/a/protected.npy" "$work/c/protected.npy" && fail "another seed gave the same bytes"

# synth writes an image folder that mask then reads.
"$bin" synth --out "$work/faces" --identities 3 --images 4 --size 64
[ "$(find "$work/faces" -name '*.png' | wc -l)" -eq 12 ] || fail "synth did not write 12 faces"
"$bin" mask --data "$work/faces" --out "$work/d" data.image_size=32 mask.method=mask
grep -q '"count": 12' "$work/d/manifest.json" || fail "manifest does not count 12 samples"

# Bad input: exit code 2 and a message naming the key and file, or the folder.
printf 'mask:\n  kk: 1\n' > "$work/bad.yaml"
set +e
out=$("$bin" config check "$work/bad.yaml" 2>&1); code=$?
set -e
[ $code -eq 2 ] || fail "config check of a bad key exited $code, not 2"
echo "$out" | grep -q "unknown key 'mask.kk' in $work/bad.yaml" || fail "unclear message: $out"
set +e
out=$("$bin" mask --data "$work/nowhere" --out "$work/e" 2>&1); code=$?
set -e
[ $code -eq 1 ] || fail "missing data folder exited $code, not 1"
echo "$out" | grep -q "does not exist" || fail "unclear message: $out"
defaults=$("$bin" config check)
echo "$defaults" | grep -q '^  method: "mixup"' || fail "config check does not print defaults"
# train: stop part-way, resume, evaluate; SIGTERM stops with a checkpoint.
tiny=(data.synthetic_identities=5 data.synthetic_images_per_identity=6 data.image_size=32
      train.batch_size=6 train.epochs=6 model.embedding=32 model.scale=16 model.margin=0.2
      train.log_every=1 mask.method=adaptive)
"$bin" train --out "$work/run" "${tiny[@]}" train.stop_after=4 > "$work/log1" 2>&1
grep -q "paused at step 4/30" "$work/log1" || fail "no pause message: $(cat "$work/log1")"
"$bin" train --out "$work/run" --resume > "$work/log2" 2>&1 || fail "resume failed: $(cat "$work/log2")"
grep -q "resuming at step 4" "$work/log2" || fail "did not resume at step 4"
[ -s "$work/run/eval.json" ] || fail "no eval.json after training"
"$bin" eval --checkpoint "$work/run/checkpoint.pt" > "$work/eval" || fail "eval failed"
grep -q "synthetic-id" "$work/eval" || fail "eval printed no result"
set +e
"$bin" train --out "$work/run" "${tiny[@]}" > "$work/log3" 2>&1; code=$?
set -e
[ $code -eq 1 ] && grep -q "already holds a run" "$work/log3" || fail "overwrote a run (exit $code)"
"$bin" train --out "$work/long" "${tiny[@]}" train.epochs=400 > "$work/log4" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -q "step 3/" "$work/log4" && break; sleep 0.1; done
kill -TERM $pid
wait $pid || fail "SIGTERM exit code $?"
grep -q "stopped at step" "$work/log4" || fail "no checkpoint on SIGTERM: $(tail -3 "$work/log4")"
[ -s "$work/long/checkpoint.pt" ] || fail "SIGTERM left no checkpoint"
# The key reference in configs/README.md is the one the binary prints.
readme="$(dirname "$0")/../configs/README.md"
diff <(sed -n '/^```yaml$/,/^```$/p' "$readme" | sed '1d;$d') <("$bin" config check) > /dev/null ||
  fail "configs/README.md is stale: run scripts/config_reference.sh"
echo "cli tests passed"
