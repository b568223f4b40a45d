#!/usr/bin/env bash
# deephash's CNN against its anchors, one after the other in the same session, with the same
# number of threads:
#
#   bench/compare_cnn.sh [BUILD] [forward | train]
#
#   forward  KevinNet's CPU forward pass (227x227, batch 32): deephash, OpenCV dnn and PyTorch
#            (writes cnn-comparison.json)
#   train    training steps of the CIFAR network (nn::cifar_net, batch 64): deephash in float and,
#            where the CPU has AVX-512 BF16, with bf16 products; PyTorch in float and under
#            autocast to bf16 (writes training-comparison.json)
#
# Needs a build with benchmarks (and OpenCV for its row) and python3-torch for PyTorch's.
set -euo pipefail
build=${1:-build}
what=${2:-forward}
threads=${DEEPHASH_NUM_THREADS:-$(nproc)}
export DEEPHASH_NUM_THREADS=$threads OMP_NUM_THREADS=$threads
case $what in
  forward) filter='KevinNetForward' script=pytorch_kevinnet.py batch=32 out=cnn-comparison.json ;;
  train) filter='BM_TrainCifarNet' script=pytorch_cifar.py batch=64 out=training-comparison.json ;;
  *) echo "compare_cnn.sh: unknown comparison '$what' (forward or train)" >&2; exit 2 ;;
esac
"$build/bench/deephash_bench" --benchmark_filter="$filter" --benchmark_format=json > "$out.tmp"
# Debian's python3-torch lives in the system Python, which may not be the first python3 on PATH.
torch_python=""
for p in ${PYTHON:-} python3 /usr/bin/python3; do
  if "$p" -c 'import torch' 2>/dev/null; then torch_python=$p; break; fi
done
if [ -n "$torch_python" ]; then
  "$torch_python" "$(dirname "$0")/$script" "$batch" > "$out.torch"
else
  echo '{"name": "pytorch", "skipped": "python3-torch is not installed"}' > "$out.torch"
fi
python3 - "$out.tmp" "$out.torch" "$out" <<'PY'
import json, sys
bench, torch = json.load(open(sys.argv[1])), json.load(open(sys.argv[2]))
rows = [(b["name"], 1e3 / b["items_per_second"], b["items_per_second"])
        for b in bench["benchmarks"]]
if "ms_per_image" in torch:
    rows.append(("PyTorch " + torch["torch"], torch["ms_per_image"], torch["images_per_second"]))
    bf16 = torch.get("autocast_bf16", {})
    if "ms_per_image" in bf16:
        rows.append(("PyTorch " + torch["torch"] + ", autocast bf16", bf16["ms_per_image"], bf16["images_per_second"]))
for name, ms, ips in rows:
    print(f"{name:45s} {ms:8.2f} ms/image {ips:8.1f} images/s")
json.dump({"context": bench["context"], "benchmarks": bench["benchmarks"], "pytorch": torch}, open(sys.argv[3], "w"), indent=1)
PY
rm -f "$out.tmp" "$out.torch"
echo "wrote $out"
