#!/usr/bin/env bash
# Run HERE (the CPU machine, with network) before a device session's `bash benchmarks/gpu_check.sh`:
# the device image lacks some of saip's packages and cannot download, and ../shared does not
# travel. So this fills two ignored folders that the device tool carries:
#   .whl/       wheels for Python 3.12 x86-64 of what the image lacks (KINDS.md's package list):
#               omegaconf, pycocotools, webdataset, braceexpand; and timm, which the image has in
#               an unknown version: ours is carried so that the device runs what the tests run here
#   .gpu_data/  a copy of ../shared/data/pku-reid (never committed: see /work/shared/README.md)
# and prints the `carry` list. Run it in the checkout the device tool sends (the session's own).
set -euo pipefail
cd "$(git -C "$(dirname "$0")" rev-parse --show-toplevel)"
PY=${GPU_PREPARE_PYTHON:-python3}  # any python with pip; the wheels are chosen for 3.12 anyway
SHARED=${GPU_PREPARE_SHARED:-$(cd .. && pwd)/shared}
WHEELS=(omegaconf==2.4.0 pycocotools==2.0.11 webdataset==1.0.2 braceexpand==0.1.7 timm==1.0.31)
LIMIT_MIB=64

exclude=$(git rev-parse --git-path info/exclude)
mkdir -p "$(dirname "$exclude")"
for folder in /.whl/ /.gpu_data/; do
    grep -qxF "$folder" "$exclude" 2>/dev/null || echo "$folder" >>"$exclude"
done

# One version of each package (two stop the device's whole install): a fresh folder every time.
tmp=$(mktemp -d .whl.XXXXXX)
trap 'rm -rf "$tmp"' EXIT
"$PY" -m pip download -q --no-deps --only-binary=:all: --python-version 3.12 --implementation cp \
    --platform manylinux_2_28_x86_64 --platform manylinux_2_27_x86_64 --platform manylinux_2_17_x86_64 \
    --platform manylinux2014_x86_64 --platform manylinux1_x86_64 -d "$tmp" "${WHEELS[@]}"
rm -rf .whl && mv "$tmp" .whl
for wheel in .whl/*.whl; do  # what each needs beyond itself: must be in the image or in .whl
    needs=$(unzip -p "$wheel" '*.dist-info/METADATA' | grep '^Requires-Dist' | grep -v extra | cut -d' ' -f2- | tr '\n' ' ') || true
    echo "$(basename "$wheel"): needs ${needs:-nothing}"
done

[ -d "$SHARED/data/pku-reid/bounding_box_train" ] || { echo "no pku-reid under $SHARED/data" >&2; exit 1; }
rm -rf .gpu_data && mkdir -p .gpu_data && cp -a "$SHARED/data/pku-reid" .gpu_data/

# What travels: tracked and untracked-not-ignored files, plus the carried folders.
tree_bytes=$( (git ls-files -z; git ls-files -z --others --exclude-standard) | du -cb --files0-from=- 2>/dev/null | tail -1 | cut -f1)
carried_bytes=$(du -cb .whl .gpu_data | tail -1 | cut -f1)
total_mib=$(((tree_bytes + carried_bytes) / 1048576))
du -sh .whl .gpu_data
echo "working tree $((tree_bytes / 1024)) KiB + carried $((carried_bytes / 1024)) KiB = ${total_mib} MiB (limit ${LIMIT_MIB} MiB)"
[ "$total_mib" -lt "$LIMIT_MIB" ] || { echo "too large to travel" >&2; exit 1; }
echo 'carry: [".whl", ".gpu_data"]'
echo 'run:   run(command="bash benchmarks/gpu_check.sh", carry=[".whl", ".gpu_data"], timeout_s=540)'
