"""The architecture registry (kept free of TensorFlow so configs load fast)."""

from aimodel.registry import Registry

#: name -> builder(inputs, model_config, input_spec, training_config) -> feature tensor
ARCHITECTURES = Registry("architecture")
