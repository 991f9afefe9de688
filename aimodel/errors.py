"""Errors that reach the user as a clean message and exit code 1 (no traceback)."""


class AimodelError(Exception):
    """Base class for every error the CLI shows as a plain message."""

    exit_code = 1


class ConfigError(AimodelError):
    """The YAML file or an override is invalid; the message lists every problem."""


class DataError(AimodelError):
    """A dataset cannot be found, read or used as configured."""


class CheckpointError(AimodelError):
    """A run directory or saved model is missing, incomplete or unreadable."""


class TrainingError(AimodelError):
    """Training cannot continue (for example the loss became NaN)."""


class TrainingInterrupted(AimodelError):
    """The user pressed Ctrl-C; checkpoints of the last completed epoch are kept."""

    exit_code = 130
