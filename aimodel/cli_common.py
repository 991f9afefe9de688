"""What every command module shares: click settings, the --set option, the lazy TensorFlow import."""

from __future__ import annotations

import os
import sys

import click

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

set_option = click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE",
    help="Override a config key; VALUE is YAML (repeatable): --set training.epochs=3",
)


def import_tensorflow() -> None:
    """Import TensorFlow now, hiding its start-up log lines (oneDNN, CUDA) unless --debug.

    TensorFlow 2.21 prints them while loading its libraries, before it reads
    TF_CPP_MIN_LOG_LEVEL set from Python, so stderr is silenced for the import only.
    """
    if "tensorflow" in sys.modules or is_debug(click.get_current_context()):
        return
    sys.stderr.flush()
    devnull = os.open(os.devnull, os.O_WRONLY)
    saved = os.dup(2)
    os.dup2(devnull, 2)
    try:
        import keras  # noqa: F401
        import tensorflow  # noqa: F401
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


def is_debug(ctx: click.Context) -> bool:
    return bool((ctx.obj or {}).get("debug")) or bool(os.environ.get("AIMODEL_DEBUG"))
