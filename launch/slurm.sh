#!/usr/bin/env bash
# Several GPU nodes under SLURM: one process per GPU, all joined by jax.distributed.
#
#   launch/slurm.sh --config configs/hific.py:lo --workdir /shared/runs/hific-lo \
#       --nodes 2 --gpus-per-node 8 [--partition gpu] [--time 48:00:00] [-- FLAGS]
#
# Writes a batch script and submits it with sbatch. Inside, srun starts one
# task per GPU, each seeing all of its node's GPUs (--gpus-per-node, no
# --gpus-per-task): that is the layout JAX's SLURM detection expects, which
# gives each task the GPU numbered SLURM_LOCALID. One GPU per task would
# leave each task a single visible device numbered 0, and every task but the
# first of a node would ask for one it cannot see. The first node's host name
# becomes JAX_COORDINATOR_ADDRESS, and jax.distributed.initialize() reads the
# process count and id from SLURM's variables (SLURM_NTASKS, SLURM_PROCID).
# Each task logs to WORKDIR/logs/task-N.log. Two minutes before the time
# limit every task gets SIGTERM, and the run saves its current step and exits
# (the same command resumes it). --dry-run prints the script and the sbatch
# command.
set -euo pipefail
# shellcheck source=launch/common.sh
source "$(dirname "$0")/common.sh"
scan_dry_run "$@"

config="" workdir="" nodes=1 gpus=8 partition="" time_limit="48:00:00" port=12355
while [[ $# -gt 0 ]]; do
  case "$1" in
    --config) config="$2"; shift 2 ;;
    --workdir) workdir="$2"; shift 2 ;;
    --nodes) nodes="$2"; shift 2 ;;
    --gpus-per-node) gpus="$2"; shift 2 ;;
    --partition) partition="$2"; shift 2 ;;
    --time) time_limit="$2"; shift 2 ;;
    --port) port="$2"; shift 2 ;;
    --dry-run) shift ;;
    --) shift; take_extra "$@"; break ;;
    *) die "unknown option $1 (see the top of $0)" ;;
  esac
done
need config "$config"
need workdir "$workdir"

flags=""
for flag in "${extra[@]}"; do flags+=" $(printf '%q' "$flag")"; done
script="#!/usr/bin/env bash
#SBATCH --job-name=jgc
#SBATCH --nodes=$nodes
#SBATCH --ntasks-per-node=$gpus
#SBATCH --gpus-per-node=$gpus
#SBATCH --time=$time_limit
#SBATCH --signal=TERM@120
${partition:+#SBATCH --partition=$partition
}set -euo pipefail
mkdir -p $(printf '%q' "$workdir")/logs
JAX_COORDINATOR_ADDRESS=\"\$(scontrol show hostnames \"\$SLURM_JOB_NODELIST\" | head -n 1):$port\"
export JAX_COORDINATOR_ADDRESS
srun --output=$(printf '%q' "$workdir")/logs/task-%t.log \\
  python -m jgc.main --multihost --config=$(printf '%q' "$config") --workdir=$(printf '%q' "$workdir")$flags
"
if [[ $dry_run -eq 1 ]]; then
  printf '%s' "$script"
  run sbatch jgc-job.sh
else
  file="$(mktemp "${TMPDIR:-/tmp}/jgc-job.XXXXXX.sh")"
  printf '%s' "$script" > "$file"
  run sbatch "$file"
fi
