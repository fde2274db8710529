#!/usr/bin/env bash
# InsightFace's verification sets and the trained model in use:
#  - `hymask eval --bin` on .bin sets written by scripts/make_verification_bin.py (pickle
#    protocols 2 to 5, lists or NumPy arrays) equals `hymask eval --pairs` on the folder they were
#    made from, every metric to the last digit; on LFW itself (6,000 pairs) when ../shared/data is
#    there;
#  - damaged sets are refused with clear errors;
#  - `hymask embed` writes one L2-normalised row per image, the same from a folder and from its
#    RecordIO pack.
#   tests/verification_bin_test.sh BIN_DIR      (KEEP=1 keeps its work folder, to look into a failure)
set -euo pipefail
bin="$1/hymask"
here="$(cd "$(dirname "$0")" && pwd)"
make_bin="$here/../scripts/make_verification_bin.py"
work=$(mktemp -d)
trap '[ -n "${KEEP:-}" ] || rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
data="${HYMASK_DATA_DIR:-$here/../../shared/data}"
numpy=$(python3 -c 'import numpy' 2> /dev/null && echo yes || echo no)

# A small face folder in LFW's layout (Name/Name_NNNN.jpg; the files are PNG, which the decoder
# recognises by content) and a pairs file of 10 folds of 3 same- and 3 different-person pairs.
"$bin" synth --out "$work/synth" --identities 6 --images 8 --size 64 > /dev/null
mkdir "$work/faces"
for dir in "$work"/synth/*/; do
  name=$(basename "$dir")
  mkdir "$work/faces/$name"
  n=0
  for f in "$dir"*; do n=$((n + 1)); cp "$f" "$work/faces/$name/${name}_$(printf %04d $n).jpg"; done
done
python3 - "$work/faces" "$work/pairs.txt" <<'PY'
import os, random, sys
root, out = sys.argv[1:]
people = sorted(os.listdir(root))
rng = random.Random(3)
lines = ["10\t3"]
for fold in range(10):
    for _ in range(3):
        p = rng.choice(people); a, b = rng.sample(range(1, 9), 2)
        lines.append(f"{p}\t{a}\t{b}")
    for _ in range(3):
        p, q = rng.sample(people, 2)
        lines.append(f"{p}\t{rng.randint(1, 8)}\t{q}\t{rng.randint(1, 8)}")
open(out, "w").write("\n".join(lines) + "\n")
PY
"$bin" train --out "$work/run" data.root="$work/faces" data.image_size=32 train.batch_size=8 \
  train.epochs=8 train.threads=1 model.embedding=32 mask.method=mask --no-eval > "$work/train.log" 2>&1 \
  || fail "training: $(tail -3 "$work/train.log")"
ckpt="$work/run/checkpoint.pt"

same_metrics() {  # reference.json candidate.json...: every metric but the protocol name equal
  python3 - "$@" <<'PY'
import json, sys
reference = json.load(open(sys.argv[1]))
for path in sys.argv[2:]:
    results = json.load(open(path))
    for r in results if isinstance(results, list) else [results]:
        differ = [k for k in reference if k != "protocol" and r.get(k) != reference[k]]
        assert not differ, f"{r['protocol']}: {differ} differ from {reference['protocol']}"
PY
}

# 1. .bin against the folder, in every pickle form a set may come in.
"$bin" eval --checkpoint "$ckpt" --pairs "$work/pairs.txt" data.root="$work/faces" \
  --out "$work/pairs.json" > /dev/null 2>&1 || fail "eval --pairs"
sets=()
for protocol in 2 3 4 5; do
  python3 "$make_bin" --root "$work/faces" --pairs "$work/pairs.txt" --out "$work/p$protocol.bin" \
    --protocol "$protocol" > /dev/null
  sets+=("$work/p$protocol.bin")
  if [ "$numpy" = yes ]; then
    python3 "$make_bin" --root "$work/faces" --pairs "$work/pairs.txt" \
      --out "$work/np$protocol.bin" --protocol "$protocol" --numpy > /dev/null
    sets+=("$work/np$protocol.bin")
  fi
done
[ "$numpy" = yes ] || echo "numpy not installed: the NumPy forms of the set were not written"
list=$(IFS=,; echo "${sets[*]}")
"$bin" eval --checkpoint "$ckpt" --bin "$list" --out "$work/bins.json" > "$work/bins.log" 2>&1 \
  || fail "eval --bin: $(tail -3 "$work/bins.log")"
same_metrics "$work/pairs.json" "$work/bins.json" || fail ".bin evaluation differs from the folder's"
python3 - "$work/bins.json" "${#sets[@]}" <<'PY' || fail "eval --bin: not one result per set"
import json, sys
r = json.load(open(sys.argv[1]))
assert len(r) == int(sys.argv[2]) and r[0]["pairs"] == 60 and len(r[0]["fold_accuracy"]) == 10, r
PY
# The flip test, on both paths.
"$bin" eval --checkpoint "$ckpt" --pairs "$work/pairs.txt" data.root="$work/faces" --flip \
  --out "$work/pairs-flip.json" > /dev/null 2>&1 || fail "eval --pairs --flip"
"$bin" eval --checkpoint "$ckpt" --bin "$work/p4.bin" --flip --out "$work/bin-flip.json" \
  > /dev/null 2>&1 || fail "eval --bin --flip"
same_metrics "$work/pairs-flip.json" "$work/bin-flip.json" || fail "flip: .bin differs from folder"
grep -q '"flip": true' "$work/bin-flip.json" || fail "flip not recorded"
echo "eval --bin equals eval --pairs on the folder (${#sets[@]} pickle forms, and with --flip)"

# 2. Damaged sets: each refused, with a message that says what is wrong.
expect_error() {  # file pattern
  if "$bin" eval --checkpoint "$ckpt" --bin "$1" > "$work/err.log" 2>&1; then
    fail "$(basename "$1") was accepted"
  fi
  grep -q "$2" "$work/err.log" || fail "$(basename "$1"): expected '$2', got: $(tail -2 "$work/err.log")"
}
echo "images and same" > "$work/text.bin"
expect_error "$work/text.bin" "is not a pickle"
head -c 5000 "$work/p4.bin" > "$work/truncated.bin"
expect_error "$work/truncated.bin" "truncated"
python3 -c 'import pickle,sys; pickle.dump(([b"a", b"b", b"c"], [True]), open(sys.argv[1], "wb"), 4)' \
  "$work/lengths.bin"
expect_error "$work/lengths.bin" "3 images for 1 pairs"
python3 -c 'import pickle,sys; pickle.dump(({b"a", b"b"}, [True]), open(sys.argv[1], "wb"), 4)' \
  "$work/set.bin"
expect_error "$work/set.bin" "pickle opcode 0x8f"
python3 -c 'import pickle,sys; pickle.dump(([b"not an image", b"x"], [True]), open(sys.argv[1], "wb"), 4)' \
  "$work/garbage.bin"
"$bin" eval --checkpoint "$ckpt" --bin "$work/garbage.bin" > "$work/garbage.log" 2>&1 \
  || fail "a set of undecodable images should evaluate with them counted unreadable"
grep -q '"unreadable": 2' "$work/garbage.log" || fail "undecodable images not counted"
echo "damaged sets refused with their problem named"

# 3. embed: one unit-norm row per image, the same from the folder and from its RecordIO pack.
"$bin" embed --checkpoint "$ckpt" --data "$work/faces" --out "$work/folder.npy" > /dev/null 2>&1 \
  || fail "embed --data"
"$bin" pack --data "$work/faces" --out "$work/set/faces" > /dev/null
"$bin" embed --checkpoint "$ckpt" --rec "$work/set/faces" --out "$work/rec.npy" > /dev/null 2>&1 \
  || fail "embed --rec"
python3 - "$work/folder.npy" "$work/rec.npy" <<'PY' || fail "embeddings"
import json, struct, sys
def load(path):  # a float32 .npy, without numpy
    raw = open(path, "rb").read()
    header_len = struct.unpack("<H", raw[8:10])[0]
    header = raw[10:10 + header_len].decode()
    shape = tuple(int(x) for x in header.split("'shape': (")[1].split(")")[0].split(",") if x.strip())
    values = struct.unpack(f"<{shape[0] * shape[1]}f", raw[10 + header_len:])
    return shape, [values[i * shape[1]:(i + 1) * shape[1]] for i in range(shape[0])]
(shape_a, a), (shape_b, b) = load(sys.argv[1]), load(sys.argv[2])
assert shape_a == (48, 32) and shape_a == shape_b, (shape_a, shape_b)
assert all(abs(sum(x * x for x in row) - 1) < 1e-5 for row in a), "rows not unit length"
assert a == b, "folder and RecordIO embeddings differ"
manifest = json.load(open(sys.argv[1][:-4] + ".json"))
assert manifest["count"] == 48 and len(manifest["samples"]) == 48, manifest["count"]
assert manifest["samples"][0]["source"].endswith("_0001.jpg"), manifest["samples"][0]
PY
if "$bin" embed --checkpoint "$ckpt" --out "$work/none.npy" > "$work/err.log" 2>&1; then
  fail "embed without images accepted"
fi
grep -q "give the images to embed" "$work/err.log" || fail "embed without --data/--rec: $(cat "$work/err.log")"
echo "embed: 48 unit rows, equal from the folder and from its .rec"

# 4. LFW: the script's lfw.bin against the folder's 6,000 pairs.
if [ -f "$data/lfw/pairs.txt" ]; then
  lfw=(data.root="$data/lfw/lfw-deepfunneled" data.crop=150)
  python3 "$make_bin" --root "$data/lfw/lfw-deepfunneled" --pairs "$data/lfw/pairs.txt" \
    --out "$work/lfw.bin" > /dev/null
  "$bin" eval --checkpoint "$ckpt" --pairs "$data/lfw/pairs.txt" "${lfw[@]}" \
    --out "$work/lfw-pairs.json" > /dev/null 2>&1 || fail "eval --pairs on LFW"
  "$bin" eval --checkpoint "$ckpt" --bin "$work/lfw.bin" "${lfw[@]}" --out "$work/lfw-bin.json" \
    > /dev/null 2>&1 || fail "eval --bin on lfw.bin"
  same_metrics "$work/lfw-pairs.json" "$work/lfw-bin.json" || fail "lfw.bin differs from the folder"
  echo "LFW: lfw.bin (6,000 pairs) equals the folder evaluation, every metric"
else
  echo "LFW not found under $data: its lfw.bin check skipped"
fi
echo "PASS"
