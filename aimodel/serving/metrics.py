"""Prometheus metrics of one server process (``GET /metrics``), in a registry of its own."""

from __future__ import annotations


class Metrics:
    """Request counts and latency by handler, inputs by outcome, batch sizes and model-call time, queue depth."""

    def __init__(self, max_batch: int, model_name: str, kind: str):
        from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram

        self.registry = r = CollectorRegistry(auto_describe=True)
        self.requests = Counter("aimodel_requests", "HTTP requests by handler, method and status code",
                                ["handler", "method", "status"], registry=r)
        self.latency = Histogram("aimodel_request_duration_seconds", "Time from request to the end of the response",
                                 ["handler"], registry=r,
                                 buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30))
        self.inputs = Counter("aimodel_inputs", "Inputs received, by outcome (predicted or refused)", ["outcome"],
                              registry=r)
        sizes = sorted({1, 2, 4, 8, 16, 32, 64, 128, 256, 512, max_batch})
        self.batch_size = Histogram("aimodel_batch_size", "Inputs per model call", registry=r,
                                    buckets=[b for b in sizes if b <= max_batch])
        self.model_seconds = Histogram("aimodel_model_call_seconds", "Duration of one model call (one batch)",
                                       registry=r, buckets=(0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25,
                                                            0.5, 1, 2.5, 5))
        self.queue = Gauge("aimodel_queue_inputs", "Inputs submitted to the model and not yet answered", registry=r)
        self.ready = Gauge("aimodel_ready", "1 when the model is loaded, warmed up and taking requests", registry=r)
        info = Gauge("aimodel_model_info", "The served model", ["name", "kind"], registry=r)
        info.labels(name=model_name, kind=kind).set(1)

    def observe_batch(self, size: int, seconds: float) -> None:
        self.batch_size.observe(size)
        self.model_seconds.observe(seconds)

    def render(self) -> tuple[bytes, str]:
        """The exposition text and its content type."""
        from prometheus_client import CONTENT_TYPE_LATEST, generate_latest

        return generate_latest(self.registry), CONTENT_TYPE_LATEST
