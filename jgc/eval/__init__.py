"""Evaluation: image-quality metrics, classical codecs at matched rates, BD-rate."""
