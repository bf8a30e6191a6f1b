#!/usr/bin/env bash
# The two set-up commands of the README:
#   ./bootstrap.sh demo   install what is missing, build, and run the main demonstration
#   ./bootstrap.sh test   install what is missing, build, and run the whole test suite
#                         (warnings as errors, then again under ASan+UBSan and under TSan)
# Works on a fresh Debian bookworm machine with nothing but git; uses sudo when not root.
set -euo pipefail
cd "$(dirname "$0")"

what=${1:-}
case "$what" in
  demo | test) ;;
  *) echo "usage: $0 demo|test" >&2; exit 2 ;;
esac

packages=(g++ cmake make pkg-config libboost1.81-dev libboost-program-options1.81-dev
          libboost-test1.81-dev liblz4-dev libzstd-dev)
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
echo "== all test builds passed in $((SECONDS - start)) s"
