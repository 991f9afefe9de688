"""aimodel: a YAML file in, a trained, evaluated, usable Keras model out.

The public API is importable without loading TensorFlow::

    import aimodel
    cfg = aimodel.load_config("configs/quickstart.yaml", ["training.epochs=3"])
    result = aimodel.train(cfg)
    result = aimodel.resume(result.run_dir, overrides=["training.epochs=40"])  # extend it
    report = aimodel.evaluate(result.run_dir)
    preds = aimodel.predict(["examples/digit_7.png"], model=result.run_dir)
    model = aimodel.load_model(result.run_dir / "best.keras")  # the Keras model, safe mode on

After ``import aimodel``, plain ``keras.saving.load_model(path)`` also rebuilds
models with aimodel's custom layers (ViT, Transformer): they are registered with
Keras as soon as Keras is imported (:mod:`aimodel.keras_hook`).
"""

from aimodel import hardware, keras_hook

__version__ = "0.1.0"

__all__ = ["__version__", "load_config", "train", "resume", "evaluate", "predict", "load_model"]

keras_hook.install()
hardware.prefer_onednn()  # before TensorFlow loads: its oneDNN kernels on CPUs where it leaves them off


def __getattr__(name):
    # Lazy so that `import aimodel` (and `aimodel --help`) never imports TensorFlow.
    if name == "load_config":
        from aimodel.config import load_config

        return load_config
    if name == "train":
        from aimodel.training.runner import train

        return train
    if name == "resume":
        from aimodel.training.runner import resume

        return resume
    if name == "evaluate":
        from aimodel.evaluation.evaluate import evaluate

        return evaluate
    if name == "load_model":
        from aimodel.inference.checkpoint import load_model

        return load_model
    if name == "predict":
        from aimodel.inference.predict import predict

        return predict
    raise AttributeError(f"module 'aimodel' has no attribute {name!r}")
