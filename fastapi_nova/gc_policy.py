"""The garbage-collector policy a `NovaRouter`'s lifespan applies at start-up (issue 11).

A server holding thousands of WebSocket connections keeps each connection's objects alive
for minutes, and a full collection walks every object the process has: the imported
modules and the built app too, which are never garbage. At 1,000 sockets such a collection
over the start-up heap cost a fan-out a 300 ms pause.

The policy, applied once per process while any `NovaRouter` lifespan with it is running, is
`gc.collect()` then `gc.freeze()` at the end of start-up: what the imports and the app
built (and still use) moves out of the collector's sight, so no collection walks it again;
the start-up's garbage is collected first (at the first start-up in the process), not kept
for the server's life. The thresholds
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
#: Whether this process's start-up garbage was collected (see `_apply_gc_policy`).
_collected = False


def _apply_gc_policy() -> None:
    """Freeze the start-up heap; pair with `_release_gc_policy`."""
    global _leases, _collected
    _leases += 1
    if _leases > 1:
        return  # several routers in one process: one policy, applied by the first
    if not _collected:
        # Garbage the start-up left (reference cycles nobody collected yet) would be frozen
        # too, and kept for as long as the server runs: collect it first. Once per process:
        # a server starts once, but a test suite starts an app per test, and each full
        # collection walks the whole heap (72 of them cost this project's suite 13 s).
        _collected = True
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
