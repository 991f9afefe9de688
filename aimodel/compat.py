"""Every use of a private Keras, TensorFlow or library API, in one module.

A private name (a leading underscore, ``keras.src``, ``tensorflow.python``, a
generated ``*_pb2`` module) can change in any release. Each one aimodel relies
on is wrapped here, once, with the reason it is needed and the upstream issue
where there is one; the rest of the package calls these wrappers, and
``tests/test_compat.py`` checks that every private name still exists in the
installed versions and still does its job, failing with the name when one
moves.

This module sits at the bottom of the import graph (it imports no other aimodel
module) and imports heavy libraries inside the functions, so importing it costs
nothing and ``aimodel --help`` still does not load TensorFlow.
"""

from __future__ import annotations

import codecs
import json
import os
from collections.abc import Callable

# --- Keras: walking a model ------------------------------------------------------------------------


def flatten_layers(model) -> list:
    """Every layer inside ``model`` (not ``model`` itself), nested models and wrapped layers included.

    Keras 3 has no public recursive walk: ``model.layers`` lists the top level only, so layers inside a
    nested model or a wrapper (``Bidirectional``, ``TimeDistributed``) are missed. ``Layer._flatten_layers``
    is what Keras' own saving, ``summary`` and weight tracking use.
    """
    return list(model._flatten_layers(include_self=False, recursive=True))


def seed_generators(layer) -> list:
    """The ``SeedGenerator`` objects that ``layer`` draws its randomness from (Dropout, noise layers, ...).

    Keras does not save a generator's state in ``.keras`` files (keras-team/keras#19796), so aimodel
    re-derives it at each epoch start for an exact resume; Keras lists a layer's generators only in
    the private ``Layer._seed_generators``.
    """
    return list(getattr(layer, "_seed_generators", []))


def symbolic_build(model, batch) -> None:
    """Create the compiled model's optimizer and metric variables from one ordinary ``batch``, as
    ``fit`` does in its first call (``Trainer._symbolic_build``).

    aimodel's own multi-worker loop needs these variables created before it enters the replicas;
    Keras has no public call for it (``model.build`` builds the layers only; ``optimizer.build``
    neither the compiled metrics nor the loss trackers).
    """
    model._symbolic_build(data_batch=batch)


# --- Keras: the fused Adam update ------------------------------------------------------------------

#: The private parts of a Keras Adam/AdamW optimizer that :func:`fuse_adam_update` reads.
ADAM_INTERNALS = ("_get_variable_index", "_momentums", "_velocities")


def fuse_adam_update(opt) -> bool:
    """Replace ``opt.update_step`` (a Keras ``Adam`` or ``AdamW`` on the TensorFlow backend) by one
    ``ResourceApplyAdam`` kernel per variable; False, and nothing changed, when ``opt`` lacks the internals.

    The fused kernel needs Adam's slot variables (first and second moments) for each model variable;
    Keras keeps them in the private ``_momentums``/``_velocities`` lists, indexed by the private
    ``_get_variable_index``, and offers no public way to override one variable's update but replacing
    the instance's ``update_step``. Sparse gradients and non-resource variables keep Keras' update.
    Why the kernel is worth it: ``aimodel.training.optim.fuse_updates`` and docs/speed.md.
    """
    if not all(hasattr(opt, name) for name in ("_get_variable_index", "update_step")):  # the slots come with build()
        return False
    keras_update = opt.update_step

    def update_step(gradient, variable, learning_rate):
        import tensorflow as tf

        if isinstance(gradient, tf.IndexedSlices) or not hasattr(variable, "handle"):
            return keras_update(gradient, variable, learning_rate)
        dtype = variable.dtype
        index = opt._get_variable_index(variable)
        m, v = opt._momentums[index].value, opt._velocities[index].value
        step = tf.cast(opt.iterations + 1, dtype)
        beta_1, beta_2 = tf.constant(opt.beta_1, dtype), tf.constant(opt.beta_2, dtype)
        tf.raw_ops.ResourceApplyAdam(
            var=variable.handle, m=m.handle, v=v.handle,
            beta1_power=tf.pow(beta_1, step), beta2_power=tf.pow(beta_2, step),
            lr=tf.cast(learning_rate, dtype), beta1=beta_1, beta2=beta_2,
            epsilon=tf.constant(opt.epsilon, dtype), grad=tf.cast(gradient, dtype),
        )

    opt.update_step = update_step
    return True


# --- Keras: the save cache -------------------------------------------------------------------------

#: The kinds of object whose attribute skip-set Keras' saving code computes (``saving_lib.get_attr_skipset``).
SKIPSET_KINDS = ("Operation", "Layer", "Functional", "Sequential", "Metric", "Optimizer", "Loss")
SKIPSET_READ_KEY = "saving_attr_skiplist_{}"  # the key get_attr_skipset looks up (it stores under ..._skipset_...)


def fix_keras_save_cache() -> None:
    """Fill the cache Keras 3.15 means to keep for ``keras.src.saving.saving_lib.get_attr_skipset``.

    ``get_attr_skipset`` builds throwaway reference objects (a ``Layer``, an ``Optimizer``, a
    ``Metric``...) to list the attributes a save should skip, and stores the result under
    ``saving_attr_skipset_<kind>``, but looks it up under ``saving_attr_skiplist_<kind>``: the cache
    never hits, and every ``model.save`` (and load) rebuilds those objects (6 ms of CPU of the 45 ms
    a seed-model checkpoint took, docs/speed.md). No upstream issue found; the mismatch is in
    ``keras/src/saving/saving_lib.py`` (3.15.1). This stores Keras' own result under the key it
    reads, once per thread (Keras' global state is thread-local) and again after
    ``keras.backend.clear_session()``. What is saved does not change. If a Keras release reads the
    key it writes, or renames either, this does nothing.
    """
    try:
        from keras.src.backend.common import global_state
        from keras.src.saving import saving_lib
    except ImportError:  # a Keras without these internals: nothing to fill
        return
    for kind in SKIPSET_KINDS:
        key = SKIPSET_READ_KEY.format(kind)
        if global_state.get_global_attribute(key) is None:
            try:
                global_state.set_global_attribute(key, saving_lib.get_attr_skipset(kind))
            except Exception:  # an unknown kind in some Keras release: leave it to Keras
                continue


def clear_keras_save_cache() -> None:
    """Empty what :func:`fix_keras_save_cache` filled, as ``keras.backend.clear_session()`` does (for tests)."""
    from keras.src.backend.common import global_state

    for kind in SKIPSET_KINDS:
        global_state.set_global_attribute(SKIPSET_READ_KEY.format(kind), None)


# --- TensorFlow ------------------------------------------------------------------------------------


def configure_coordination_service(leader: str, jobs: dict[str, int], timeout_ms: int) -> None:
    """Start TensorFlow's coordination service with bounded waits, before ``MultiWorkerMirroredStrategy``.

    Left alone, the service the strategy starts waits for every worker forever and notices a dead
    one only through collective timeouts. Configured here first, both are bounded: ``timeout_ms`` to
    join (``cluster_register_timeout_in_ms``) and ``timeout_ms`` without a heartbeat from a peer.
    TensorFlow exposes these settings nowhere but ``tensorflow.python.eager.context`` and the
    ``CoordinatedJob`` proto of ``coordination_config_pb2``. Does nothing when the process already
    has a service (a second strategy in the same process).

    Args:
        leader: the task that runs the service, e.g. ``/job:worker/replica:0/task:0``.
        jobs: number of tasks per job name, e.g. ``{"chief": 1, "worker": 2}``.
        timeout_ms: the join and heartbeat bound, in milliseconds.
    """
    from tensorflow.compiler.xla.tsl.protobuf import coordination_config_pb2
    from tensorflow.python.eager import context

    if context.context().coordination_service is None:
        context.context().configure_coordination_service(
            service_type="standalone", service_leader=leader,
            coordinated_jobs=[coordination_config_pb2.CoordinatedJob(name=j, num_tasks=n) for j, n in jobs.items()],
            cluster_register_timeout_in_ms=timeout_ms, heartbeat_timeout_in_ms=timeout_ms,
        )


def scalar_summary_metadata():
    """The ``SummaryMetadata`` that makes TensorBoard show a ``tf.summary.write`` value as a scalar.

    Keras' ``TensorBoard`` callback gets it from the ``tensorboard`` package, which TensorFlow 2.21
    no longer installs; the proto itself is TensorFlow's (``tensorflow.core.framework.summary_pb2``,
    reached through its public ``tf.compat.v1`` alias), and ``"scalars"`` is the name TensorBoard's
    scalar plugin reads (``tensorboard/plugins/scalar/metadata.py``).
    """
    import tensorflow as tf

    return tf.compat.v1.SummaryMetadata(plugin_data=tf.compat.v1.SummaryMetadata.PluginData(plugin_name="scalars"))


# --- KerasTuner ------------------------------------------------------------------------------------


def set_oracle_directory(oracle, directory, name: str = "oracle") -> None:
    """Have a standalone ``oracle`` keep its state in ``directory/name`` (``oracle.json``, ``trial_*/``).

    aimodel drives an oracle without a ``Tuner`` (each trial is an ``aimodel train`` run); only a
    ``Tuner`` sets the directory, through the private ``Oracle._set_project_dir``.
    """
    oracle._set_project_dir(str(directory), name)


def route_oracle_writes(oracle, write_text: Callable[[str, str], None]) -> None:
    """Have ``oracle`` write ``oracle.json`` and each ``trial_*/trial.json`` through ``write_text(path, text)``.

    KerasTuner writes them in place, so a kill -9 or a full disk mid-write leaves a torn file that a
    resumed search cannot read (the kind of failed reload of keras-team/keras-tuner#987); aimodel
    passes an atomic writer. The oracle has no hook for it: this replaces its ``save`` and private
    ``_save_trial`` on the instance, with the paths from the private ``_get_oracle_fname`` and
    ``_get_trial_dir``.
    """

    def save():
        write_text(oracle._get_oracle_fname(), json.dumps(oracle.get_state()))

    def save_trial(trial):
        write_text(os.path.join(oracle._get_trial_dir(trial.trial_id), "trial.json"), json.dumps(trial.get_state()))

    oracle.save, oracle._save_trial = save, save_trial


# --- tf2onnx ---------------------------------------------------------------------------------------


def tf2onnx_convert_graph(graph_def, **kwargs):
    """Convert a frozen ``graph_def`` to ONNX with its lookup tables; returns tf2onnx's ``(model_proto, storage)``.

    ``tf2onnx.convert._convert_common`` is what tf2onnx's own ``--saved-model`` command line runs.
    Its public ``from_graph_def`` drops ``initialized_tables`` (it passes none), so a model with a
    ``StringLookup`` or ``TextVectorization`` fails to convert ("Initialized table ... not found",
    onnx/tensorflow-onnx#1936). ``kwargs`` are ``_convert_common``'s: ``name``, ``opset``,
    ``input_names``, ``output_names``, ``tensors_to_rename``, ``initialized_tables``,
    ``output_path``, ``custom_op_handlers``...
    """
    import tf2onnx.convert

    return tf2onnx.convert._convert_common(graph_def, **kwargs)


# --- LiteRT: the .tflite flatbuffer schema ---------------------------------------------------------


def tflite_schema():
    """The generated flatbuffer classes of the ``.tflite`` schema (``ModelT``, ``MetadataT``, ``BufferT``...).

    ``ai_edge_litert.schema_py_generated`` is flatc's output for LiteRT's ``schema.fbs``; LiteRT documents
    no public reader or writer of a model's ``metadata`` table, which is where an export records its input
    contract. (TensorFlow ships the same module as ``tensorflow.lite.python.schema_py_generated``; LiteRT's
    copy is the one the export's runtime, and the ``.tflite`` format, follow.)
    """
    from ai_edge_litert import schema_py_generated

    return schema_py_generated


# --- Python ----------------------------------------------------------------------------------------


def is_text_codec(info: codecs.CodecInfo) -> bool:
    """False for a codec Python registers but ``str.encode`` refuses (``base64``, ``rot13``, ``zlib``...).

    The flag is the private ``CodecInfo._is_text_encoding`` (what ``str.encode`` itself checks);
    Python offers no public test. A codec without it counts as text, as Python does.
    """
    return bool(getattr(info, "_is_text_encoding", True))


def trace_test_function_in_background(model, dataset):
    """Trace ``model``'s Keras test function for ``dataset`` in a daemon thread; returns the thread or None.

    Keras traces the function ``evaluate`` (and ``fit``'s validation) calls the first time it is called,
    at the end of the first epoch: on the seed model at 64×64 that trace took as long as a steady
    epoch's training (docs/speed.md). Tracing is Python (it holds the GIL), training runs in
    TensorFlow's C++ (it releases it), so tracing while the first epoch trains overlaps the two.
    Keras keeps the ``tf.function`` inside a closure of ``model.test_function`` (TF backend,
    ``TensorFlowTrainer._make_function``); it is traced for an iterator of ``dataset``'s element
    spec, the call ``evaluate`` makes with the cached validation iterator, which then reuses the
    trace. ``model.test_function`` is wrapped to wait for the thread before its first call, so two
    threads never trace it at once. Anything unexpected (another backend, a Keras that builds the
    function otherwise): nothing is started and Keras traces as before.
    """
    import threading

    import tensorflow as tf

    if getattr(model, "test_function", None) is not None or not hasattr(model, "make_test_function"):
        return None
    model.make_test_function()
    function = model.test_function
    inner = _traced_function(function)
    if inner is None:
        return None
    spec = tf.data.IteratorSpec(dataset.element_spec)

    def trace() -> None:
        try:
            inner.get_concrete_function(spec)
        except Exception:  # noqa: BLE001 - Keras traces it again on the first call
            pass

    thread = threading.Thread(target=trace, name="aimodel-trace-test", daemon=True)

    def first_call(iterator):
        thread.join()
        if model.test_function is first_call:
            model.test_function = function
        return function(iterator)

    model.test_function = first_call
    thread.start()
    return thread


def _traced_function(function):
    """The ``tf.function`` inside a Keras train or test function (TF backend), or None."""
    import tensorflow as tf

    inner = [c.cell_contents for c in (getattr(function, "__closure__", None) or ())
             if isinstance(c.cell_contents, tf.types.experimental.PolymorphicFunction)]
    return inner[0] if function is not None and len(inner) == 1 else None


def trace_fit_functions(model, batch, train_spec, val_spec=None) -> bool:
    """Build and trace what ``fit`` would in its first call, now: True when both are traced.

    ``batch`` is any ``(x, y)`` batch of the training data's shapes (zeros will do): the compiled
    model's optimizer and metric variables are created from it as ``fit`` does
    (:func:`symbolic_build`). Then Keras' train function (and test function, with ``val_spec``) is
    made and its inner ``tf.function`` traced for an iterator of ``train_spec`` (``val_spec``), the
    element spec of the dataset ``fit`` will get; ``fit`` keeps a function already made
    (``make_train_function`` without ``force``) and the traced signature matches, so its first call
    only runs. The runner does this while a thread decodes the image cache (tracing is Python,
    decoding TensorFlow's C++; see ``training.runner._prepare``). When a function cannot be found or
    traced it is dropped, and Keras makes and traces it in ``fit`` as before.
    """
    import tensorflow as tf

    symbolic_build(model, batch)
    kinds = [("train", train_spec)] + ([("test", val_spec)] if val_spec is not None else [])
    for kind, spec in kinds:
        getattr(model, f"make_{kind}_function")()
        inner = _traced_function(getattr(model, f"{kind}_function"))
        try:
            if inner is None:
                raise LookupError(f"no tf.function in Keras' {kind} function")
            inner.get_concrete_function(tf.data.IteratorSpec(spec))
        except Exception:  # noqa: BLE001 - Keras makes and traces it in fit
            setattr(model, f"{kind}_function", None)
            return False
    if val_spec is not None:
        _run_test_function_once(model, val_spec)
    return True


def _run_test_function_once(model, spec) -> None:
    """Run the traced test function on one batch of zeros, so its first execution (TensorFlow optimizes a
    graph when it first runs it) is not in the first epoch either. It changes only the compiled metrics'
    totals, which are reset here (and by ``fit`` at every epoch, by ``evaluate`` when it starts)."""
    import tensorflow as tf

    zeros = tf.nest.map_structure(lambda s: tf.zeros([1, *s.shape[1:]], s.dtype), spec)
    dataset = tf.data.Dataset.from_tensor_slices(zeros).batch(1)
    if dataset.element_spec != spec:
        return
    model.test_function(iter(dataset))
    model.reset_metrics()
