"""The garbage-collector policy a `NovaRouter`'s lifespan applies at start-up (issue 11).

A server holding thousands of WebSocket connections keeps each connection's objects (its
task, coroutine, socket, mailbox, handler) alive for minutes, and every connection that
sleeps between messages leaves a few objects alive from one message to the next. CPython's
collector promotes those to its oldest generation, and once enough have piled up a full
collection walks every object of every connection, in the middle of a fan-out: at 5,000
sockets that pause was the fan-out's p99.

The policy, applied once per process while any `NovaRouter` lifespan with it is running:

* `gc.freeze()` at the end of start-up: what the imports and the app built is never
  garbage, so no collection walks it again;
* the oldest generation's threshold raised from 10 to `_OLDEST_THRESHOLD`: a full collection
  runs ten times less often. The young generations, which collect what a message left
  behind, keep their thresholds.

When the last such lifespan ends, the thresholds in force before are restored and the
frozen objects are handed back to the collector (`gc.unfreeze()`). Turn it off with
`NovaRouter(..., gc_policy=False)`, e.g. when the application tunes `gc` itself.
"""

from __future__ import annotations

import gc

#: The oldest generation's threshold while the policy is on (CPython's default is 10).
_OLDEST_THRESHOLD = 100

_leases = 0
_saved: tuple[int, int, int] | None = None


def _apply_gc_policy() -> None:
    """Freeze the start-up heap and raise the oldest threshold; pair with `_release_gc_policy`."""
    global _leases, _saved
    _leases += 1
    if _leases > 1:
        return  # several routers in one process: one policy, applied by the first
    first, second, oldest = gc.get_threshold()
    _saved = (first, second, oldest)
    gc.freeze()
    gc.set_threshold(first, second, max(oldest, _OLDEST_THRESHOLD))


def _release_gc_policy() -> None:
    """End one `_apply_gc_policy`; the last one restores the collector as it was."""
    global _leases, _saved
    if _leases == 0:
        return
    _leases -= 1
    if _leases or _saved is None:
        return
    gc.set_threshold(*_saved)
    _saved = None
    gc.unfreeze()
