"""A sender's hold on one claimed text or call, kept fresh up to the moment it goes to Twilio.

A claim older than the stale threshold counts as its sender's death: another sender reclaims it,
asks Twilio whether it went, finds nothing (it has not gone yet) and sends it. So a live sender
must never send on a claim that could already look stale. Restamping just before sending is not
enough on its own: the sender can be held up between the restamp and the request (a slow
reconcile lookup, a descheduled thread on a loaded machine), and a text went twice, 45 ms apart,
when that happened in the three-process soak.

The lease bounds it: the request starts within `budget` of a committed stamp, where `budget` is
the stale threshold less the gateway's hard timeout (the longest the request itself may take).
Past the budget the sender restamps again, and that restamp only succeeds while the claim is
still its own; if someone has reclaimed it, this sender lets it go.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Generic, TypeVar

from safetycheck.extensions import db

C = TypeVar("C")


class ClaimLease(Generic[C]):
    def __init__(
        self,
        claim: C,
        *,
        renew: Callable[[C, datetime], C | None],
        now: Callable[[], datetime],
        budget: timedelta,
        monotonic: Callable[[], float] = time.monotonic,
        stamped_at: float | None = None,
    ) -> None:
        """`stamped_at`: when (on `monotonic`, read before the claim was taken) the claim was
        stamped and committed, if just now; a fresh claim then needs no restamp to be sent on."""
        self._claim: C | None = claim
        self._renew = renew
        self._now = now
        self._budget = budget.total_seconds()
        self._monotonic = monotonic
        self._stamped_at = float("-inf") if stamped_at is None else stamped_at
        self.renewals = 0

    @property
    def claim(self) -> C:
        """The claim as last stamped (what the outcome must be recorded against)."""
        assert self._claim is not None, "the claim was lost"
        return self._claim

    def renew(self) -> bool:
        """Restamp the claim and commit; False (and the lease is lost) if it is no longer ours."""
        if self._claim is None:
            return False
        started = self._monotonic()  # before the stamp is read: the stamp ages from here
        self._claim = self._renew(self._claim, self._now())
        db.session.commit()
        if self._claim is None:
            return False
        self._stamped_at = started
        self.renewals += 1
        return True

    def fresh(self) -> bool:
        """Whether the claim may be sent on now: within budget of its stamp, or restamped."""
        if self._claim is None:
            return False
        if self._monotonic() - self._stamped_at <= self._budget:
            return True
        return self.renew()
