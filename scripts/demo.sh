#!/usr/bin/env bash
# The main job: a short SAIP pretraining run on the built-in synthetic people, on this machine's
# CPU (or GPU), ending with runs/demo/report.md, pictures and timm-loadable weights.
# Extra arguments go to `saip pretrain` (e.g. --data DIR, --max-steps N, key=value).
set -euo pipefail
cd "$(dirname "$0")/.."
source scripts/env.sh
rm -rf runs/demo
saip pretrain --config configs/demo.yaml --out runs/demo "$@"
echo "[saip] report: runs/demo/report.md"
