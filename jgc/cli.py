"""`jgc` (also `python -m jgc`): export or import a model, compress, decompress.

    jgc export WORKDIR -o model.jgcm
    jgc import compressai mbt2018-mean mbt2018-mean-3-e54a039d.pth.tar -o mbt2018-mean-q3.jgcm
    jgc import msillm msillm_target_0.14bpp.ckpt -o msillm-q3.jgcm
    jgc import vqvae vqvae_xcit_p8_ch64_cb1024_h8.ckpt -o vqvae.jgcl
    jgc compress photo.png photos/ -m model.jgcm -o out/
    jgc decompress out/ -m model.jgcm -o decoded/

Folders are walked recursively and mirrored under the output folder. One bad
file is reported and skipped; the exit status is 1 if any file failed.
Outputs are written to a temporary name and renamed, so an interrupted run
never leaves half a file; existing files (bundles too) are kept unless
`--force`, and two inputs that would write the same output are refused
before anything is written.
"""

import argparse
import io
import os
import sys
import time
from collections.abc import Callable, Iterator

import numpy as np
from PIL import Image

from jgc import errors
from jgc.codec import bundle as bundles
from jgc.codec import import_compressai, import_hific_pytorch, import_msillm, import_vqvae, labeler
from jgc.codec.compressor import BUCKET_PX, Codec
from jgc.io import compile_cache, image_files, paths

SUFFIX = ".jgc"
OVERWRITE_BUNDLE = "overwrite an existing bundle (files made with it no longer decode)"
_BAR = 20  # characters of the progress bar
# What is reported in one line, per file or for the run; anything else is a bug in jgc and surfaces with its traceback.
EXPECTED = errors.Error


def _inputs(given: list[str], extensions: tuple[str, ...]) -> Iterator[tuple[str, str]]:
  """`(path, path relative to its input root)` of every matching file, folders recursed."""
  for path in given:
    if os.path.isdir(path):
      found = False
      for root, _, names in sorted(os.walk(path)):
        for name in sorted(names):
          if name.lower().endswith(extensions):
            found = True
            full = os.path.join(root, name)
            yield full, os.path.relpath(full, path)
      if not found:
        raise errors.NotFound(f"{path}: no {'/'.join(extensions)} files in this folder")
    elif os.path.exists(path):
      yield path, os.path.basename(path)
    else:
      raise errors.NotFound(f"{path}: no such file or folder")


def _target(out: str, rel: str, suffix: str, single: bool) -> str:
  """`photo.jpg` -> `photo.jpg.jgc` -> `photo.jpg.png`; `photo.png.jgc` -> `photo.png`.

  Names keep their extension, so `a.png` and `a.jpg` never collide.
  """
  if single and not os.path.isdir(out) and out.lower().endswith(suffix):
    return out
  if rel.lower().endswith(SUFFIX):
    rel = rel[: -len(SUFFIX)]
  return os.path.join(out, rel if rel.lower().endswith(suffix) else rel + suffix)


def _targets(files: list[tuple[str, str]], out: str, suffix: str) -> list[str]:
  """Each input's output path; two inputs with one output are an error before anything is written."""
  targets, seen = [], {}
  for path, rel in files:
    target = _target(out, rel, suffix, len(files) == 1)
    key = os.path.normcase(os.path.abspath(target))
    if key in seen:
      raise errors.ConfigError(f"{seen[key]} and {path} would both be written to {target}; give them separate runs")
    seen[key] = path
    targets.append(target)
  return targets


def _png(image: np.ndarray) -> bytes:
  buf = io.BytesIO()
  Image.fromarray(image).save(buf, format="PNG")
  return buf.getvalue()


def _run(files: list[tuple[str, str]], targets: list[str], work: Callable[[str, str], str], label: str) -> int:
  """Applies `work(path, target) -> line` to each file; prints progress and a total."""
  failed, start = 0, time.perf_counter()
  for i, ((path, _), target) in enumerate(zip(files, targets, strict=True), 1):
    done = round(_BAR * i / len(files))
    prefix = f"[{'#' * done}{'.' * (_BAR - done)}] {i}/{len(files)} {path}"
    try:
      print(f"{prefix}: {work(path, target)}", flush=True)
    except EXPECTED as e:
      failed += 1
      print(f"{prefix}: error: {e}", file=sys.stderr, flush=True)
  print(f"{label} {len(files) - failed} of {len(files)} files in {time.perf_counter() - start:.2f} s"
        + (f"; {failed} failed" if failed else ""), flush=True)
  return 1 if failed else 0


def compress(args: argparse.Namespace) -> int:
  codec = Codec(bundles.load(args.model), args.bucket_px)
  files = list(_inputs(args.inputs, image_files.EXTENSIONS))
  targets = _targets(files, args.output, SUFFIX)
  totals = {"bits": 0, "pixels": 0, "in": 0}

  def work(path: str, target: str) -> str:
    image, note = image_files.read(path)
    t = time.perf_counter()
    data = codec.compress(image)
    seconds = time.perf_counter() - t
    paths.write_bytes(target, data, overwrite=args.force)
    pixels = image.shape[0] * image.shape[1]
    totals["bits"] += 8 * len(data)
    totals["pixels"] += pixels
    totals["in"] += os.path.getsize(path)
    warn = f" (warning: {note})" if note else ""
    return (f"{image.shape[1]}x{image.shape[0]} -> {target}: {len(data)} bytes, "
            f"{8 * len(data) / pixels:.4f} bpp, {seconds:.2f} s{warn}")

  status = _run(files, targets, work, "compressed")
  if totals["pixels"]:
    print(f"total: {totals['bits'] / totals['pixels']:.4f} bpp, {totals['bits'] // 8} bytes "
          f"from {totals['in']} bytes of input")
  return status


def decompress(args: argparse.Namespace) -> int:
  codec = Codec(bundles.load(args.model))
  files = list(_inputs(args.inputs, (SUFFIX,)))
  targets = _targets(files, args.output, ".png")

  def work(path: str, target: str) -> str:
    data = paths.read_bytes(path)
    t = time.perf_counter()
    image = codec.decompress(data)
    seconds = time.perf_counter() - t
    paths.write_bytes(target, _png(image), overwrite=args.force)
    return f"{image.shape[1]}x{image.shape[0]} -> {target}, {seconds:.2f} s"

  return _run(files, targets, work, "decompressed")


def export(args: argparse.Namespace) -> int:
  # Here, not at the top: compressing and decompressing never load orbax and grain.
  from jgc.training.export import export as export_workdir  # noqa: PLC0415

  bundle = export_workdir(args.workdir, args.output, overwrite=args.force)
  size = paths.resolve(args.output).stat().length
  print(f"{args.output}: model {bundle.model_id.hex()} ({bundle.name}), {size} bytes")
  return 0


def _write_imported(data: bytes, output: str, force: bool, what: Callable[[dict], str]) -> int:
  paths.write_bytes(output, data, overwrite=force)
  bundle = bundles.parse(data, output)
  print(f"{output}: model {bundle.model_id.hex()} ({what(bundle.model_config)}), {len(data)} bytes")
  return 0


def import_from_compressai(args: argparse.Namespace) -> int:
  return _write_imported(import_compressai.bundle_bytes(args.arch, args.checkpoint), args.output, args.force,
                         lambda c: f"{args.arch}, N={c['channels']}, M={c['latent_channels']}")


def import_from_hific_pytorch(args: argparse.Namespace) -> int:
  return _write_imported(import_hific_pytorch.bundle_bytes(args.checkpoint), args.output, args.force,
                         lambda c: f"HiFiC from the PyTorch port, C={c['latent_channels']}, "
                                   f"{c['num_residual_blocks']} residual blocks")


def import_from_msillm(args: argparse.Namespace) -> int:
  return _write_imported(import_msillm.bundle_bytes(args.checkpoint), args.output, args.force,
                         lambda c: f"HiFiC from NeuralCompression (MS-ILLM / NoGAN-MS), C={c['latent_channels']}, "
                                   f"{c['num_residual_blocks']} residual blocks")


def import_vqvae_labeler(args: argparse.Namespace) -> int:
  data = import_vqvae.labeler_bytes(args.checkpoint)
  paths.write_bytes(args.output, data, overwrite=args.force)
  config = labeler.parse(data, args.output).config
  print(f"{args.output}: labeler for discriminator.labeler (NeuralCompression's VQ-VAE, {config['codebook_size']} "
        f"codes), {len(data)} bytes")
  return 0


def parser() -> argparse.ArgumentParser:
  p = argparse.ArgumentParser(prog="jgc", description="Learned image compression with jgc models.")
  sub = p.add_subparsers(dest="command", required=True)
  e = sub.add_parser("export", help="write a model bundle from a training workdir")
  e.add_argument("workdir", help="training workdir: a local path or gs:// URL")
  e.add_argument("-o", "--output", required=True, help="bundle file to write (a local path or gs:// URL)")
  e.add_argument("--force", action="store_true", help=OVERWRITE_BUNDLE)
  e.set_defaults(run=export)
  i = sub.add_parser("import", help="write a model bundle from another library's checkpoint")
  sources = i.add_subparsers(dest="source", required=True)
  c = sources.add_parser("compressai", help="a CompressAI checkpoint (zoo file or state_dict), read without torch")
  c.add_argument("arch", choices=list(import_compressai.ARCHS))
  h = sources.add_parser("hific-pytorch", help="a checkpoint of the PyTorch HiFiC port (Justin-Tan), "
                                               "read without torch")
  n = sources.add_parser("msillm", help="a NeuralCompression MS-ILLM or NoGAN-MS checkpoint (msillm_*.ckpt, "
                                        "noganms_*.ckpt), read without torch")
  v = sources.add_parser("vqvae", help="NeuralCompression's MS-ILLM VQ-VAE (vqvae_xcit_*.ckpt), read without torch, "
                                       "as the labeler file of configs/hific.py:illm's discriminator")
  for source, run in ((c, import_from_compressai), (h, import_from_hific_pytorch), (n, import_from_msillm),
                      (v, import_vqvae_labeler)):
    source.add_argument("checkpoint")
    written = "labeler file" if source is v else "bundle file"
    source.add_argument("-o", "--output", required=True, help=f"{written} to write")
    source.add_argument("--force", action="store_true",
                        help="overwrite an existing labeler file" if source is v else OVERWRITE_BUNDLE)
    source.set_defaults(run=run)
  for name, run, what in (("compress", compress, "images or folders of images"),
                          ("decompress", decompress, ".jgc files or folders of them")):
    s = sub.add_parser(name, help=f"{name} {what}")
    s.add_argument("inputs", nargs="+", help=what)
    s.add_argument("-m", "--model", required=True, help="model bundle (from `jgc export`)")
    s.add_argument("-o", "--output", required=True, help="output folder (or file, for one input)")
    s.add_argument("--force", action="store_true", help="overwrite existing outputs")
    s.set_defaults(run=run)
    if name == "compress":
      s.add_argument("--bucket-px", type=int, default=BUCKET_PX,
                     help=f"compile the transforms for image sizes rounded up to multiples of this (default "
                          f"{BUCKET_PX}), so that photos of many sizes share a few compilations; the files are "
                          "the same whatever it is")
  return p


def main(argv: list[str] | None = None) -> int:
  args = parser().parse_args(argv)
  # A file name that the terminal's encoding cannot show is printed escaped, not failed.
  for stream in (sys.stdout, sys.stderr):
    if hasattr(stream, "reconfigure"):
      stream.reconfigure(errors="backslashreplace")
  compile_cache.enable()
  try:
    return args.run(args)
  except EXPECTED as e:
    print(f"jgc {args.command}: error: {e}", file=sys.stderr)
    return 2


if __name__ == "__main__":
  sys.exit(main())
