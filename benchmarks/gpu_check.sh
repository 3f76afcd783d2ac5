#!/usr/bin/env bash
# The prepared GPU check (issues 15 and 10 item 8), for a session that is lent a device machine:
#   a. CUDA correctness: the `gpu`-marked test, the device-selection test, and end-to-end runs of
#      tests/train/test_pretrain.py, which go to CUDA there (`train.device` defaults to auto)
#   b. one full SAIP step at the recipe shapes, batch 64, bf16: img/s, peak memory, MFU, against the
#      research-style baseline (benchmarks/pretrain_step.py)
#   c. `saip pretrain` of configs/vit_tiny_lup1m.yaml from JPEGs (pku-reid's 736 train crops listed
#      16 times: a loader per epoch would otherwise restart its workers every 2 steps), batch 64,
#      12 loader workers: img/s with data loading
#   d. issue 10 item 8: recipe-size SAIP (ViT-Tiny 256x128, every objective) on pku-reid
#      bounding_box_train for the rest of the budget (about 4 min; steps planned from c's img/s),
#      then frozen ReID (`saip eval reid --protocol frozen`, reid_market1501_frozen.yaml) of it and
#      of three random inits, as a table
# Each step is time-boxed (SIGINT, then KILL 15 s later: 124 is "stopped at its box") and the next
# runs whatever the last one did; all four fit GPU_CHECK_BUDGET seconds (480). Back in $OUT:
# gpu_check.log, a_pytest.log, b_step.log, c_e2e.log, d_item8.log, d_item8.md, summary.json.
#
#   here first:  bash benchmarks/gpu_prepare.sh     (wheels into .whl/, pku-reid into .gpu_data/)
#   device tool: run(command="bash benchmarks/gpu_check.sh", carry=[".whl", ".gpu_data"], timeout_s=540)
#   CPU dry run: GPU_CHECK_DEVICE=cpu GPU_CHECK_PYTHON=.venv/bin/python bash benchmarks/gpu_check.sh
# Knobs: GPU_CHECK_STEPS ("a b c d"; e.g. "d" to rerun one), GPU_CHECK_BUDGET (s), GPU_CHECK_D_SECONDS
# (d's cap, 240), GPU_CHECK_WORK (run directories, /tmp/gpu_check), GPU_CHECK_DATA (pku-reid).
set -u
cd "$(dirname "$0")/.."
ROOT=$PWD
DEVICE=${GPU_CHECK_DEVICE:-cuda}
PY=${GPU_CHECK_PYTHON:-python3}
BUDGET=${GPU_CHECK_BUDGET:-480}
STEPS=" ${GPU_CHECK_STEPS:-a b c d} "
DATA=${GPU_CHECK_DATA:-$ROOT/.gpu_data/pku-reid}
WORK=${GPU_CHECK_WORK:-/tmp/gpu_check}
OUT=${OUT:-$ROOT/runs/gpu_check}
CONFIG=configs/vit_tiny_lup1m.yaml

if [ "$DEVICE" = cuda ]; then  # the recipe's shapes; the limits of a, b, c and the most for d
    SHAPES=() BATCH=64 ACCUM=4 WORKERS=12 REPEAT=16
    T=tests/train/test_pretrain.py  # the gpu test first; the slowest (90 s on 2 CPU cores) last
    TESTS=("$T::test_resume_on_cuda_with_fp16" tests/tasks/test_engine.py::test_bad_device
        "$T::test_objective_switches" "$T::test_staged_backbones_pretrain" "$T::test_bad_images_are_counted_not_fatal"
        "$T::test_nonfinite_streak_changes_nothing_and_keeps_the_good_checkpoint"
        "$T::test_run_directory_and_export" "$T::test_resume_matches_uninterrupted_run")
    B_ARGS=(--batch-sizes 64 --rounds 8)
    EVAL=(model.backbone=vit_tiny train.num_workers=8 reid.picture_queries=0)
    A_S=60 B_S=80 C_S=60 C_TARGET_S=35 D_MAX_S=${GPU_CHECK_D_SECONDS:-240} D_STARTUP_S=40 E_S=40
else  # dry run: every command line of the check, at the test suite's tiny shapes, in < 3 min
    SHAPES=(model.backbone=vit_micro model.img_size=[64,32] views.global_size=[64,32]
        views.local_size=[32,16] views.num_local=3 scene.size=[64,64] csm.out_dim=32 csm.hidden_dim=32
        csm.bottleneck_dim=16 csr.decoder_dim=32 csr.decoder_depth=1 csr.decoder_heads=2 css.dim=32
        css.heads=2 css.query_depth=1 css.mask_convs=1)
    BATCH=4 ACCUM=1 WORKERS=1 REPEAT=1
    TESTS=(tests/tasks/test_engine.py::test_bad_device tests/train/test_pretrain.py::test_resume_on_cuda_with_fp16)
    B_ARGS=(--batch-sizes 2 --rounds 2 --threads 1)
    EVAL=(model.backbone=vit_micro model.img_size=[64,32] train.eval_batch_size=32 train.num_workers=0
        reid.picture_queries=0)
    A_S=40 B_S=60 C_S=30 C_TARGET_S=8 D_MAX_S=${GPU_CHECK_D_SECONDS:-30} D_STARTUP_S=15 E_S=40
fi
TRAIN_DATA=()
for _ in $(seq "$REPEAT"); do TRAIN_DATA+=(--data "$DATA/bounding_box_train"); done

left() { echo $((BUDGET - SECONDS)); }

run_step() {  # NAME LIMIT LOG CMD...: time-boxed; its status and seconds go to steps.jsonl
    local name=$1 limit=$2 log=$3 t0=$SECONDS rc
    shift 3
    ((limit > $(left))) && limit=$(left)
    if ((limit < 5)); then
        echo "== $name: skipped, budget spent"
        echo "{\"step\": \"$name\", \"rc\": null, \"seconds\": 0, \"limit_s\": 0}" >>"$WORK/steps.jsonl"
        return 1
    fi
    echo "== $name (limit ${limit} s): $*" | tee -a "$log"
    timeout -s INT -k 15 "$limit" "$@" >>"$log" 2>&1
    rc=$?
    echo "{\"step\": \"$name\", \"rc\": $rc, \"seconds\": $((SECONDS - t0)), \"limit_s\": $limit}" >>"$WORK/steps.jsonl"
    echo "== $name: rc $rc after $((SECONDS - t0)) s; the end of $(basename "$log"):"
    tail -n 6 "$log" | cut -c1-240
    return $rc
}

field() {  # JSON FIELD: one number out of a JSON line, empty when absent or null
    "$PY" -c 'import json, sys; v = json.loads(sys.argv[1] or "{}").get(sys.argv[2]); print("" if v is None else v)' "$1" "$2" 2>/dev/null
}

setup() {
    echo "# gpu_check on $(uname -n), device $DEVICE, python $PY, budget ${BUDGET} s, steps${STEPS}"
    nvidia-smi --query-gpu=name,memory.total,driver_version,clocks.max.sm --format=csv 2>/dev/null || echo "no nvidia-smi"
    echo "$(nproc) cores, $(free -g 2>/dev/null | awk '/Mem:/ {print $2}') GiB memory"
    if [ "$DEVICE" = cuda ]; then  # the device README's recipe: the carried wheels beside the image's packages
        "$PY" -m pip install -q --no-index --no-deps --no-compile --no-cache-dir --upgrade --target /tmp/site .whl/*.whl ||
            echo "!! wheel install failed: steps will fail to import saip"
        export PYTHONPATH=$ROOT:/tmp/site
    else  # the same wheels, installed for the device's Python into a folder that nothing imports
        "$PY" -m pip install -q --no-index --no-deps --no-compile --upgrade --target "$WORK/site" \
            --only-binary=:all: --python-version 3.12 --implementation cp --platform manylinux_2_28_x86_64 \
            --platform manylinux_2_17_x86_64 --platform manylinux2014_x86_64 .whl/*.whl &&
            echo "wheels install for cp312: $(ls "$WORK/site" | grep -c dist-info) packages" ||
            echo "!! the carried wheels do not install for cp312"
        export PYTHONPATH=$ROOT
    fi
    "$PY" - <<'EOF' || echo "!! saip's imports fail"
import importlib.metadata as md, sys, torch, saip
names = ["torch", "torchvision", "timm", "numpy", "omegaconf", "pycocotools", "webdataset", "tokenizers"]
print(sys.version.split()[0], ", ".join(f"{n} {md.version(n)}" for n in names))
print("cuda", torch.version.cuda, torch.cuda.is_available() and torch.cuda.get_device_name(), "saip", saip.__version__)
EOF
    [ -d "$DATA/bounding_box_train" ] || echo "!! no pku-reid at $DATA: steps c and d will fail (gpu_prepare.sh)"
}

step_a() {
    run_step a "$A_S" "$OUT/a_pytest.log" "$PY" -m pytest -q -p no:cacheprovider -rfEs --durations=15 \
        "${TESTS[@]}"
}

step_b() {
    run_step b "$B_S" "$OUT/b_step.log" "$PY" benchmarks/pretrain_step.py --device "$DEVICE" \
        --baseline research --config "$CONFIG" --out "$WORK/b.jsonl" "${B_ARGS[@]}" "${SHAPES[@]}" \
        train.accum_steps=$ACCUM
}

pretrain() {  # NAME LIMIT STEPS [overrides...]: configs/vit_tiny_lup1m.yaml on the pku-reid JPEGs
    local name=$1 limit=$2 steps=$3 log=$4
    shift 4
    run_step "$name" "$limit" "$log" "$PY" -m saip.cli pretrain --config "$CONFIG" --device "$DEVICE" \
        --out "$WORK/$name" --batch-size "$BATCH" --max-steps "$steps" "${TRAIN_DATA[@]}" "${SHAPES[@]}" \
        train.accum_steps=$ACCUM data.num_workers=$WORKERS train.total_steps=$steps "$@"
}

plan() {  # IMG_PER_S SECONDS: JSON of steps, warm-up epochs, checkpoint and probe intervals
    "$PY" benchmarks/gpu_runs.py plan --img-per-s "$1" --seconds "$2" --images-per-step $((BATCH * ACCUM)) \
        --epoch-images $(($(ls "$DATA/bounding_box_train" 2>/dev/null | wc -l) * REPEAT))
}

step_c() {
    local ips steps
    ips=$(field "$(tail -n 1 "$WORK/b.jsonl" 2>/dev/null)" img_per_s)
    steps=$(field "$(plan "${ips:-500}" "$C_TARGET_S")" steps)
    pretrain c "$C_S" "${steps:-100}" "$OUT/c_e2e.log" train.log_every=5 train.checkpoint_every=1000000 \
        train.picture_every=1000000 train.probe_data= optim.warmup_epochs=0
    echo "c throughput: $("$PY" benchmarks/gpu_runs.py throughput "$WORK/c")"
}

step_d() {
    local ips seconds plan_json
    ips=$(field "$("$PY" benchmarks/gpu_runs.py throughput "$WORK/c" 2>/dev/null)" img_per_s)
    [ -z "$ips" ] && ips=$(field "$(tail -n 1 "$WORK/b.jsonl" 2>/dev/null)" img_per_s)
    seconds=$(($(left) - E_S - 10))
    ((seconds > D_MAX_S)) && seconds=$D_MAX_S
    plan_json=$(plan "${ips:-300}" $((seconds - D_STARTUP_S)))
    echo "d: ${seconds} s at ${ips:-300 (a guess)} img/s: $plan_json" | tee -a "$OUT/d_item8.log"
    pretrain d "$seconds" "$(field "$plan_json" steps)" "$OUT/d_item8.log" train.log_every=10 \
        optim.warmup_epochs="$(field "$plan_json" warmup_epochs)" \
        train.checkpoint_every="$(field "$plan_json" checkpoint_every)" \
        train.probe_data="$DATA" train.probe_every="$(field "$plan_json" probe_every)" \
        train.picture_every="$(field "$plan_json" steps)"
    run_step d_eval "$E_S" "$OUT/d_item8.log" "$PY" benchmarks/gpu_runs.py reid --run "$WORK/d" \
        --data "$DATA" --work "$WORK/d_eval" --out "$OUT/d_item8.md" --json "$WORK/d_item8.json" \
        --device "$DEVICE" "${EVAL[@]}"
}

main() {
    setup
    for s in a b c d; do
        [[ $STEPS == *" $s "* ]] && "step_$s"
    done
    "$PY" benchmarks/gpu_runs.py summary --work "$WORK" --out "$OUT/summary.json"
    [ -f "$OUT/d_item8.md" ] && cat "$OUT/d_item8.md"
    echo "# done in ${SECONDS} s (budget ${BUDGET} s); $OUT holds: $(ls "$OUT" | tr '\n' ' ')"
}

rm -rf "$WORK"
mkdir -p "$WORK" "$OUT"
rm -f "$OUT"/{gpu_check.log,a_pytest.log,b_step.log,c_e2e.log,d_item8.log,d_item8.md,summary.json}
main 2>&1 | tee "$OUT/gpu_check.log"
