"""Every private Keras, TensorFlow and library name in aimodel/compat.py still exists and still does its job.

When an upgrade moves one, the test fails with the private name and the wrapper that needs a new way
(never a skip: a silently missing workaround changes results, speed or crash safety).
"""

from __future__ import annotations

import codecs
import inspect
import json

import numpy as np
import pytest

from aimodel import compat


def _require(owner, name: str, wrapper: str) -> None:
    """Fail loudly when ``owner.name`` (a private API) is gone."""
    label = getattr(owner, "__name__", type(owner).__name__)
    assert hasattr(owner, name), (
        f"private API {label}.{name} is gone in this version: aimodel.compat.{wrapper} needs another way")


# --- Keras ------------------------------------------------------------------------------------------


def test_flatten_layers_finds_layers_inside_nested_models_and_wrappers():
    import keras

    _require(keras.layers.Layer, "_flatten_layers", "flatten_layers")
    inner = keras.Sequential([keras.Input((3, 4)), keras.layers.Dense(4, name="inner_dense")], name="inner")
    inputs = keras.Input((3, 4))
    x = keras.layers.Bidirectional(keras.layers.LSTM(2, name="wrapped_lstm"), name="bi")(inner(inputs))
    model = keras.Model(inputs, keras.layers.Dense(2, name="head")(x), name="outer")
    names = [layer.name for layer in compat.flatten_layers(model)]
    assert "outer" not in names
    assert {"inner", "inner_dense", "bi", "head"} <= set(names)
    assert any("wrapped_lstm" in n for n in names)  # Bidirectional's copies of the LSTM
    assert "inner_dense" not in [layer.name for layer in model.layers]  # what the public walk misses


def test_seed_generators_lists_a_dropout_layers_generator():
    import keras

    dropout = keras.layers.Dropout(0.5)
    assert "_seed_generators" in vars(dropout), (
        "private API Layer._seed_generators is gone: aimodel.compat.seed_generators would silently find "
        "no generator and resumed runs would draw different dropout masks")
    generators = compat.seed_generators(dropout)
    assert len(generators) == 1 and isinstance(generators[0], keras.random.SeedGenerator)
    assert compat.seed_generators(keras.layers.Dense(2)) == []
    # What reseed_layers does with it: the state decides the mask.
    generators[0].state.assign(np.array([5, 0], dtype=generators[0].state.dtype))
    first = np.asarray(dropout(np.ones((1, 64), "float32"), training=True))
    generators[0].state.assign(np.array([5, 0], dtype=generators[0].state.dtype))
    np.testing.assert_array_equal(np.asarray(dropout(np.ones((1, 64), "float32"), training=True)), first)


def test_symbolic_build_creates_the_optimizer_and_metric_variables():
    import keras

    _require(keras.Model, "_symbolic_build", "symbolic_build")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    model.compile(optimizer=keras.optimizers.Adam(), loss="sparse_categorical_crossentropy",
                  metrics=[keras.metrics.SparseCategoricalAccuracy(name="accuracy")])
    assert not model.optimizer.built
    compat.symbolic_build(model, (np.zeros((2, 4), "float32"), np.zeros((2,), "int64")))
    assert model.optimizer.built
    assert len(model.optimizer.variables) > 2  # iterations, learning rate, Adam's m and v per weight
    assert all(metric.variables for metric in model.metrics)


def test_fused_adam_reads_kerass_slots_and_matches_kerass_update():
    import keras
    import tensorflow as tf

    built = keras.optimizers.Adam()
    built.build([keras.Variable(np.zeros(2, "float32"))])
    for name in compat.ADAM_INTERNALS:
        _require(built, name, "fuse_adam_update")
    start = np.array([[0.5, -1.0], [2.0, 0.25]], "float32")
    grads = [np.array([[0.1, -0.2], [0.3, 0.05]], "float32"), np.array([[-0.4, 0.2], [0.0, 0.1]], "float32")]
    results = []
    for fused in (False, True):
        variable = keras.Variable(start)
        opt = keras.optimizers.Adam(learning_rate=0.1)
        opt.build([variable])
        if fused:
            keras_step = opt.update_step
            assert compat.fuse_adam_update(opt)
            assert opt.update_step is not keras_step
        for g in grads:
            tf.function(lambda g: opt.apply_gradients([(g, variable)]))(tf.constant(g))  # noqa: B023 (called at once)
        results.append(variable.numpy())
    np.testing.assert_allclose(results[1], results[0], rtol=1e-5, atol=1e-6)
    assert not np.allclose(results[1], start)


def test_fused_adam_leaves_an_optimizer_without_the_internals_alone():
    class NotAdam:
        update_step = None

    assert compat.fuse_adam_update(NotAdam()) is False


def test_the_save_cache_fix_leaves_a_second_save_building_no_reference_layer(tmp_path, monkeypatch):
    """Keras 3.15 rebuilds a reference Layer/Optimizer on every save (its cache key is misspelt);
    the fix fills the key Keras reads, so a save builds none, and the file still loads."""
    import keras

    try:
        from keras.src.layers.layer import Layer
        from keras.src.saving import saving_lib
    except ImportError as exc:
        pytest.fail(f"private API keras.src.saving.saving_lib is gone ({exc}): aimodel.compat.fix_keras_save_cache "
                    "now does nothing; check whether Keras caches its skipsets itself and remove the fix")
    _require(saving_lib, "get_attr_skipset", "fix_keras_save_cache")
    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(keras.layers.Dense(5)(inputs)))
    model.compile(optimizer=keras.optimizers.Adam(0.01), loss="sparse_categorical_crossentropy")
    model.train_on_batch(np.ones((8, 4), "float32"), np.zeros(8, "int64"))
    built = []
    original = Layer.__init__

    def counting_init(self, *args, **kwargs):
        if type(self) is Layer:  # the bare reference objects get_attr_skipset makes
            built.append(1)
        original(self, *args, **kwargs)

    monkeypatch.setattr(Layer, "__init__", counting_init)
    compat.clear_keras_save_cache()  # as after keras.backend.clear_session(): nothing cached
    model.save(tmp_path / "plain.keras")
    model.save(tmp_path / "plain2.keras")
    assert built, ("Keras now caches its attribute skipsets itself (saving_lib.get_attr_skipset): "
                   "aimodel.compat.fix_keras_save_cache can go")
    compat.fix_keras_save_cache()
    built.clear()
    model.save(tmp_path / "fixed.keras")
    assert built == []
    loaded = keras.saving.load_model(tmp_path / "fixed.keras", safe_mode=True)
    for a, b in zip(model.weights + model.optimizer.variables, loaded.weights + loaded.optimizer.variables):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))


def test_atomic_save_model_applies_the_save_cache_fix(tmp_path):
    import keras
    from keras.src.backend.common import global_state

    from aimodel.fileio import atomic_save_model

    compat.clear_keras_save_cache()
    inputs = keras.Input((2,))
    atomic_save_model(keras.Model(inputs, keras.layers.Dense(1)(inputs)), tmp_path / "m.keras")
    assert global_state.get_global_attribute(compat.SKIPSET_READ_KEY.format("Layer")) is not None


# --- TensorFlow -------------------------------------------------------------------------------------


def test_the_coordination_service_settings_are_still_where_compat_sets_them():
    """Starting the service needs a cluster (tests/test_distributed.py does that); this checks every
    private name and argument configure_coordination_service passes."""
    try:
        from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
        from tensorflow.python.eager import context
    except ImportError as exc:
        pytest.fail(f"private API gone ({exc}): aimodel.compat.configure_coordination_service needs another way")
    ctx = context.context()
    _require(ctx, "configure_coordination_service", "configure_coordination_service")
    _require(ctx, "coordination_service", "configure_coordination_service")
    params = inspect.signature(ctx.configure_coordination_service).parameters
    for arg in ("service_type", "service_leader", "coordinated_jobs", "cluster_register_timeout_in_ms",
                "heartbeat_timeout_in_ms"):
        assert arg in params, f"context.configure_coordination_service lost its {arg!r} argument"
    job = coordination_config_pb2.CoordinatedJob(name="worker", num_tasks=2)
    assert (job.name, job.num_tasks) == ("worker", 2)


def test_scalar_summary_metadata_marks_a_written_value_as_a_tensorboard_scalar(tmp_path):
    import tensorflow as tf

    metadata = compat.scalar_summary_metadata()
    writer = tf.summary.create_file_writer(str(tmp_path))
    with writer.as_default():
        tf.summary.write("epoch_loss", tf.constant(0.5), step=3, metadata=metadata)
    writer.close()
    events = [e for f in tmp_path.iterdir() for e in tf.compat.v1.train.summary_iterator(str(f))]
    values = [v for e in events for v in e.summary.value]
    assert len(values) == 1
    assert values[0].metadata.plugin_data.plugin_name == "scalars"
    assert float(tf.make_ndarray(values[0].tensor)) == 0.5


# --- KerasTuner -------------------------------------------------------------------------------------


def test_the_oracle_keeps_its_state_in_our_directory_and_writes_it_through_our_writer(tmp_path):
    import keras_tuner as kt

    for name in ("_set_project_dir", "_save_trial", "_get_oracle_fname", "_get_trial_dir", "save"):
        _require(kt.Oracle, name, "set_oracle_directory / route_oracle_writes")
    hps = kt.HyperParameters()
    hps.Choice("units", [4, 8])
    oracle = kt.oracles.RandomSearchOracle(objective=kt.Objective("loss", "min"), max_trials=2,
                                           hyperparameters=hps, seed=1)
    compat.set_oracle_directory(oracle, tmp_path)
    written = []

    def write_text(path, text):
        written.append(path)
        with open(path, "w", encoding="utf-8") as f:
            f.write(text)

    compat.route_oracle_writes(oracle, write_text)
    trial = oracle.create_trial("tuner0")
    oracle.update_trial(trial.trial_id, {"loss": 1.0})
    trial.status = "COMPLETED"
    oracle.end_trial(trial)
    trial_json = tmp_path / "oracle" / f"trial_{trial.trial_id}" / "trial.json"
    assert str(tmp_path / "oracle" / "oracle.json") in written
    assert str(trial_json) in written, "KerasTuner no longer saves trials through Oracle._save_trial"
    assert json.loads(trial_json.read_text())["status"] == "COMPLETED"
    again = kt.oracles.RandomSearchOracle(objective=kt.Objective("loss", "min"), max_trials=2,
                                          hyperparameters=kt.HyperParameters(), seed=1)
    compat.set_oracle_directory(again, tmp_path)
    again.reload()  # what a resumed search reads back
    assert trial.trial_id in again.trials


def test_trial_status_has_a_public_home():
    from keras_tuner.engine.trial import TrialStatus

    assert (TrialStatus.STOPPED, TrialStatus.COMPLETED, TrialStatus.FAILED) == ("STOPPED", "COMPLETED", "FAILED")


# --- tf2onnx ----------------------------------------------------------------------------------------


@pytest.mark.export
def test_tf2onnx_conversion_keeps_a_lookup_table(tmp_path):
    """The reason for the private call: a SavedModel with a lookup table (StringLookup) converts."""
    import tensorflow as tf

    pytest.importorskip("onnxruntime", reason="the export extra is not installed")
    try:
        import tf2onnx.convert
        from tf2onnx import tf_loader
    except ImportError:
        pytest.skip("the export extra is not installed")
    _require(tf2onnx.convert, "_convert_common", "tf2onnx_convert_graph")
    import onnxruntime as ort

    class Lookup(tf.Module):
        def __init__(self):
            self.table = tf.lookup.StaticHashTable(
                tf.lookup.KeyValueTensorInitializer(tf.constant(["a", "b"]), tf.constant([1, 2], tf.int64)), 0)

        @tf.function(input_signature=[tf.TensorSpec([None], tf.string)])
        def serve(self, x):
            return {"ids": self.table.lookup(x)}

    module = Lookup()
    tf.saved_model.save(module, str(tmp_path / "sm"), signatures={"serve": module.serve})
    graph_def, inputs, outputs, tables, renames = tf_loader.from_saved_model(
        str(tmp_path / "sm"), None, None, tag="serve", signatures=["serve"],
        return_initialized_tables=True, return_tensors_to_rename=True)
    assert tables, "tf2onnx found no lookup table in the SavedModel"
    compat.tf2onnx_convert_graph(graph_def, name="lookup", opset=17, input_names=inputs, output_names=outputs,
                                 tensors_to_rename=renames, initialized_tables=tables,
                                 output_path=str(tmp_path / "m.onnx"))
    session = ort.InferenceSession(str(tmp_path / "m.onnx"), providers=["CPUExecutionProvider"])
    (ids,) = session.run(None, {session.get_inputs()[0].name: np.array(["b", "a", "zzz"], dtype=object)})
    assert ids.tolist() == [2, 1, 0]


# --- LiteRT -----------------------------------------------------------------------------------------


@pytest.mark.export
def test_the_tflite_schema_still_has_the_classes_the_metadata_writer_uses():
    pytest.importorskip("ai_edge_litert", reason="the export extra is not installed")
    try:
        schema = compat.tflite_schema()
    except ImportError as exc:
        pytest.fail(f"ai_edge_litert.schema_py_generated is gone ({exc}): aimodel.compat.tflite_schema needs "
                    "another way")
    for name in ("Model", "ModelT", "MetadataT", "BufferT", "BufferStart", "BufferAddData", "BufferAddOffset",
                 "BufferAddSize", "BufferEnd"):
        _require(schema, name, "tflite_schema")
    for attr in ("metadata", "buffers"):
        assert hasattr(schema.ModelT(), attr), f"ModelT.{attr} is gone: aimodel.compat.tflite_schema"
    meta = schema.MetadataT()
    assert hasattr(meta, "name") and hasattr(meta, "buffer"), "MetadataT changed: aimodel.compat.tflite_schema"


# --- Python -----------------------------------------------------------------------------------------


def test_is_text_codec_tells_text_codecs_from_the_others():
    assert hasattr(codecs.lookup("rot13"), "_is_text_encoding"), (
        "private API codecs.CodecInfo._is_text_encoding is gone: aimodel.compat.is_text_codec needs another way")
    assert compat.is_text_codec(codecs.lookup("cp1252"))
    assert not compat.is_text_codec(codecs.lookup("rot13"))
    assert not compat.is_text_codec(codecs.lookup("base64"))


def test_compat_imports_no_other_aimodel_module():
    import ast

    tree = ast.parse(inspect.getsource(compat))
    imported = {a.name for n in ast.walk(tree) if isinstance(n, ast.Import) for a in n.names}
    imported |= {n.module for n in ast.walk(tree) if isinstance(n, ast.ImportFrom) and n.module}
    assert not {m for m in imported if m.startswith("aimodel") and m != "aimodel.errors"}
