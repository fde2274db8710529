#!/usr/bin/env bash
# Fuzzes hymask's untrusted-input parsers with libFuzzer (clang, with AddressSanitizer and
# UndefinedBehaviorSanitizer): the control protocol's frame decoder, the config parser, the
# image decoder, the RecordIO reader and the verification .bin reader
# (tests/fuzz/fuzz_targets.h), each for SECONDS (default 60), starting from the seed corpus in
# tests/fuzz/corpus/. A crashing input lands in tests/fuzz/regressions/TARGET/: commit it with
# the fix; the test FuzzRegressions replays every such input in the normal build.
#   scripts/fuzz.sh [SECONDS [TARGET ...]]
# targets: frame_decoder config_parser image_decoder recordio_reader verification_bin
# Needs clang and libclang-rt-14-dev (Debian packages).
set -euo pipefail
cd "$(dirname "$0")/.."
seconds="${1:-60}"
shift $(( $# > 0 ? 1 : 0 ))
targets=(frame_decoder config_parser image_decoder recordio_reader verification_bin)
[ $# -eq 0 ] || targets=("$@")
out=build-fuzz
mkdir -p "$out/gen" "$out/obj"
command -v clang++ > /dev/null || { echo "fuzz.sh: needs clang (apt-get install clang libclang-rt-14-dev)" >&2; exit 1; }
flags=(-std=c++17 -g -O1 -fno-omit-frame-pointer -I. -I"$out/gen")
sanitize=(-fsanitize=address,undefined)
protoc --cpp_out="$out/gen" comm/protocol/control.proto
sources=(core/*.cpp comm/protocol/frame.cpp comm/protocol/auth.cpp "$out/gen/comm/protocol/control.pb.cc")
objects=()
for src in "${sources[@]}"; do
  obj="$out/obj/$(echo "$src" | tr / _).o"
  # Rebuilt when its source or any header changed: a stale object would break the binary.
  if [ ! -f "$obj" ] || [ "$src" -nt "$obj" ] ||
     [ -n "$(find core comm/protocol -name '*.h' -newer "$obj" -print -quit)" ]; then
    clang++ "${flags[@]}" "${sanitize[@]}" -fsanitize=fuzzer-no-link -c "$src" -o "$obj"
  fi
  objects+=("$obj")
done
libs=(-lyaml-cpp -lspdlog -lfmt -lturbojpeg -lpng -lz -lprotobuf -lcrypto -lpthread)
echo "| target | seconds | executions | new crashes |"
echo "| --- | --- | --- | --- |"
status=0
for target in "${targets[@]}"; do
  bin="$out/fuzz_$target"
  clang++ "${flags[@]}" "${sanitize[@]}" -fsanitize=fuzzer "tests/fuzz/fuzz_$target.cpp" \
    "${objects[@]}" "${libs[@]}" -o "$bin"
  short="${target%%_*}"
  corpus="$out/corpus/$short"
  regressions="tests/fuzz/regressions/$short"
  mkdir -p "$corpus" "$regressions"
  before=$(ls "$regressions" | wc -l)
  "$bin" -max_total_time="$seconds" -print_final_stats=1 -artifact_prefix="$regressions/" \
    -timeout=10 -rss_limit_mb=2048 "$corpus" "tests/fuzz/corpus/$short" > "$out/$target.log" 2>&1 ||
    status=1
  runs=$(grep -o 'stat::number_of_executed_units: *[0-9]*' "$out/$target.log" | grep -o '[0-9]*$' || echo "?")
  crashes=$(( $(ls "$regressions" | wc -l) - before ))
  echo "| $target | $seconds | $runs | $crashes |"
done
[ "$status" -eq 0 ] || echo "fuzz.sh: a target found a failure: see $out/*.log and tests/fuzz/regressions/" >&2
exit "$status"
