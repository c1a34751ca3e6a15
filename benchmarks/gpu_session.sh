#!/usr/bin/env bash
# The prepared GPU check of issue 16, run on a lent GPU machine from the repository root
# (its python3 has torch + CUDA; nothing can be installed there). Steps, in the order
# given by $STEPS (default: all of them):
#   arch       the full architecture-depth recipe with --set device=cuda, alone on the GPU
#              so that its wall time is clean (issue 16 item 6: batched backend, each
#              point's 3 seeds stacked, their shared learned σ included; target ≤ 600 s)
#   recipe:NAME  any other recipe at full size on the GPU, the same way (issue 17 item 3:
#              e.g. recipe:likelihood-and-prior recipe:fashion-vae-vs-ae recipe:beta-sweep)
#   cuda       tests/test_cuda.py with CUDA visible
#   literature the literature recipe's quick run on CUDA
#   bench      benchmarks/gpu_speed.py and benchmarks/inception_speed.py
#   suite      the fast suite with CUDA visible (pytest-xdist brought in .gpu/site)
# Every step is also bounded by one deadline, $TOTAL_SECONDS after the start, so the call
# returns its logs before the device's per-call limit. Needs .gpu/data/mnist (the IDX gzip
# files) and .gpu/site (pytest-xdist, execnet) carried beside the tree; writes to $OUT.
set -u
export PYTHONPATH="$PWD/src:$PWD/.gpu/site"
export VAELAB_DATA="$PWD/.gpu/data" MPLBACKEND=Agg
OUT="${OUT:-/tmp/gpu-out}"; mkdir -p "$OUT"
STEPS="${STEPS:-arch cuda literature bench suite}"
deadline=$(( $(date +%s) + ${TOTAL_SECONDS:-570} ))

# The seconds a step may take: its own cap, or what is left before the deadline.
budget() {
    local left=$(( deadline - $(date +%s) ))
    (( left < $1 )) && echo "$left" || echo "$1"
}

# One recipe at full size on the GPU, its wall time printed; its small files (per-run
# seconds, metrics, verdicts, the report; no checkpoints) come back under $OUT/NAME.
full_recipe() {
    local name=$1 start=$(date +%s)
    echo "== $name at full size on the GPU"
    mkdir -p "$OUT/$name"
    timeout "$(budget "${RECIPE_SECONDS:-560}")" python3 -m vaelab recipe run "$name" \
        --set device=cuda --out "/tmp/$name" > "$OUT/$name/log.txt" 2>&1
    echo "exit $? after $(( $(date +%s) - start )) s" | tee -a "$OUT/$name/log.txt"
    grep -v Warning "$OUT/$name/log.txt" | grep -v "return func" | tail -30
    (cd "/tmp/$name" && find . -name "*.json" -size -2M -exec cp --parents {} "$OUT/$name/" \;
     cp report.md "$OUT/$name/" 2>/dev/null)
}

python3 -c "import torch, sys; print(sys.version.split()[0], torch.__version__, torch.cuda.get_device_name())"
for step in $STEPS; do
    seconds=$(budget 100000)
    if (( seconds < 20 )); then echo "== $step: skipped, ${seconds} s left"; continue; fi
    case $step in
    arch) full_recipe architecture-depth ;;
    recipe:*) full_recipe "${step#recipe:}" ;;
    cuda)
        echo "== CUDA tests"
        timeout "$(budget "${CUDA_TEST_SECONDS:-240}")" python3 -m pytest -q -s -rA \
            -p no:cacheprovider tests/test_cuda.py > "$OUT/cuda_tests.txt" 2>&1
        echo "exit $?"
        grep -E "passed|failed|FAILED|error|gap|resume vs|stacked vs|bf16 vs|graphed .* eager|note:" \
            "$OUT/cuda_tests.txt" | grep -v "^PASSED" | tail -40 ;;
    literature)
        echo "== the literature recipe's quick run on CUDA"
        timeout "$(budget "${LITERATURE_SECONDS:-60}")" python3 -m vaelab recipe run literature \
            --quick --set device=cuda --out /tmp/literature > "$OUT/literature.txt" 2>&1
        echo "exit $?"; tail -4 "$OUT/literature.txt" ;;
    bench)
        echo "== benchmark"
        timeout "$(budget "${BENCH_SECONDS:-200}")" python3 benchmarks/gpu_speed.py \
            --json "$OUT/gpu_speed.json" > "$OUT/gpu_speed.txt" 2>&1
        echo "exit $?"; grep -v Warning "$OUT/gpu_speed.txt" | tail -24
        echo "== Inception FID network throughput"
        timeout "$(budget "${INCEPTION_SECONDS:-60}")" python3 benchmarks/inception_speed.py \
            --device cuda --images 2048 > "$OUT/inception_speed.txt" 2>&1
        echo "exit $?"; tail -3 "$OUT/inception_speed.txt" ;;
    suite)
        echo "== fast suite with CUDA visible"
        OMP_NUM_THREADS=1 timeout "$(budget "${SUITE_SECONDS:-250}")" python3 -m pytest \
            -p no:cacheprovider -v -rfE --tb=line -n "${WORKERS:-12}" -m "not slow" \
            --deselect tests/test_cuda.py > "$OUT/suite.txt" 2>&1
        echo "exit $?"
        grep -E "FAILED|ERROR|passed|failed" "$OUT/suite.txt" | grep -v " PASSED " | tail -40 ;;
    *) echo "unknown step $step (arch, recipe:NAME, cuda, literature, bench, suite)"; exit 2 ;;
    esac
done
