#!/usr/bin/env bash
# Cloud TPU VMs (one host or a pod slice): create, set up, train, follow, delete.
#
#   launch/tpu.sh create --name NAME --zone ZONE [--type v4-32] [--runtime tpu-ubuntu2204-base] [--spot]
#   launch/tpu.sh setup  --name NAME --zone ZONE (--repo URL [--ref REF] | --copy)
#   launch/tpu.sh train  --name NAME --zone ZONE --config configs/hific.py:lo --workdir gs://BUCKET/DIR [-- FLAGS]
#   launch/tpu.sh logs   --name NAME --zone ZONE [--worker 0] [--follow]
#   launch/tpu.sh delete --name NAME --zone ZONE
#
# setup gives every worker its own Python 3.11 environment, ~/jgc-env, made by
# uv (which fetches that Python itself: the TPU runtimes' system Python is
# 3.10, too old for jax >= 0.7), with jgc[tpu] installed in it; train and the
# logs use it. Every worker runs the same `python -m jgc.main --multihost`
# (jax.distributed finds the slice's hosts itself) and logs to
# ~/jgc-worker.log on its VM. The workdir should be a gs:// bucket that all
# workers share. --dry-run prints the gcloud commands and runs nothing.
set -euo pipefail
# shellcheck source=launch/common.sh
source "$(dirname "$0")/common.sh"
scan_dry_run "$@"

action="${1:-}"
shift || true
name="" zone="" type="v4-8" runtime="tpu-ubuntu2204-base" spot=0
repo="" ref="main" copy=0
config="" workdir="" worker="all" follow=0
while [[ $# -gt 0 ]]; do
  case "$1" in
    --name) name="$2"; shift 2 ;;
    --zone) zone="$2"; shift 2 ;;
    --type) type="$2"; shift 2 ;;
    --runtime) runtime="$2"; shift 2 ;;
    --spot) spot=1; shift ;;
    --repo) repo="$2"; shift 2 ;;
    --ref) ref="$2"; shift 2 ;;
    --copy) copy=1; shift ;;
    --config) config="$2"; shift 2 ;;
    --workdir) workdir="$2"; shift 2 ;;
    --worker) worker="$2"; shift 2 ;;
    --follow) follow=1; shift ;;
    --dry-run) shift ;;
    --) shift; take_extra "$@"; break ;;
    *) die "unknown option $1 (see the top of $0)" ;;
  esac
done
need name "$name"
need zone "$zone"
ssh=(gcloud compute tpus tpu-vm ssh "$name" --zone "$zone")

case "$action" in
  create)
    flags=(--node-id "$name" --zone "$zone" --accelerator-type "$type" --runtime-version "$runtime")
    if [[ $spot -eq 1 ]]; then flags+=(--spot); fi
    run gcloud compute tpus queued-resources create "$name" "${flags[@]}"
    ;;
  setup)
    if [[ $copy -eq 1 ]]; then
      run gcloud compute tpus tpu-vm scp --recurse "$(cd "$(dirname "$0")/.." && pwd)" "$name:~/jgc" \
        --zone "$zone" --worker=all
    else
      [[ -n "$repo" ]] || die "setup needs --repo URL (a git URL of your jgc repository) or --copy (this checkout)"
      run "${ssh[@]}" --worker=all --command "git clone --branch $ref $repo ~/jgc || git -C ~/jgc pull"
    fi
    run "${ssh[@]}" --worker=all --command "python3 -m pip install --user -U uv && ~/.local/bin/uv venv --allow-existing --python 3.11 ~/jgc-env && cd ~/jgc && ~/.local/bin/uv pip install --python ~/jgc-env/bin/python -e '.[tpu]'"
    ;;
  train)
    need config "$config"
    need workdir "$workdir"
    cmd="cd ~/jgc && nohup ~/jgc-env/bin/python -m jgc.main --multihost --config=$config --workdir=$workdir"
    for flag in "${extra[@]}"; do cmd+=" $flag"; done
    run "${ssh[@]}" --worker=all --command "$cmd > ~/jgc-worker.log 2>&1 &"
    ;;
  logs)
    if [[ $follow -eq 1 ]]; then tail="tail -n 100 -f"; else tail="tail -n 100"; fi
    run "${ssh[@]}" --worker="$worker" --command "$tail ~/jgc-worker.log"
    ;;
  delete)
    run gcloud compute tpus queued-resources delete "$name" --zone "$zone" --force --quiet
    ;;
  *) die "first argument: create, setup, train, logs or delete" ;;
esac
