"""What every command module shares: click settings, the --set option, the lazy TensorFlow import."""

from __future__ import annotations

import os

import click

from aimodel.tfimport import import_tensorflow as import_quietly

CONTEXT = {"help_option_names": ["-h", "--help"], "max_content_width": 100}

set_option = click.option(
    "--set", "overrides", multiple=True, metavar="KEY=VALUE",
    help="Override a config key; VALUE is YAML (repeatable): --set training.epochs=3",
)


def import_tensorflow() -> None:
    """Import TensorFlow now, hiding its start-up log lines (oneDNN, CUDA) unless --debug."""
    import_quietly(debug=is_debug(click.get_current_context()))


def is_debug(ctx: click.Context) -> bool:
    return bool((ctx.obj or {}).get("debug")) or bool(os.environ.get("AIMODEL_DEBUG"))
