#!/usr/bin/env bash
# InsightFace RecordIO as users have it: `hymask pack` round trip (training from the .rec equals
# training from the folder, loss for loss), a set written by an independent writer (Python's
# struct, from the format's description) read back, and damaged sets refused with clear errors.
#   tests/recordio_test.sh BIN_DIR
set -euo pipefail
bin="$1/hymask"
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
fail() { echo "FAIL: $*"; exit 1; }
data="${HYMASK_DATA_DIR:-$(dirname "$0")/../../shared/data}"

same_losses() {  # run_a run_b
  python3 - "$1/metrics.jsonl" "$2/metrics.jsonl" <<'PY'
import json, sys
a, b = ([json.loads(l)["loss"] for l in open(p)] for p in sys.argv[1:])
assert a and a == b, (a[:3], b[:3])
PY
}

# 1. Round trip: a synthetic folder, and ORL when ../shared/data is there.
"$bin" synth --out "$work/faces" --identities 6 --images 8 --size 64 > /dev/null
"$bin" pack --data "$work/faces" --out "$work/set/train" > /dev/null
[ "$(cat "$work/set/property")" = "6,64,64" ] || fail "property: $(cat "$work/set/property")"
common=(data.image_size=32 train.batch_size=8 train.epochs=3 train.log_every=2 mask.method=mixup
        train.threads=1 model.embedding=32 --no-eval)
"$bin" train --out "$work/a" data.root="$work/faces" "${common[@]}" > "$work/a.log" 2>&1
"$bin" train --out "$work/b" data.root="$work/set/train" data.format=recordio "${common[@]}" \
  > "$work/b.log" 2>&1 || fail "training from the .rec: $(tail -3 "$work/b.log")"
same_losses "$work/a" "$work/b" || fail "the .rec trains otherwise than its folder"
if [ -d "$data/orl" ]; then
  "$bin" pack --data "$data/orl" --out "$work/orl/train" > /dev/null
  orl=(data.image_size=112 train.batch_size=32 train.epochs=2 train.log_every=2
       mask.method=mixup mask.k=2 --no-eval)
  "$bin" train --out "$work/orl-a" data.root="$data/orl" "${orl[@]}" > /dev/null 2>&1
  "$bin" train --out "$work/orl-b" data.root="$work/orl/train" data.format=recordio "${orl[@]}" \
    > /dev/null 2>&1
  same_losses "$work/orl-a" "$work/orl-b" || fail "ORL's .rec trains otherwise than its folder"
  echo "ORL packed: training from the .rec equals training from the folder"
else
  echo "ORL not found under $data: its round trip skipped"
fi

# 2. A set written by an independent writer: InsightFace's layout, one image split in two parts
#    (its payload holds the magic number at a 4-byte boundary, as MXNet splits it).
python3 - "$work/faces" "$work/indep/train" <<'PY'
import os, struct, sys
root, prefix = sys.argv[1], sys.argv[2]
os.makedirs(os.path.dirname(prefix), exist_ok=True)
people = sorted(os.listdir(root))
images = [(label, os.path.join(root, p, f)) for label, p in enumerate(people)
          for f in sorted(os.listdir(os.path.join(root, p)))]
MAGIC = 0xced7230a
rec, idx, offset = open(prefix + ".rec", "wb"), open(prefix + ".idx", "w"), 0
def record(index, payload, split_at=None):
    global offset
    idx.write(f"{index}\t{offset}\n")
    parts = [payload] if split_at is None else [payload[:split_at], payload[split_at + 4:]]
    for i, part in enumerate(parts):
        flag = 0 if len(parts) == 1 else (1 if i == 0 else 3)
        pad = (-len(part)) % 4
        rec.write(struct.pack("<II", MAGIC, len(part) | flag << 29) + part + b"\0" * pad)
        offset += 8 + len(part) + pad
n = len(images)
record(0, struct.pack("<IfQQ", 2, 0, 0, 0) + struct.pack("<ff", n + 1, n + 1 + len(people)))
for i, (label, path) in enumerate(images):
    body = struct.pack("<IfQQ", 0, float(label), i + 1, 0) + open(path, "rb").read()
    if i == 3:  # a record MXNet would have split: magic inside, at a 4-byte boundary
        body += b"\0" * ((-len(body)) % 4) + struct.pack("<I", MAGIC) + b"tail"
        record(i + 1, body, split_at=len(body) - 8)
    else:
        record(i + 1, body)
first = {}
for i, (label, _) in enumerate(images):
    first.setdefault(label, [i + 1, i + 2])[1] = i + 2
for label in range(len(people)):
    record(n + 1 + label, struct.pack("<IfQQ", 2, 0, n + 1 + label, 0) +
           struct.pack("<ff", *first[label]))
PY
"$bin" mask --data "$work/indep/train" --out "$work/m" data.format=recordio mask.method=mask \
  data.image_size=32 > "$work/m.log" 2>&1 || fail "the independent set: $(cat "$work/m.log")"
grep -q '"count": 48' "$work/m/manifest.json" || fail "the independent set: not 48 samples"
grep -q "6 identities, 48 images" "$work/m.log" || fail "the independent set: $(head -3 "$work/m.log")"

# 3. Damaged sets: each a clear error naming what is wrong, and no training.
expect_error() {  # what pattern set
  set +e
  out=$("$bin" train --out "$work/bad-$RANDOM" data.root="$3" data.format=recordio \
        data.on_bad_file=fail "${common[@]}" 2>&1)
  code=$?
  set -e
  [ $code -ne 0 ] && echo "$out" | grep -q "$2" || fail "$1: exit $code: $(echo "$out" | tail -2)"
}
cp -r "$work/set" "$work/cut"
truncate -s $(( $(stat -c %s "$work/cut/train.rec") / 2 )) "$work/cut/train.rec"
expect_error "a truncated .rec" "lies past the end of .*train.rec" "$work/cut/train"
cp -r "$work/set" "$work/far"
echo -e "99\t999999999" >> "$work/far/train.idx"
expect_error "an .idx past the end" "record 99 at byte 999999999 lies past the end" "$work/far/train"
cp -r "$work/set" "$work/magic"
printf '\x00' | dd of="$work/magic/train.rec" bs=1 seek=0 conv=notrunc 2> /dev/null
expect_error "a wrong magic" "record 0 at byte 0: no record starts there" "$work/magic/train"
expect_error "no set at all" "nowhere.idx does not exist" "$work/nowhere"
echo "recordio tests passed"
