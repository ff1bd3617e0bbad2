"""Input pipeline: TFDS datasets, local image folders and an embedded sample set."""

from jgc.data.errors import DataError
from jgc.data.pipeline import BadRecords, train_dataset
from jgc.data.sources import EncodedImages, embedded_samples, open_source

__all__ = ["BadRecords", "DataError", "EncodedImages", "embedded_samples", "open_source", "train_dataset"]
