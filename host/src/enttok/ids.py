"""Job ids: `job_` and a ULID (Crockford base 32, 48 bits of milliseconds, 80 of randomness),
which sort as text in the order the jobs were created."""

from __future__ import annotations

import os
import threading
import time

_CROCKFORD = "0123456789ABCDEFGHJKMNPQRSTVWXYZ"
_CROCKFORD_PAIRS = [high + low for high in _CROCKFORD for low in _CROCKFORD]
"""Every 10-bit value as two Crockford digits: an id is 13 lookups instead of 26."""
_id_lock = threading.Lock()
_last_id = (0, 0)


def new_job_id() -> str:
    """`job_` and a ULID that grows strictly within this process, so id order is creation order."""
    global _last_id
    with _id_lock:
        millis = int(time.time() * 1000)
        last_millis, last_randomness = _last_id
        if millis <= last_millis:  # the same millisecond: the last id plus one, no new randomness
            millis, randomness = last_millis, last_randomness + 1
        else:
            randomness = int.from_bytes(os.urandom(10), "big")
        _last_id = (millis, randomness)
    value = (millis << 80) | (randomness & ((1 << 80) - 1))
    return "job_" + "".join([_CROCKFORD_PAIRS[(value >> shift) & 1023] for shift in range(120, -1, -10)])
