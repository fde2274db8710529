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
# Bad files and empty identity folders: training names every one of them.
mkdir -p "$work/faces/s_empty"
printf 'not a jpeg' > "$work/faces/$(ls "$work/faces" | head -1)/broken.jpg"
printf 'nor this' > "$work/faces/$(ls "$work/faces" | head -1)/broken2.png"
"$bin" train --out "$work/bad" data.root="$work/faces" data.image_size=32 \
  mask.method=mask train.batch_size=4 train.epochs=1 --no-eval > "$work/logb" 2>&1 ||
  fail "training with bad files failed: $(cat "$work/logb")"
for name in broken.jpg broken2.png "s_empty: identity folder holds no image"; do
  grep -q "skipped .*$name" "$work/logb" || fail "training did not name $name: $(cat "$work/logb")"
done
rm -rf "$work/faces/s_empty" "$work/faces"/*/broken*

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
# eval with a config that builds another model: one line naming the key, no LibTorch trace.
set +e
out=$("$bin" eval --checkpoint "$work/run/checkpoint.pt" model.embedding=64 2>&1); code=$?
set -e
[ $code -eq 2 ] && [ "$(echo "$out" | wc -l)" -eq 1 ] && echo "$out" | grep -q "'model.embedding' differs" ||
  fail "eval with another model: exit $code: $out"
# An adaptive run records every step's action, and never emits an unmixed face (k >= 2) unless
# policy.k_min=1 asks for it.
python3 - "$work/run/actions-rank0.csv" <<'PY' || fail "action history"
import csv, sys
rows = list(csv.DictReader(open(sys.argv[1])))
assert [int(r["step"]) for r in rows] == list(range(30)), [r["step"] for r in rows]
assert min(int(r["k"]) for r in rows) >= 2, "an unmixed face was emitted"
PY
# mask --checkpoint: the run's trained policy chooses each batch's action; the same seed gives the
# same bytes, and the actions in the manifest follow the policy's distribution (chi-square).
"$bin" mask --checkpoint "$work/run/checkpoint.pt" --out "$work/m1" train.batch_size=6 \
  data.synthetic_identities=100 data.synthetic_images_per_identity=60 > "$work/logm" 2>&1 ||
  fail "mask --checkpoint failed: $(cat "$work/logm")"
"$bin" mask --checkpoint "$work/run/checkpoint.pt" --out "$work/m2" train.batch_size=6 \
  data.synthetic_identities=100 data.synthetic_images_per_identity=60 > /dev/null 2>&1
for f in protected.npy labels.npy weights.npy manifest.json; do
  cmp -s "$work/m1/$f" "$work/m2/$f" || fail "mask --checkpoint: $f differs between two runs"
done
python3 - "$work/m1/manifest.json" <<'PY' || fail "manifest actions"
import json, sys
manifest = json.load(open(sys.argv[1]))
samples = manifest["samples"]
p = manifest["policy"]["probabilities"]["k"]
batches = [s["action"]["k"] for s in samples[::6]]  # one action per batch of 6
n = len(batches)
assert n >= 1000, n
chi2 = sum((batches.count(k) - n * q) ** 2 / (n * q) for k, q in zip(range(2, 2 + len(p)), p))
assert chi2 < 18.5, (chi2, p)  # 4 degrees of freedom: p < 0.001
assert all(len(s["constituents"]) == s["action"]["k"] for s in samples)
PY
set +e
out=$("$bin" mask --out "$work/m3" mask.method=adaptive 2>&1); code=$?
set -e
[ $code -eq 2 ] && echo "$out" | grep -q -- "--checkpoint RUN/checkpoint.pt" ||
  fail "mask of adaptive without a checkpoint: exit $code, $out"
# eval.audit: a finished run audited on resume (eval.* keys may change). Without masking the
# linear attack returns the faces themselves, identified as often as the clean faces; the
# adaptive run's samples, drawn from its recorded actions, are mixed and recovered less well.
"$bin" train --out "$work/none" "${tiny[@]}" mask.method=none train.epochs=1 --no-eval > /dev/null 2>&1
for run in none run; do
  "$bin" train --out "$work/$run" --resume eval.audit=true attack.aux_root="$work/nowhere" \
    > "$work/loga" 2>&1 || fail "audit of $run failed: $(cat "$work/loga")"
  grep -q "audit: linear attack SSIM" "$work/loga" || fail "no audit line: $(cat "$work/loga")"
done
python3 - "$work/none/eval.json" "$work/run/eval.json" <<'PY' || fail "audit figures"
import json, sys
none, adaptive = (json.load(open(f))["audit"] for f in sys.argv[1:])
assert none["linear"]["ssim"] > 0.999, none
assert none["linear"]["identity_hit"] == none["reference"]["identity_hit_of_clean_faces"], none
assert adaptive["linear"]["ssim"] < none["linear"]["ssim"] - 0.05, adaptive
assert "audited faces" in none["prior"], none["prior"]
assert none["model_inversion"]["identities"] == 5 and none["linear"]["samples"] == 30, none
PY
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
