#!/usr/bin/env bash
# Makes sure clang can build libFuzzer harnesses with ASan and UBSan
# (-fsanitize=fuzzer,address,undefined); when it cannot, installs Debian's
# clang and its sanitizer/fuzzer runtime (as root, or through sudo), saying so.
set -eu
PACKAGES="clang libclang-rt-dev"

works() {
  command -v clang >/dev/null 2>&1 || return 1
  local dir rc
  dir=$(mktemp -d)
  printf '#include <stddef.h>\n#include <stdint.h>\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n);\nint LLVMFuzzerTestOneInput(const uint8_t *d, size_t n) { (void)d; (void)n; return 0; }\n' >"$dir/t.c"
  clang -fsanitize=fuzzer,address,undefined "$dir/t.c" -o "$dir/t" >/dev/null 2>&1
  rc=$?
  rm -rf "$dir"
  return $rc
}

works && exit 0
sudo=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null || { echo "ensure-clang: clang with libFuzzer is missing; not root and no sudo: install $PACKAGES" >&2; exit 1; }
  sudo="sudo"
fi
echo "ensure-clang: clang cannot build libFuzzer harnesses; installing $PACKAGES (apt-get)"
$sudo env DEBIAN_FRONTEND=noninteractive apt-get update -qq
# shellcheck disable=SC2086
$sudo env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends $PACKAGES
works || { echo "ensure-clang: clang still cannot build a -fsanitize=fuzzer program" >&2; exit 1; }
