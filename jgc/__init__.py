"""jgc: GAN-based learned image compression in JAX/Flax, with real bitstreams."""

__version__ = "0.1.0"
