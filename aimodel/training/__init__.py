"""Training: runner, callbacks, run directories."""
