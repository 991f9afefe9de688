"""``aimodel serve``: a trained model behind an HTTP API (TensorFlow is imported only when it runs)."""

from __future__ import annotations

import importlib.util
import ipaddress
from pathlib import Path
from typing import Optional

import click

from aimodel.cli_common import CONTEXT, import_tensorflow, is_debug


@click.command("serve", context_settings=CONTEXT)
@click.argument("model", type=click.Path(path_type=Path))
@click.option("--name", help="The model's name in URLs (/v1/models/NAME:predict) [default: the run's config name].")
@click.option("--host", default="127.0.0.1", show_default=True,
              help="Address to listen on; 0.0.0.0 opens the server to other machines (then set --api-key).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--max-batch", type=click.IntRange(min=1), default=64, show_default=True,
              help="Most inputs sent to the model in one call.")
@click.option("--batch-timeout-ms", type=click.FloatRange(min=0), default=5.0, show_default=True,
              help="How long the first input of a batch waits for others to join it.")
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True,
              help="Server processes, each with its own copy of the model, batcher and /metrics.")
@click.option("--api-key", envvar="AIMODEL_API_KEY", metavar="KEY",
              help="Require header 'X-API-Key: KEY' (or 'Authorization: Bearer KEY') on all but /healthz, "
                   "/readyz and the page [env: AIMODEL_API_KEY, which keeps it out of the process list].")
@click.option("--max-body-mb", type=click.FloatRange(min=0.01), default=10.0, show_default=True,
              help="Larger request bodies get 413.")
@click.option("--max-pixels", type=click.IntRange(min=1),
              help="Larger images (width × height) get 413 before they are decoded; a request's images together "
                   "may have 4 times this [default: 16000000, or 256 model inputs for larger models].")
@click.option("--timeout", "timeout_s", type=click.FloatRange(min=0.1), default=30.0, show_default=True,
              help="Seconds a request may take before it gets 504.")
@click.option("--max-inputs", type=click.IntRange(min=1), default=1024, show_default=True,
              help="Most inputs (instances, files, CSV rows) in one request.")
@click.option("--max-queue", type=click.IntRange(min=1), default=4096, show_default=True,
              help="Inputs waiting for the model beyond this get 503 (retry later).")
@click.option("--header-timeout", "header_timeout_s", type=click.FloatRange(min=0.1), default=10.0,
              show_default=True, help="Seconds a connection may take to send a request's headers; then it is closed.")
@click.option("--max-connections", type=click.IntRange(min=1),
              help="Most open connections; more get 503 [default: 3/4 of the open-file limit left at start].")
@click.option("--access-log", is_flag=True, help="Log every request (one line each).")
@click.option("--strict-inputs", is_flag=True,
              help="Refuse (400) image inputs whose pixels all lie in [0, 1] (the model takes 0..255) instead of "
                   "answering with a warning.")
@click.option("--grpc-port", type=click.IntRange(0, 65535), default=None,
              help="Also serve TensorFlow Serving's gRPC API (PredictionService, ModelService) on this port "
                   "[default: no gRPC].")
@click.pass_context
def serve(ctx: click.Context, model: Path, name: Optional[str], host: str, port: int, max_batch: int,
          batch_timeout_ms: float, workers: int, api_key: Optional[str], max_body_mb: float, max_pixels: Optional[int],
          timeout_s: float, max_inputs: int, max_queue: int, header_timeout_s: float, max_connections: Optional[int],
          access_log: bool, strict_inputs: bool, grpc_port: Optional[int]) -> None:
    """Serve MODEL (a run directory or model file) over HTTP until Ctrl-C or SIGTERM.

    \b
    Endpoints: POST /v1/models/NAME:predict (TensorFlow Serving REST), POST /predict (file
    uploads, 'text' fields, CSV), GET /v1/models/NAME, /metadata, /healthz, /readyz, /metrics,
    and GET / : a page to drop images, draw a digit or type a sentence.
    \b
      aimodel serve runs/mnist_cnn/1
      curl -F file=@examples/digit_7.png http://127.0.0.1:8000/predict
    """
    from aimodel.errors import ServeError
    from aimodel.inference.checkpoint import resolve_checkpoint
    from aimodel.serving.model import default_name
    from aimodel.serving.server import bind, serve as run_server
    from aimodel.serving.settings import ServeSettings

    missing = [pkg for pkg, module in (("starlette", "starlette"), ("uvicorn", "uvicorn"),
                                       ("python-multipart", "python_multipart"),
                                       ("prometheus-client", "prometheus_client"))
               if importlib.util.find_spec(module) is None]
    if missing:
        raise ServeError(f"aimodel serve needs {', '.join(missing)}: pip install 'aimodel[serve]' "
                         "(make install includes it)")
    settings = ServeSettings(model=str(model), name=name, host=host, port=port, max_batch=max_batch,
                             batch_timeout_ms=batch_timeout_ms, workers=workers, api_key=api_key,
                             max_body_bytes=int(max_body_mb * 1024 * 1024), max_pixels=max_pixels, timeout_s=timeout_s,
                             max_queue=max(max_queue, max_batch), max_inputs=max_inputs, access_log=access_log,
                             header_timeout_s=header_timeout_s, max_connections=max_connections,
                             strict_inputs=strict_inputs, grpc_port=grpc_port)
    ckpt = resolve_checkpoint(model)  # a wrong path fails here, before TensorFlow loads
    served_as = name or default_name(ckpt.model_path, ckpt.run_dir)
    sock = bind(host, port)  # so does a busy port
    debug = is_debug(ctx.find_root())
    if not _is_loopback(host) and not api_key:
        click.secho(f"warning: listening on {host} without --api-key: anyone who reaches this machine can use "
                    "the model", fg="yellow", err=True)
    if ckpt.stale:
        click.secho(f"warning: {ckpt.stale}", fg="yellow", err=True)
    shown = f"[{host}]" if ":" in host else host
    url = f"http://{shown}:{sock.getsockname()[1]}"
    click.echo(f"serving {ckpt.model_path} as '{served_as}' on {url}/ (max batch {max_batch}, batch timeout "
               f"{batch_timeout_ms:g} ms, {workers} worker(s){', API key required' if api_key else ''})\n"
               f"{endpoints(url, served_as, shown, grpc_port)}\nloading the model ...", err=True)
    import_tensorflow()
    stopped_by = run_server(settings, sock=sock, debug=debug)
    click.echo(f"stopped{f' ({stopped_by})' if stopped_by else ''}; requests in flight were answered", err=True)


def endpoints(url: str, served_as: str, shown_host: str, grpc_port: Optional[int]) -> str:
    """The start-up message's endpoint lines: REST always, gRPC when ``--grpc-port`` was given."""
    lines = [f"  POST {url}/v1/models/{served_as}:predict   POST {url}/predict   GET {url}/metadata"]
    if grpc_port is not None:
        where = f"{shown_host}:{grpc_port}" if grpc_port else f"a free port of {shown_host} (--grpc-port 0)"
        lines.append(f"  gRPC (TF Serving PredictionService, ModelService) on {where}")
    return "\n".join(lines)


def _is_loopback(host: str) -> bool:
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False

