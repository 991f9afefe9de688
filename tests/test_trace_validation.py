"""The validation function is traced in the background during the first epoch, and computes as before."""

from __future__ import annotations

import numpy as np


def _model_and_data():
    import keras
    import tensorflow as tf

    keras.utils.set_random_seed(3)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(8, activation="relu"),
                              keras.layers.Dense(3, activation="softmax")])
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"],
                  steps_per_execution=4)
    rng = np.random.default_rng(0)
    x, y = rng.normal(size=(40, 6)).astype("float32"), rng.integers(0, 3, 40)
    return model, tf.data.Dataset.from_tensor_slices((x, y)).batch(8)


def _tracing_count(model) -> int:
    inner = [c.cell_contents for c in model.test_function.__closure__
             if type(c.cell_contents).__name__ in ("Function", "PolymorphicFunction")]
    assert len(inner) == 1
    return inner[0].experimental_get_tracing_count()


def test_background_trace_is_the_one_evaluate_uses():
    from aimodel.compat import trace_test_function_in_background

    model, ds = _model_and_data()
    model.fit(ds, epochs=1, verbose=0)  # builds the compiled loss and metrics, as the first epoch does
    expected = model.evaluate(ds, verbose=0, return_dict=True)
    model.test_function = None  # as after compile: not traced yet
    thread = trace_test_function_in_background(model, ds)
    assert thread is not None, "Keras no longer keeps the test step's tf.function in test_function's closure"
    thread.join()
    wrapper = model.test_function  # waits for the thread on its first call, then hands over to Keras'
    got = model.evaluate(ds, verbose=0, return_dict=True)
    assert model.test_function is not wrapper
    assert got == expected
    assert _tracing_count(model) == 1  # evaluate reused the background trace
    assert trace_test_function_in_background(model, ds) is None  # already traced: nothing to do


def test_fit_with_validation_traces_once_and_matches_plain_keras():
    from aimodel.training.runner import _trace_validation_early

    results = []
    for early in (False, True):
        model, ds = _model_and_data()
        callbacks = _trace_validation_early(ds) if early else []
        history = model.fit(ds, validation_data=ds, epochs=2, verbose=0, callbacks=callbacks)
        results.append(history.history)
        assert _tracing_count(model) == 1
    assert results[0] == results[1]
    assert _trace_validation_early(None) == []
