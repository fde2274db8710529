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
"$bin" config check | grep -q '^  method: "mixup"' || fail "config check does not print defaults"
echo "cli tests passed"
