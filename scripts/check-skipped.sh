#!/usr/bin/env bash
# Lists the ctest entries that a ctest run reported as skipped, from its output (the lines of
# "The following tests did not run:" that end in "(Skipped)"), and fails where any entry skipped
# other than those allowed below: the ones that need a GPU, a CPU feature this one lacks, or data
# that is not on this machine.
# scripts/install-deps.sh installs every other dependency, so any other skip is a missing
# dependency or a broken check, which would otherwise pass CI unseen.
#   scripts/check-skipped.sh <ctest output file> [<what ran, for the messages>]
set -euo pipefail
log=$1
run=${2:-ctest}
shared_datasets="$(cd "$(dirname "$0")/.." && pwd)/../shared/datasets"

# Why an entry may skip here: prints the reason and succeeds, or fails (not allowed).
allowed() {
  case "$1" in
    test_cuda) echo "needs a GPU (CUDA device and driver)" ;;
    test_bf16_products:avx512_bf16)
      grep -qw avx512_bf16 /proc/cpuinfo 2>/dev/null || { echo "needs a CPU with AVX-512 BF16, which this one lacks"; return 0; }
      return 1 ;;
    test_data:cifar10_jpeg_archive | test_sources_real:cifar10_jpeg_archive | test_shipped_models:cifar10)
      [[ -e "$shared_datasets/cifar10-train-jpg.tar.gz" ]] || { echo "needs $shared_datasets/cifar10-train-jpg.tar.gz, not on this machine"; return 0; }
      return 1 ;;
    *) return 1 ;;
  esac
}

mapfile -t skipped < <(sed -n 's/^[[:space:]]*[0-9]\+ - \(.*\) (Skipped)$/\1/p' "$log")
unexpected=0
echo "$run: ${#skipped[@]} entries skipped"
for name in "${skipped[@]}"; do
  if reason=$(allowed "$name"); then
    echo "  skipped: $name ($reason)"
  else
    echo "  SKIPPED, NOT ALLOWED: $name (see its output above for why)"
    unexpected=1
  fi
done
if ((unexpected)); then
  echo "$run: entries skipped that should run on this machine (scripts/check-skipped.sh lists what may skip)" >&2
  exit 1
fi
