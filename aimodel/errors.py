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


class ExportError(AimodelError):
    """A model cannot be exported in the format or quantization asked for, or its export failed verification."""


class DistributeError(AimodelError):
    """A cluster that cannot start or keep going: bad address, missing peer, a worker that died."""

    #: raised once TensorFlow's collective runtime was running (see training/distribute.py `cluster_error`):
    #: that runtime cannot be shut down cleanly after a failure, so the CLI ends the process at once after
    #: the message
    runtime_started = False


class ServeError(AimodelError):
    """The server cannot start as asked (bad option, port in use, model unusable)."""


class StorageError(AimodelError):
    """A file cannot be written because of the machine: disk full, read-only, no permission."""


#: errno -> what it means for the user; these are the user's environment, not aimodel bugs.
_STORAGE_ERRNOS = {
    "ENOSPC": "no space left on the device",
    "EDQUOT": "disk quota exceeded",
    "EROFS": "read-only file system",
    "EACCES": "permission denied",
    "EPERM": "operation not permitted",
}


#: what a failed write tells the user to do next, unless the caller knows better
RETRY_HINT = ("free space or fix the permissions, then run the command again "
              "(an interrupted training run continues with `aimodel train --resume RUN_DIR`)")


def storage_error(exc: BaseException, where=None, retry: str = RETRY_HINT):
    """The :class:`StorageError` an ``OSError`` from the environment stands for, or None for any other error.

    Args:
        exc: the error; its ``__cause__``/``__context__`` are not followed.
        where: the path named when ``exc`` names none (converters often do not).
        retry: what to do about it (default: free space and run again, with the training hint).
    """
    import errno

    if not isinstance(exc, OSError):
        return None
    reason = next((text for name, text in _STORAGE_ERRNOS.items() if getattr(errno, name, None) == exc.errno), None)
    if reason is None:
        return None
    where = exc.filename or where or "a file"
    return StorageError(f"{where}: cannot write: {reason}. Files written before this point are kept; {retry}")
