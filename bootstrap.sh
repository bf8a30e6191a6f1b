#!/usr/bin/env bash
# The two set-up commands of the README:
#   ./bootstrap.sh demo   install what is missing, build, and run the main demonstration
#   ./bootstrap.sh test   install what is missing, build, and run the whole test suite
#                         (warnings as errors, then again under ASan+UBSan and under TSan),
#                         then each fuzz target for 20 s
# Works on a fresh Debian bookworm machine with nothing but git; uses sudo when not root.
set -euo pipefail
cd "$(dirname "$0")"

what=${1:-}
case "$what" in
  demo | test) ;;
  *) echo "usage: $0 demo|test" >&2; exit 2 ;;
esac

packages=(g++ cmake make pkg-config libboost1.81-dev libboost-program-options1.81-dev
          libboost-test1.81-dev liblz4-dev libzstd-dev libraft-dev)
if [ "$what" = test ]; then
  # clang and its runtime build the libFuzzer targets.
  packages+=(clang-14 libclang-rt-14-dev)
fi
missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if ((${#missing[@]})); then
  sudo=""
  [ "$(id -u)" -eq 0 ] || sudo=sudo
  echo "== installing: ${missing[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

jobs=$(nproc)
if [ "$what" = demo ]; then
  cmake --preset release >/dev/null
  cmake --build --preset release -j "$jobs"
  exec ./build/release/examples/noriwal-demo
fi

start=$SECONDS
for preset in ci asan tsan; do
  echo "== $preset: configure and build"
  cmake --preset "$preset" >/dev/null
  cmake --build --preset "$preset" -j "$jobs"
  echo "== $preset: test ($((SECONDS - start)) s so far)"
  ctest --preset "$preset"
done

# Fuzzing: each libFuzzer target for 20 s from the committed seed corpus (longer runs and what
# they check: doc/testing.md). A failing input is left in build/fuzz/ as crash-* or leak-*.
echo "== fuzz: configure and build ($((SECONDS - start)) s so far)"
cmake --preset fuzz >/dev/null
cmake --build --preset fuzz -j "$jobs"
for target in record_decoder recovery_scanner raft_frame_decoder; do
  scratch=$(mktemp -d)
  log=build/fuzz/fuzz_$target.log
  if ! ./build/fuzz/test/fuzz/fuzz_$target -max_total_time=20 -rss_limit_mb=512 -malloc_limit_mb=64 \
         -artifact_prefix=build/fuzz/ "$scratch" "test/fuzz/corpus/$target" >"$log" 2>&1; then
    tail -n 60 "$log"
    echo "== fuzz: $target FAILED (input saved in build/fuzz/, full log in $log)" >&2
    exit 1
  fi
  echo "== fuzz: $target: $(grep -E '^Done [0-9]+ runs' "$log")"
  rm -rf "$scratch"
done
echo "== all test builds passed in $((SECONDS - start)) s"
