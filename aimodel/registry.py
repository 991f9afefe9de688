"""A small generic registry used for datasets and architectures."""

from __future__ import annotations

import difflib
from typing import Callable, Generic, Iterator, TypeVar

from aimodel.errors import AimodelError

T = TypeVar("T")


def did_you_mean(name: str, candidates) -> str:
    """Return " (did you mean 'x'?)" for the closest candidate, or ""."""
    match = difflib.get_close_matches(str(name), [str(c) for c in candidates], n=1, cutoff=0.6)
    return f" (did you mean '{match[0]}'?)" if match else ""


class Registry(Generic[T]):
    """Maps a name used in YAML (``cnn``, ``digits``) to an object.

    Example:
        >>> ARCH = Registry("architecture")
        >>> @ARCH.register("cnn")
        ... def build_cnn(cfg): ...
    """

    def __init__(self, kind: str):
        self.kind = kind
        self._items: dict[str, T] = {}

    def register(self, name: str) -> Callable[[T], T]:
        def decorator(obj: T) -> T:
            if name in self._items:
                raise ValueError(f"{self.kind} '{name}' is already registered")
            self._items[name] = obj
            return obj

        return decorator

    def get(self, name: str) -> T:
        try:
            return self._items[name]
        except KeyError:
            known = ", ".join(sorted(self._items))
            raise AimodelError(
                f"unknown {self.kind} '{name}'{did_you_mean(name, self._items)}; known: {known}"
            ) from None

    def names(self) -> list[str]:
        return sorted(self._items)

    def __contains__(self, name: str) -> bool:
        return name in self._items

    def __iter__(self) -> Iterator[str]:
        return iter(sorted(self._items))
