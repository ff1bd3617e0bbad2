"""Training end to end: every config's tiny variant, resume after SIGKILL and SIGTERM,
data parallelism, the non-finite guard, two-stage initialization and fine-tuning imported bundles."""

import json
import os
import re
import signal
import socket
import subprocess
import sys
import textwrap
import time

import hific_pytorch_reference
import jax
import jax.numpy as jnp
import msillm_reference
import numpy as np
import pytest
import skimage.data

from jgc import cli
from jgc.codec import bundle as bundles
from jgc.codec.compressor import Codec
from jgc.data import embedded_samples
from jgc.training import defaults, export, loop

ROOT = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
ENV = {**os.environ, "JAX_PLATFORMS": "cpu"}


def config(name: str, arg: str, **overrides):
  c = defaults.sibling(os.path.join(ROOT, "configs", f"{name}.py"), name).get_config(arg)
  c.update(overrides)
  return c


def leaves_close(a, b, rtol=1e-5, atol=1e-6):
  for x, y in zip(jax.tree.leaves(a), jax.tree.leaves(b), strict=True):
    np.testing.assert_allclose(np.asarray(x), np.asarray(y), rtol=rtol, atol=atol)


@pytest.fixture(scope="module")
def samples():
  return embedded_samples()


@pytest.mark.parametrize("name,arg", [
    ("hific", "tiny"), ("hific_sparse", "tiny"), ("bmshj2018", "tiny"), ("mbt2018", "mean,tiny"),
    ("mbt2018", "ar,tiny"), ("gc", "tiny"), ("vaegan", "tiny"),
])
def test_every_config_trains_its_tiny_variant(tmp_path, samples, name, arg):
  c = config(name, arg, num_steps=3, log_every_steps=1, image_every_steps=3, checkpoint_every_steps=3)
  state = loop.train(c, str(tmp_path), source=samples)
  assert int(state.step) == 3 and int(state.bad_step) == -1
  assert all(bool(jnp.all(jnp.isfinite(p))) for p in jax.tree.leaves(state.params))
  assert os.listdir(tmp_path / "checkpoints") == ["3"]
  events = os.listdir(tmp_path / "tensorboard")
  assert events and os.path.getsize(tmp_path / "tensorboard" / events[0]) > 1000
  tables = (tmp_path / "parameters.txt").read_text()
  assert tables.startswith("model parameters at step 0:\n")
  assert ("discriminator parameters at step 0:\n" in tables) == (c.discriminator is not None)


def test_the_console_says_what_the_run_is_doing_and_the_tables_go_to_a_file(tmp_path):
  cmd = [sys.executable, "-m", "jgc.main", "--config=configs/bmshj2018.py:tiny", f"--workdir={tmp_path}",
         "--config.num_steps=3"]
  out = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=240)
  assert out.returncode == 0, out.stderr[-3000:]
  # absl's lines: "I1204 22:09:52.853503 139861179366272 loop.py:244] message".
  messages = [line.split("] ", 1)[1] for line in out.stderr.splitlines() if line.startswith("I") and "] " in line]
  tables = tmp_path / "parameters.txt"
  total = (tables.read_text().split("Total: ")[1]).split(" ")[0]
  expected = [
      "building the model ...",
      "preparing data ...",
      "initializing the parameters (compiling the model: about a minute on a CPU the first time) ...",
      f"parameters: model {total} (tables in {tables})",
      "compiling the training step (about a minute on a CPU the first time) ...",
  ]
  assert messages[1:6] == expected, out.stderr[-3000:]
  assert re.fullmatch(r"step 1/3 took 0:\d\d:\d\d, compilation included; training \.\.\.", messages[6]), messages
  assert re.fullmatch(r"step 3/3 loss=\S+ bpp=\S+ psnr=\S+ \S+ steps/s ETA 0:00:00", messages[7]), messages
  # The tables: a row per parameter, in the file and not on the console.
  assert "analysis/Conv_0/kernel" in tables.read_text() and "/kernel" not in out.stderr


def test_resume_after_sigkill_continues_the_same_run(tmp_path, samples):
  killed, straight = tmp_path / "killed", tmp_path / "straight"
  steps = 40
  cmd = [sys.executable, "-m", "jgc.main", "--config=configs/bmshj2018.py:tiny", f"--workdir={killed}",
         f"--config.num_steps={steps}", "--config.checkpoint_every_steps=2", "--config.log_every_steps=1"]
  proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
  deadline = time.monotonic() + 240
  while not (killed / "checkpoints" / "4").exists():
    assert proc.poll() is None, proc.stderr.read().decode()[-3000:]
    assert time.monotonic() < deadline, "no checkpoint at step 4 within 240 s"
    time.sleep(0.02)
  proc.send_signal(signal.SIGKILL)
  proc.wait()
  done = sorted(int(d) for d in os.listdir(killed / "checkpoints") if d.isdigit())
  assert done[-1] < steps, "the run finished before it was killed"

  c = config("bmshj2018", "tiny", num_steps=steps, checkpoint_every_steps=2, log_every_steps=1)
  resumed = loop.train(c, str(killed), source=samples)
  reference = loop.train(c, str(straight), source=samples)
  assert int(resumed.step) == int(reference.step) == steps
  leaves_close(resumed.params, reference.params)
  leaves_close(resumed.opt_state, reference.opt_state)


def test_sigterm_saves_the_current_step_and_the_rerun_continues_the_same_run(tmp_path, samples):
  stopped, straight = tmp_path / "stopped", tmp_path / "straight"
  steps = 40
  # No scheduled checkpoint before the end: whatever is saved is the preemption's.
  cmd = [sys.executable, "-m", "jgc.main", "--config=configs/bmshj2018.py:tiny", f"--workdir={stopped}",
         f"--config.num_steps={steps}", f"--config.checkpoint_every_steps={steps}", "--config.log_every_steps=1"]
  proc = subprocess.Popen(cmd, cwd=ROOT, env=ENV, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, text=True)
  deadline = time.monotonic() + 240
  lines = []
  while not any(" step 3/" in line for line in lines):
    assert time.monotonic() < deadline, "no step 3 within 240 s"
    line = proc.stderr.readline()
    assert line or proc.poll() is None, "".join(lines)[-3000:]
    lines.append(line)
  proc.send_signal(signal.SIGTERM)
  rest = proc.communicate(timeout=120)[1]
  assert proc.returncode == 0, rest[-3000:]
  saved = [int(d) for d in os.listdir(stopped / "checkpoints") if d.isdigit()]
  assert len(saved) == 1 and 3 <= saved[0] < steps, saved
  assert f"preempted: saved step {saved[0]}" in rest

  c = config("bmshj2018", "tiny", num_steps=steps, checkpoint_every_steps=steps, log_every_steps=1)
  resumed = loop.train(c, str(stopped), source=samples)
  reference = loop.train(c, str(straight), source=samples)
  assert int(resumed.step) == int(reference.step) == steps
  leaves_close(resumed.params, reference.params)
  leaves_close(resumed.opt_state, reference.opt_state)


MULTI_DEVICE = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    from jgc.training import defaults, loop
    c = defaults.sibling("configs/hific.py", "hific").get_config("tiny")
    c.update(batch_size=4, num_steps=2, log_every_steps=1, checkpoint_every_steps=2)
    devices = jax.devices()
    assert len(devices) == 4, devices
    four = loop.train(c, sys.argv[1] + "/four", devices=devices)
    one = loop.train(c, sys.argv[1] + "/one", devices=devices[:1])
    worst = 0.0
    for a, b in zip(jax.tree.leaves(four), jax.tree.leaves(one)):
      a, b = np.asarray(a, np.float64), np.asarray(b, np.float64)
      if a.size:
        worst = max(worst, float(np.max(np.abs(a - b)) / (np.max(np.abs(b)) + 1e-12)))
    print(json.dumps({"devices": len(devices), "max_rel_diff": worst}))
""")


def test_four_devices_and_one_give_the_same_state(tmp_path):
  env = {**ENV, "XLA_FLAGS": "--xla_force_host_platform_device_count=4"}
  out = subprocess.run([sys.executable, "-c", MULTI_DEVICE, str(tmp_path)], cwd=ROOT, env=env,
                       capture_output=True, text=True, timeout=600)
  assert out.returncode == 0, out.stderr[-3000:]
  result = json.loads(out.stdout.strip().splitlines()[-1])
  # Parameters, both Adam moments (the first is 0.1 x the gradient) and D's
  # spectral-norm state, after a D and a G update on each of two steps; the
  # difference per array, relative to its largest entry, is float rounding.
  assert result["max_rel_diff"] < 1e-4, result


def test_non_finite_step_stops_the_run_and_keeps_the_last_good_checkpoint(tmp_path, samples):
  # A learning rate of 1e26 from step 3 on: the update of step 3 overflows.
  c = config("bmshj2018", "tiny", num_steps=10, checkpoint_every_steps=2, log_every_steps=1)
  c.optim.update(decay_steps=3, decay_factor=1e30)
  with pytest.raises(loop.NonFiniteLoss,
                     match=r"non-finite updated_parameters at step 3.*last good checkpoint is step 2"):
    loop.train(c, str(tmp_path), source=samples)
  assert sorted(os.listdir(tmp_path / "checkpoints")) == ["2"]
  c.optim.update(decay_steps=500_000, decay_factor=0.1)
  c.num_steps = 3
  resumed = loop.train(c, str(tmp_path), source=samples)
  assert int(resumed.step) == 3 and int(resumed.bad_step) == -1


def test_guard_names_the_term_and_freezes_the_state(samples):
  c = config("bmshj2018", "tiny")
  c.loss.mse_weight = float("nan")
  trainer = loop.build_trainer(c)
  images = jnp.zeros((2, 64, 64, 3), jnp.uint8) + 128
  state = trainer.init(jax.random.key(0), images)
  after, _ = jax.jit(trainer.step)(state, images)
  assert int(after.bad_step) == 0 and int(after.step) == 1
  named = trainer.guarded_names(int(after.bad_terms))
  assert "mse" in named and "rate" not in named
  # Derived from what the step computes: every term, the gradients and the parameters.
  assert {"rate", "mse", "quantiles", "generator_gradients", "updated_parameters"} <= set(trainer.guarded)
  leaves_close(after.params, state.params, rtol=0, atol=0)


def test_the_step_is_pure_and_its_guarded_names_are_fixed_when_it_is_built():
  c = config("hific", "tiny")
  trainer = loop.build_trainer(c)
  # Known before any trace: every term of the objective, D's loss, both gradient norms and the parameters.
  names = ("discriminator", "discriminator_gradients", "gan", "generator_gradients", "lpips", "mse", "quantiles",
           "rate", "updated_parameters")
  assert tuple(trainer.guarded) == names
  pieces = repr(trainer)
  images = jax.ShapeDtypeStruct((loop.images_per_step(c), 64, 64, 3), jnp.uint8)
  state = jax.eval_shape(trainer.init, jax.random.key(0), jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.uint8))
  first = jax.jit(trainer.step).lower(state, images).as_text()
  # Tracing the step changed none of its pieces.
  assert tuple(trainer.guarded) == names and repr(trainer) == pieces
  # A second build from the same config is the same program, so it computes the same bits (the
  # bit-identity of whole runs before and after the pure step was checked when it was written).
  assert jax.jit(loop.build_trainer(c).step).lower(state, images).as_text() == first


def test_a_loss_field_no_term_reads_is_refused():
  c = config("bmshj2018", "tiny")
  c.loss.mse_wieght = 1.0
  with pytest.raises(ValueError, match=r"unknown loss fields \['mse_wieght'\]"):
    loop.build_trainer(c)


def test_stage_two_starts_from_the_stage_one_autoencoder(tmp_path, samples):
  stage1 = config("hific", "stage1,tiny", num_steps=2, checkpoint_every_steps=2)
  first = loop.train(stage1, str(tmp_path / "one"), source=samples)
  stage2 = config("hific", "tiny", num_steps=0, init_from=str(tmp_path / "one"))
  second = loop.train(stage2, str(tmp_path / "two"), source=samples)
  leaves_close(second.params, first.params, rtol=0, atol=0)
  assert jax.tree.leaves(second.disc_params)
  assert all(float(jnp.abs(m).sum()) == 0 for m in jax.tree.leaves(second.opt_state) if m.ndim)

  other = config("bmshj2018", "tiny", num_steps=0, init_from=str(tmp_path / "one"))
  with pytest.raises(loop.ConfigMismatch, match="other layers or sizes"):
    loop.train(other, str(tmp_path / "three"), source=samples)
  with pytest.raises(loop.ConfigMismatch, match="holds a run of another model: discriminator is null"):
    loop.train(config("hific", "tiny", num_steps=0), str(tmp_path / "one"), source=samples)
  missing = config("hific", "tiny", num_steps=0, init_from=str(tmp_path / "nowhere"))
  with pytest.raises(FileNotFoundError, match="neither a model bundle nor a workdir with a checkpoint"):
    loop.train(missing, str(tmp_path / "four"), source=samples)


def snapshot(root) -> dict:
  """Every folder (None) and file (its bytes) under `root`."""
  return {p.relative_to(root): p.read_bytes() if p.is_file() else None for p in root.rglob("*")}


def test_a_workdir_of_another_model_is_refused_before_anything_is_written(tmp_path, samples):
  c = config("bmshj2018", "tiny", num_steps=2, checkpoint_every_steps=2)
  loop.train(c, str(tmp_path), source=samples)
  before = snapshot(tmp_path)
  wider = config("bmshj2018", "tiny", num_steps=4)
  wider.model.channels = 16
  with pytest.raises(loop.ConfigMismatch, match=r"holds a run of another model: model\.channels is 8 in its "
                                                 r"config\.json and 16 in this config"):
    loop.train(wider, str(tmp_path), source=samples)
  assert snapshot(tmp_path) == before
  # Without config.json (a run of an older jgc) the checkpoint refuses the model, and none is written either.
  os.remove(tmp_path / "config.json")
  before = snapshot(tmp_path)
  with pytest.raises(loop.ConfigMismatch, match="does not fit this config"):
    loop.train(wider, str(tmp_path), source=samples)
  assert snapshot(tmp_path) == before
  # The same model resumes with another num_steps, which config.json then records.
  c.num_steps = 3
  assert int(loop.train(c, str(tmp_path), source=samples).step) == 3
  assert json.loads((tmp_path / "config.json").read_text())["num_steps"] == 3


def test_a_workdir_that_cannot_be_written_stops_the_run_in_one_line(tmp_path):
  # A folder inside a file: refused even to root, whom a read-only folder does not stop.
  (tmp_path / "file").write_bytes(b"")
  workdir = tmp_path / "file" / "run"
  out = subprocess.run([sys.executable, "-m", "jgc.main", "--config=configs/bmshj2018.py:tiny", f"--workdir={workdir}"],
                       cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=240)
  assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-3000:]
  named = [line for line in out.stderr.splitlines() if str(workdir) in line]
  assert named == [f"jgc.main: cannot write {workdir}: Not a directory"], out.stderr[-3000:]


# jgc.main in a process whose files cannot grow past 20 kB, as on a full disk but even for
# root: config.json and the first TensorBoard events fit, a checkpoint does not.
SMALL_FILES = textwrap.dedent("""
    import resource, runpy, signal, sys
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # a write past the limit then fails with EFBIG
    resource.setrlimit(resource.RLIMIT_FSIZE, (20_000, 20_000))
    sys.argv = ["jgc.main", *sys.argv[1:]]
    runpy.run_module("jgc.main", run_name="__main__")
""")


def test_a_checkpoint_that_cannot_be_written_stops_the_run_in_one_line(tmp_path):
  cmd = [sys.executable, "-c", SMALL_FILES, "--config=configs/bmshj2018.py:tiny", f"--workdir={tmp_path}",
         "--config.num_steps=6", "--config.checkpoint_every_steps=2", "--config.log_every_steps=1"]
  out = subprocess.run(cmd, cwd=ROOT, env=ENV, capture_output=True, text=True, timeout=240)
  # Orbax writes it in background threads, and logs, warns and calls back from each of them when it fails.
  assert out.returncode == 1 and "Traceback" not in out.stderr, out.stderr[-3000:]
  # Besides the one line of the run's own: where the parameter tables went.
  named = [line for line in out.stderr.splitlines() if str(tmp_path) in line and "(tables in " not in line]
  assert named == [f"jgc.main: cannot write {tmp_path / 'checkpoints'}: File too large"], out.stderr[-3000:]
  assert not [d for d in os.listdir(tmp_path / "checkpoints") if d.isdigit()]


def test_bad_settings_are_named():
  with pytest.raises(ValueError, match="does not split evenly over 4 devices on 1 hosts with both D and G"):
    loop.check_batch(config("hific", "tiny", batch_size=3), num_devices=4, num_hosts=1)
  with pytest.raises(ValueError, match="does not split evenly over 2 devices on 2 hosts"):
    loop.check_batch(config("bmshj2018", "tiny", batch_size=3), num_devices=2, num_hosts=2)
  loop.check_batch(config("hific", "tiny", batch_size=4), num_devices=4, num_hosts=2)
  stage1 = config("hific", "stage1,tiny")
  stage1.loss.gan_weight = 0.1
  with pytest.raises(ValueError, match="gan_weight set but the config has no discriminator"):
    loop.build_trainer(stage1)


@pytest.mark.parametrize("name,arg", [("hific", "lo,hi,tiny"), ("mbt2018", "mean,ar"), ("mbt2018", "q1,q8"),
                                      ("bmshj2018", "q2,q3"), ("gc", "c2,c8")])
def test_conflicting_config_options_are_refused(name, arg):
  with pytest.raises(ValueError, match=f"{name}.py: pick one of"):
    config(name, arg)


TWO_PROCESSES = textwrap.dedent("""
    import json, sys
    import jax, numpy as np
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(coordinator_address=sys.argv[1], num_processes=2, process_id=int(sys.argv[2]))
    from jgc.training import defaults, loop
    c = defaults.sibling("configs/bmshj2018.py", "bmshj2018").get_config("tiny")
    c.update(num_steps=3, log_every_steps=1, checkpoint_every_steps=3)
    state = loop.train(c, sys.argv[3])
    total = sum(float(np.abs(np.asarray(p)).sum()) for p in jax.tree.leaves(state.params))
    # One step on a fixed global batch, each process feeding its half.
    from jax.sharding import NamedSharding, PartitionSpec as P
    trainer, mesh = loop.build_trainer(c), loop.make_mesh()
    batch = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
    half = batch[2 * jax.process_index() : 2 * jax.process_index() + 2]
    images = jax.make_array_from_process_local_data(NamedSharding(mesh, P("data")), half)
    fresh = jax.jit(trainer.init, out_shardings=NamedSharding(mesh, P()))(jax.random.key(0), batch[:1])
    stepped, _ = jax.jit(trainer.step, out_shardings=NamedSharding(mesh, P()))(fresh, images)
    if jax.process_index() == 0:
      leaves = [np.asarray(x.addressable_shards[0].data) for x in jax.tree.leaves(stepped)]
      np.savez(sys.argv[3] + "/step.npz", *leaves)
    print(json.dumps({"process": jax.process_index(), "devices": jax.device_count(), "params_l1": total}))
""")


def test_two_processes_train_together_and_one_resumes(tmp_path, samples):
  with socket.socket() as s:
    s.bind(("127.0.0.1", 0))
    address = f"127.0.0.1:{s.getsockname()[1]}"
  procs = [subprocess.Popen([sys.executable, "-c", TWO_PROCESSES, address, str(i), str(tmp_path)], cwd=ROOT,
                            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True) for i in range(2)]
  results = []
  for p in procs:
    out, err = p.communicate(timeout=600)
    assert p.returncode == 0, err[-3000:]
    results.append(json.loads(out.strip().splitlines()[-1]))
  assert [r["devices"] for r in results] == [2, 2]
  assert results[0]["params_l1"] == results[1]["params_l1"]  # replicated, not drifting apart
  saved = os.listdir(tmp_path / "checkpoints" / "3" / "data")
  assert {"process_0-of-2.json", "process_1-of-2.json"} <= set(saved)
  # The same global batch in one process gives the same state.
  trainer = loop.build_trainer(config("bmshj2018", "tiny"))
  batch = np.random.default_rng(0).integers(0, 256, (4, 64, 64, 3), dtype=np.uint8)
  single, _ = jax.jit(trainer.step)(trainer.init(jax.random.key(0), batch[:1]), jnp.asarray(batch))
  two = np.load(tmp_path / "step.npz")
  for i, leaf in enumerate(jax.tree.leaves(single)):
    expected = np.asarray(leaf, np.float64)
    # Float rounding: relative to the array's largest entry, or absolute for
    # arrays of a single tiny value (a one-step Adam update of ~1e-4).
    scale = np.max(np.abs(expected), initial=0.0)
    assert np.max(np.abs(two[f"arr_{i}"] - expected), initial=0.0) <= 1e-4 * scale + 1e-7, i
  # One host picks the run up: the state restores, the input restarts from the seed.
  c = config("bmshj2018", "tiny", num_steps=4, checkpoint_every_steps=4)
  state = loop.train(c, str(tmp_path), source=samples)
  assert int(state.step) == 4 and int(state.bad_step) == -1


def _narrow(arg: str, widths, imported: str, steps: int):
  c = config("hific", arg, num_steps=steps, checkpoint_every_steps=10, init_from=imported)
  c.model.update(encoder_channels=widths.ENCODER, generator_channels=widths.GENERATOR, latent_channels=widths.LATENT,
                 hyper_channels=widths.HYPER, num_residual_blocks=widths.BLOCKS)
  return c


def test_an_imported_msillm_model_fine_tunes_in_the_gan_stage_and_exports_a_bundle_that_codes(tmp_path, samples):
  # NeuralCompression's narrow HiFiCAutoencoder checkpoint, imported as a user would, fine-tuned against
  # MS-ILLM's own D (configs/hific.py:illm), whose targets come from NC's narrow VQ-VAE, imported too.
  imported, labeler = str(tmp_path / "msillm.jgcm"), str(tmp_path / "vqvae.jgcl")
  assert cli.main(["import", "msillm", os.path.join(msillm_reference.DATA, "msillm.pt"), "-o", imported]) == 0
  assert cli.main(["import", "vqvae", os.path.join(ROOT, "tests", "data", "illm", "vqvae.ckpt"), "-o", labeler]) == 0

  def run(steps: int) -> loop.TrainState:
    c = _narrow("msillm,illm,tiny", msillm_reference, imported, steps)
    c.discriminator.labeler = labeler
    return loop.train(c, str(tmp_path / f"run{steps}"), source=samples)

  start = run(0)
  leaves_close(start.params, bundles.load(imported).params, rtol=0, atol=0)
  assert all(float(jnp.abs(m).sum()) == 0 for m in jax.tree.leaves(start.opt_state) if m.ndim)
  # D scores the labeler's 16 codes and "fake"; the labeler is applied, never trained: neither the
  # state nor D's optimizer holds its parameters.
  assert start.disc_params["head"]["kernel"].shape[-1] == 17
  assert "codebook" not in str(jax.tree_util.tree_structure(start))
  assert len(jax.tree.leaves(start.disc_params)) * 2 == len([a for a in jax.tree.leaves(start.disc_opt_state)
                                                             if a.ndim])

  tuned = run(10)
  assert int(tuned.step) == 10 and int(tuned.bad_step) == -1
  assert all(bool(jnp.all(jnp.isfinite(p))) for p in jax.tree.leaves((tuned.params, tuned.disc_params)))
  moved = [float(jnp.abs(a - b).max()) for a, b in zip(jax.tree.leaves(tuned.params), jax.tree.leaves(start.params),
                                                        strict=True)]
  assert max(moved) > 0
  codec = Codec(export.export(str(tmp_path / "run10"), str(tmp_path / "tuned.jgcm")))
  image = skimage.data.astronaut()[100:164, 150:246]
  decoded = codec.decompress(codec.compress(image))
  assert decoded.shape == image.shape and decoded.dtype == np.uint8

  # The config must build the bundle's architecture: the first differing field is named.
  with pytest.raises(loop.ConfigMismatch, match=r"model\.padding is 'TORCH' there and 'SAME' here"):
    loop.train(_narrow("tiny", msillm_reference, imported, 0), str(tmp_path / "plain"), source=samples)


def test_the_pytorch_ports_imports_have_their_config(tmp_path):
  imported = str(tmp_path / "port.jgcm")
  assert cli.main(["import", "hific-pytorch", os.path.join(hific_pytorch_reference.DATA, "hific.pt"),
                   "-o", imported]) == 0
  theirs = bundles.load(imported).model_config
  ours, plain = (_narrow(arg, hific_pytorch_reference, imported, 0).model for arg in ("pytorch,tiny", "tiny"))
  assert loop._architecture_difference(theirs, ours) is None
  assert loop._architecture_difference(theirs, plain) == "model.padding is 'REFLECT' there and 'SAME' here"
