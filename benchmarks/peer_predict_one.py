"""Minimal hand-written prediction: load a ``.keras`` file and classify one image.

    python benchmarks/peer_predict_one.py MODEL.keras IMAGE.png

The peer of ``aimodel predict IMAGE.png``. The model takes raw 0..255 pixels (its first
layer rescales), as aimodel saves it.
"""

import sys

import keras
import numpy as np
from PIL import Image

model = keras.saving.load_model(sys.argv[1], compile=False)
image = np.asarray(Image.open(sys.argv[2]).convert("L"), dtype="float32")
probs = model.predict(image[None, :, :, None], verbose=0)
print(sys.argv[2], int(np.argmax(probs[0])), float(np.max(probs[0])))
