"""Loading checkpoints, preparing inputs, predicting."""

# The backends of exported models (.tflite, .onnx, SavedModel) register themselves in
# checkpoint.BACKENDS; importing them here makes them known wherever checkpoints are resolved.
from aimodel.inference import exported  # noqa: E402,F401
