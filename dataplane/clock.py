"""The data plane's clock: the time every per-request deadline is compared to
(a JWT's `exp`, an admin key's expiry, the end of a rolled key's grace window).

It is the system clock plus an offset that is zero in production. Tests move
it through the handshake socket (`{"op": "clock", "offset": seconds}`,
dataplane/control.py), which answers that op only when DATAPLANE_TEST_CLOCK
is on, so a test sees a grace window end without sleeping through it.
"""

import time

_offset = 0.0


def now() -> float:
    """Seconds since the epoch, as the front's checks see them."""
    return time.time() + _offset


def set_offset(seconds: float) -> None:
    global _offset
    _offset = float(seconds)
