#!/usr/bin/env bash
# The one prepared GPU check of issue 16, run on a lent GPU machine from the repository
# root (its python3 has torch + CUDA; nothing can be installed there):
#   1. tests/test_cuda.py with CUDA visible,
#   2. benchmarks/gpu_speed.py,
#   3. the full architecture-depth recipe on the GPU (in the background; issue 16 item 6:
#      batched backend, each point's 3 seeds stacked, their shared learned σ included), while
#   4. the fast suite runs with CUDA visible (pytest-xdist brought in .gpu/site).
# Needs .gpu/data/mnist (the IDX gzip files) and .gpu/site (pytest-xdist, execnet) carried
# beside the tree; writes its logs to $OUT. *_SECONDS bound each step.
set -u
export PYTHONPATH="$PWD/src:$PWD/.gpu/site"
export VAELAB_DATA="$PWD/.gpu/data" MPLBACKEND=Agg
OUT="${OUT:-/tmp/gpu-out}"; mkdir -p "$OUT"
python3 -c "import torch, sys; print(sys.version.split()[0], torch.__version__, torch.cuda.get_device_name())"
echo "== 1. CUDA tests"
timeout "${CUDA_TEST_SECONDS:-240}" python3 -m pytest -q -s -rA -p no:cacheprovider tests/test_cuda.py \
    > "$OUT/cuda_tests.txt" 2>&1; echo "exit $?"
grep -E "passed|failed|FAILED|error|gap|resume vs|stacked vs|bf16 vs|graphed .* eager|note:" \
    "$OUT/cuda_tests.txt" | grep -v "^PASSED" | tail -40
echo "== 1b. the literature recipe's quick run on CUDA"
timeout "${LITERATURE_SECONDS:-60}" python3 -m vaelab recipe run literature --quick \
    --set device=cuda --out /tmp/literature > "$OUT/literature.txt" 2>&1; echo "exit $?"
tail -4 "$OUT/literature.txt"
echo "== 2. benchmark"
timeout "${BENCH_SECONDS:-200}" python3 benchmarks/gpu_speed.py --json "$OUT/gpu_speed.json" \
    > "$OUT/gpu_speed.txt" 2>&1; echo "exit $?"
grep -v Warning "$OUT/gpu_speed.txt" | tail -24
echo "== 2b. Inception FID network throughput"
timeout "${INCEPTION_SECONDS:-60}" python3 benchmarks/inception_speed.py --device cuda \
    --images 2048 > "$OUT/inception_speed.txt" 2>&1; echo "exit $?"
tail -3 "$OUT/inception_speed.txt"
echo "== 3. architecture-depth at full size on the GPU (background)"
( start=$(date +%s)
  timeout "${RECIPE_SECONDS:-600}" python3 -m vaelab recipe run architecture-depth \
      --set device=cuda --out /tmp/arch > "$OUT/arch.txt" 2>&1
  echo "exit $? after $(( $(date +%s) - start )) s" >> "$OUT/arch.txt"
  cp /tmp/arch/findings.json /tmp/arch/summary.json /tmp/arch/*.md "$OUT/" 2>/dev/null ) &
recipe=$!
echo "== 4. fast suite with CUDA visible"
OMP_NUM_THREADS=1 timeout "${SUITE_SECONDS:-200}" python3 -m pytest -p no:cacheprovider \
    -v -rfE --tb=line -n "${WORKERS:-12}" -m "not slow" --deselect tests/test_cuda.py \
    > "$OUT/suite.txt" 2>&1
echo "exit $?"
grep -E "FAILED|ERROR|passed|failed" "$OUT/suite.txt" | grep -v " PASSED " | tail -40
wait $recipe
tail -15 "$OUT/arch.txt"
