"""A local GCS emulator that TensorStore (orbax's array store) can use.

    python tests/gcs_emulator.py --port 9023 --bucket my-bucket
    export STORAGE_EMULATOR_HOST=http://127.0.0.1:9023

gcp-storage-emulator serves everything jgc needs except three details of media
downloads:
- the `x-goog-generation` header and the `ifGenerationMatch` /
  `ifGenerationNotMatch` preconditions (304 and 412), which TensorStore relies
  on: without them, orbax's first save fails with "Malformed StorageGeneration";
- suffix ranges (`Range: bytes=-N`, the last N bytes), with which ArrayRecord
  reads a file's footer: without them, TFDS data in a bucket reads as corrupt.
This adds them to the emulator's download handler, then runs it in memory.
"""

import argparse
import re
from http import HTTPStatus

from gcp_storage_emulator.exceptions import NotFound
from gcp_storage_emulator.handlers import objects

_download = objects.download


def _download_with_generation(request, response, storage, *args, **kwargs):
  try:
    obj = storage.get_file_obj(request.params["bucket_name"], request.params["object_id"])
  except NotFound:
    return _download(request, response, storage, *args, **kwargs)
  generation = obj["generation"]
  response["x-goog-generation"] = generation
  suffix = re.fullmatch(r"\s*bytes=-(\d+)\s*", request.get_header("range") or "")
  if suffix:
    start = max(0, int(obj["size"]) - int(suffix.group(1)))
    request._request_handler.headers.replace_header("range", f"bytes={start}-")
  unless = request.query.get("ifGenerationNotMatch")
  only_if = request.query.get("ifGenerationMatch")
  if unless and unless[0] == generation:
    response.status = HTTPStatus.NOT_MODIFIED
  elif only_if and only_if[0] != generation:
    response.status = HTTPStatus.PRECONDITION_FAILED
  else:
    _download(request, response, storage, *args, **kwargs)


# The server module builds its routes from `objects` when it is imported.
objects.download = _download_with_generation
from gcp_storage_emulator.server import create_server  # noqa: E402


def main() -> None:
  p = argparse.ArgumentParser(description=__doc__.split("\n")[0])
  p.add_argument("--host", default="127.0.0.1")
  p.add_argument("--port", type=int, required=True)
  p.add_argument("--bucket", required=True, help="bucket to create")
  args = p.parse_args()
  create_server(args.host, args.port, in_memory=True, default_bucket=args.bucket).run()


if __name__ == "__main__":
  main()
