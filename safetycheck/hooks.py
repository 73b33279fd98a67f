"""Domain events and hooks: how a lower package tells a higher one what happened, without importing it.

Imports point one way (api/web → domain packages → db). When a lower package needs a higher one
to act (an alarm resolved as an incident must open a draft report; a check-in about to be
accepted must hear what the register knows about the address), it declares an `Event` (any
number of subscribers, nothing returned) or a `Hook` (exactly one answer) in its own `events.py`
and announces it; the higher package subscribes in its `setup.init_app` at app start.

A required event or hook that nobody subscribed to would do nothing, silently: `check_wiring()`,
called at the end of `create_app`, refuses to start instead. Subscribing is idempotent, because
tests build many apps in one process.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Generic, Protocol, TypeVar

T = TypeVar("T")
R = TypeVar("R")


class _Declared(Protocol):
    name: str
    required: bool

    @property
    def wired(self) -> bool: ...


_DECLARED: list[_Declared] = []


class WiringError(RuntimeError):
    """A required event or hook has no subscriber: the app must not start half-wired."""


class Event(Generic[T]):
    """Something that happened, announced with one payload to every subscriber in turn."""

    def __init__(self, name: str, *, required: bool = False) -> None:
        self.name = name
        self.required = required
        self._subscribers: list[Callable[[T], None]] = []
        _DECLARED.append(self)

    def subscribe(self, func: Callable[[T], None]) -> Callable[[T], None]:
        if func not in self._subscribers:
            self._subscribers.append(func)
        return func

    def announce(self, payload: T) -> None:
        if self.required and not self._subscribers:
            raise WiringError(f"nobody subscribed to the required event {self.name}")
        for func in list(self._subscribers):
            func(payload)

    @property
    def wired(self) -> bool:
        return bool(self._subscribers)


class Hook(Generic[T, R]):
    """A question a lower package asks and exactly one higher package answers."""

    def __init__(self, name: str) -> None:
        self.name = name
        self.required = True
        self._answer: Callable[[T], R] | None = None
        _DECLARED.append(self)

    def answer_with(self, func: Callable[[T], R]) -> Callable[[T], R]:
        if self._answer is not None and self._answer is not func:
            raise WiringError(f"the hook {self.name} already has an answer")
        self._answer = func
        return func

    def ask(self, payload: T) -> R:
        if self._answer is None:
            raise WiringError(f"nobody answers the hook {self.name}")
        return self._answer(payload)

    @property
    def wired(self) -> bool:
        return self._answer is not None


def check_wiring() -> None:
    """Refuse to start when a required event or hook has nobody to act on it."""
    missing = sorted(item.name for item in _DECLARED if item.required and not item.wired)
    if missing:
        raise WiringError("required events or hooks without a subscriber: " + ", ".join(missing))


def declared() -> list[tuple[str, bool]]:
    """Every declared event and hook with whether it is wired (for tests and docs)."""
    return [(item.name, item.wired) for item in _DECLARED]
