"""The architecture registry (kept free of TensorFlow so configs load fast)."""

from aimodel.registry import Registry

#: name -> builder(inputs, model_config, input_spec) -> feature tensor; the factory adds
#: ``model_config.classifier_head()`` and the softmax. ``builder.kinds`` lists the data kinds it takes.
ARCHITECTURES = Registry("architecture")
