"""Hyperparameter search (``aimodel tune``) and k-fold cross-validation (``aimodel cv``)."""
