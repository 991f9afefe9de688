"""Decoding image files inside tf.data: TensorFlow's decoders where they match Pillow exactly, Pillow elsewhere.

Used by the training pipeline when a folder is decoded every epoch, and to fill
decoded-pixel caches (:meth:`aimodel.data.imagefiles.ImageFiles.fill`).

Measured (docs/speed.md): streaming MNIST PNGs, TensorFlow's decoder one file per
element of a parallel map trains 1.26× faster than Pillow a batch per call,
because it leaves the GIL to the training loop; but Pillow one file per call is
2× slower than Pillow a batch per call. So a folder of mostly plain files is
decoded per file, and any other folder a batch of files per Pillow call.
"""

from __future__ import annotations


def decoded(files, positions, batch_size: int):
    """Batches of ``(uint8 images, positions)`` for the file positions the dataset ``positions`` yields, in order."""
    import tensorflow as tf

    plain = verified_plain(files)
    if len(plain) and (plain > 0).mean() >= 0.5:
        decode = file_decoder(files, plain)
        return positions.map(lambda i: (decode(i), i), num_parallel_calls=tf.data.AUTOTUNE).batch(batch_size)
    shape = (None,) + tuple(files.sample_shape)

    def load(idx):
        images = tf.numpy_function(files.load, [idx], tf.uint8, stateful=False)
        images.set_shape(shape)
        return images, idx

    return positions.batch(batch_size).map(load, num_parallel_calls=tf.data.AUTOTUNE)


def file_decoder(files, plain=None):
    """A tf.data map function: a file position (int64 scalar) → its uint8 (H, W, C) pixels.

    Files TensorFlow can decode exactly (``files.plain``) are read and decoded
    in the graph: in parallel, without the GIL. The others go through Pillow
    (:func:`aimodel.data.images.decode_file`, as predict does) one file per call.
    Before relying on TensorFlow for a format, the first such file is decoded
    both ways; a difference (another libjpeg, say) sends that format to Pillow.
    """
    import numpy as np
    import tensorflow as tf

    from aimodel.data.images import PLAIN_JPEG, PLAIN_PNG

    height, width, channels = files.sample_shape
    plain = verified_plain(files) if plain is None else plain
    paths = tf.constant([str(files.absolute(i)) for i in range(len(files))])
    kinds = tf.constant(plain)

    def by_pillow(i):
        image = tf.numpy_function(lambda k: files.load([int(k)])[0], [i], tf.uint8, stateful=False)
        return tf.ensure_shape(image, (height, width, channels))

    def png(i):
        return tf.io.decode_png(tf.io.read_file(paths[i]), channels=channels)

    def jpeg(i):
        # Pillow's libjpeg uses the accurate integer DCT; TensorFlow's default (the fast one) differs.
        return tf.io.decode_jpeg(tf.io.read_file(paths[i]), channels=channels, dct_method="INTEGER_ACCURATE")

    present = set(np.unique(plain).tolist())
    if present == {PLAIN_PNG}:
        return lambda i: tf.ensure_shape(png(i), (height, width, channels))
    if present == {PLAIN_JPEG}:
        return lambda i: tf.ensure_shape(jpeg(i), (height, width, channels))
    if present == {0}:
        return by_pillow

    def decode(i):
        branches = {0: lambda: by_pillow(i), PLAIN_PNG: lambda: png(i), PLAIN_JPEG: lambda: jpeg(i)}
        image = tf.switch_case(tf.cast(kinds[i], tf.int32), [branches.get(k, branches[0]) for k in range(3)])
        return tf.ensure_shape(image, (height, width, channels))

    return decode


def verified_plain(files):
    """``files.plain``, with a format set to 0 (Pillow) where TensorFlow decodes its first file differently."""
    import logging

    import numpy as np
    import tensorflow as tf

    from aimodel.data.images import PLAIN_JPEG, PLAIN_PNG

    plain = files.plain.copy()
    channels = files.sample_shape[-1]
    for kind in (PLAIN_PNG, PLAIN_JPEG):
        where = np.flatnonzero(plain == kind)
        if not len(where):
            continue
        data = tf.io.read_file(str(files.absolute(int(where[0]))))
        if kind == PLAIN_PNG:
            ours = tf.io.decode_png(data, channels=channels)
        else:
            ours = tf.io.decode_jpeg(data, channels=channels, dct_method="INTEGER_ACCURATE")
        if not np.array_equal(ours.numpy(), files.load([int(where[0])])[0]):
            logging.getLogger(__name__).warning(
                "%s: TensorFlow decodes it differently from Pillow; decoding such files with Pillow",
                files.absolute(int(where[0])))
            plain[where] = 0
    return plain


def decoded_batches(files, batch_size: int = 256):
    """Every image of ``files`` in order, decoded in parallel, as uint8 NumPy batches (fills caches)."""
    import tensorflow as tf

    for images, _ in decoded(files, tf.data.Dataset.range(len(files)), batch_size).prefetch(2):
        yield images.numpy()
