"""The garbage-collector policy a `NovaRouter`'s lifespan applies at start-up (issue 11).

A server holding thousands of WebSocket connections keeps each connection's objects alive
for minutes, and a full collection walks every object the process has: the imported
modules and the built app too, which are never garbage. At 1,000 sockets such a collection
over the start-up heap cost a fan-out a 300 ms pause.

The policy, applied once per process while any `NovaRouter` lifespan with it is running, is
`gc.collect()` then `gc.freeze()` at the end of start-up: what the imports and the app
built (and still use) moves out of the collector's sight, so no collection walks it again;
the start-up's garbage is collected first, not kept for the server's life. The thresholds
stay CPython's. (An earlier policy also raised the oldest generation's threshold from 10 to
100; once the connection runtime stopped leaving objects alive between messages that only
postponed the full collection of a large connect ramp, and at 10,000 sockets it then landed
in a fan-out as a 0.9 s pause: docs/tools.md.)

When the last such lifespan ends, the frozen objects are handed back to the collector
(`gc.unfreeze()`). Turn it off with `NovaRouter(..., gc_policy=False)`, e.g. when the
application tunes `gc` itself.
"""

from __future__ import annotations

import gc

_leases = 0


def _apply_gc_policy() -> None:
    """Freeze the start-up heap; pair with `_release_gc_policy`."""
    global _leases
    _leases += 1
    if _leases > 1:
        return  # several routers in one process: one policy, applied by the first
    # Garbage the start-up left (reference cycles nobody collected yet) would be frozen too,
    # and kept for as long as the server runs: collect it first.
    gc.collect()
    gc.freeze()


def _release_gc_policy() -> None:
    """End one `_apply_gc_policy`; the last one hands the frozen heap back."""
    global _leases
    if _leases == 0:
        return
    _leases -= 1
    if _leases == 0:
        gc.unfreeze()
