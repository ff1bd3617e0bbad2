#!/usr/bin/env bash
# One machine with several GPUs: one process drives them all over a ('data',) mesh.
#
#   launch/gpu.sh --config configs/hific.py:lo --workdir /data/runs/hific-lo [--gpus 0,1,2,3] [-- FLAGS]
#
# Logs go to WORKDIR/train.log as well as the terminal. --dry-run prints the
# command and runs nothing.
set -euo pipefail
# shellcheck source=launch/common.sh
source "$(dirname "$0")/common.sh"
scan_dry_run "$@"

config="" workdir="" gpus=""
while [[ $# -gt 0 ]]; do
  case "$1" in
    --config) config="$2"; shift 2 ;;
    --workdir) workdir="$2"; shift 2 ;;
    --gpus) gpus="$2"; shift 2 ;;
    --dry-run) shift ;;
    --) shift; take_extra "$@"; break ;;
    *) die "unknown option $1 (see the top of $0)" ;;
  esac
done
need config "$config"
need workdir "$workdir"

cmd=(python -m jgc.main "--config=$config" "--workdir=$workdir" "${extra[@]}")
if [[ -n "$gpus" ]]; then cmd=(env "CUDA_VISIBLE_DEVICES=$gpus" "${cmd[@]}"); fi
if [[ $dry_run -eq 1 ]]; then
  run "${cmd[@]}"
else
  mkdir -p "$workdir"
  run "${cmd[@]}" 2>&1 | tee -a "$workdir/train.log"
fi
