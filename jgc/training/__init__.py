"""Training: the jitted step, its losses and optimizers, checkpoints, summaries and the loop."""
