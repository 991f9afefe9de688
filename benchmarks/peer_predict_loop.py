"""Hand-written batch prediction as usually written first: one ``model.predict`` per image.

    python benchmarks/peer_predict_loop.py MODEL.keras IMAGE_DIR

The peer of ``aimodel predict IMAGE_DIR/*.png``. Prints one ``bench:`` JSON line with the
predicted label of every file, in sorted file-name order.
"""

import json
import sys
from pathlib import Path

import keras
import numpy as np
from PIL import Image

model = keras.saving.load_model(sys.argv[1], compile=False)
labels = {}
for path in sorted(Path(sys.argv[2]).glob("*.png")):
    image = np.asarray(Image.open(path).convert("L"), dtype="float32")
    probs = model.predict(image[None, :, :, None], verbose=0)
    labels[path.name] = int(np.argmax(probs[0]))
print("bench:", json.dumps({"labels": labels}))
