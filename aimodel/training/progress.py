"""How the runner reports progress without printing: the CLI renders it."""

from __future__ import annotations


class Reporter:
    """No-op base; subclass and override what you want to show."""

    def note(self, message: str) -> None:
        """A line worth showing before training starts (such as where decoded images are kept)."""

    def train_begin(self, epochs: int, steps_per_epoch: int, run_dir: str, initial_epoch: int = 0) -> None:
        """``initial_epoch`` > 0 when a resumed run continues after that epoch."""

    def epoch_begin(self, epoch: int) -> None: ...

    def batch_end(self, epoch: int, step: int, logs: dict) -> None: ...

    def epoch_end(self, epoch: int, logs: dict, seconds: float, improved: bool) -> None: ...

    def train_end(self) -> None: ...
