"""Loading checkpoints, preparing inputs, predicting."""
