"""Human durations for flags and environment variables: "90", "30s", "15m", "2h", "7d", "1w",
"1h30m", "1.5h". A bare number is seconds."""

from __future__ import annotations

import math
import re

_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 604800.0}
_PART = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)")


def parse_duration(text: str) -> float:
    """Seconds in `text`; raises ValueError naming the accepted forms."""
    raw = text.strip().lower()
    try:
        seconds = float(raw)
    except ValueError:
        seconds = _parse_units(raw, text)
    if not math.isfinite(seconds) or seconds < 0:
        raise ValueError(f"duration {text!r} must be a finite, non-negative number of seconds")
    return seconds


def _parse_units(raw: str, original: str) -> float:
    compact = raw.replace(" ", "")
    pos, total = 0, 0.0
    for match in _PART.finditer(compact):
        if match.start() != pos:
            break
        total += float(match.group(1)) * _UNITS[match.group(2)]
        pos = match.end()
    if pos != len(compact) or not compact:
        raise ValueError(
            f"cannot read duration {original!r}: use seconds or units like 30s, 15m, 2h, 7d, 1w, "
            "1h30m"
        )
    return total


def format_duration(seconds: float) -> str:
    """A short human form: 0.4s, 42s, 5m12s, 3h05m, 2d04h."""
    if seconds < 10:
        return f"{seconds:.1f}s"
    whole = int(seconds)
    days, rest = divmod(whole, 86400)
    hours, rest = divmod(rest, 3600)
    minutes, secs = divmod(rest, 60)
    if days:
        return f"{days}d{hours:02d}h"
    if hours:
        return f"{hours}h{minutes:02d}m"
    if minutes:
        return f"{minutes}m{secs:02d}s"
    return f"{secs}s"
