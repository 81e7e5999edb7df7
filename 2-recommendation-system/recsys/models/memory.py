"""Refuse a fit up front when its dense working memory exceeds what the machine has free.

Item-item models hold dense items x items matrices; past a few tens of thousands of items that is
more memory than a laptop has, and finding out by a MemoryError (or the OOM killer) after hours of
other work is the worst way. The check runs before any large allocation.
"""

from __future__ import annotations

import os

GIB = 1024**3

# What to do instead when a dense items x items model (EASE, ItemKNN) does not fit.
ITEM_ITEM_ALTERNATIVE = (
    "Use ALS or BPR, whose memory grows linearly with the items, or shrink the catalogue "
    "(e.g. keep items with at least 20 ratings)."
)


class InsufficientMemoryError(MemoryError):
    """A model's dense working set does not fit in the memory available to it."""


def available_memory_bytes() -> int | None:
    """Memory the OS can give this process now (psutil), else free physical pages (sysconf).

    The sysconf figure leaves out reclaimable page cache, so without psutil the check errs on
    the side of refusing; ``None`` when neither source exists (the check is then skipped).
    """
    try:
        import psutil
    except ImportError:
        pass
    else:
        return int(psutil.virtual_memory().available)
    try:
        return int(os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE"))
    except (ValueError, OSError, AttributeError):
        return None


def require_memory(
    need_bytes: float, what: str, alternative: str, available: int | None = None
) -> None:
    """Raise ``InsufficientMemoryError`` naming the need and the alternative when it won't fit.

    ``available`` defaults to :func:`available_memory_bytes`; pass a number to impose a limit.
    """
    limit = available_memory_bytes() if available is None else available
    if limit is not None and need_bytes > limit:
        raise InsufficientMemoryError(
            f"{what} needs about {_size(need_bytes)} but only {_size(limit)} of memory is "
            f"available. {alternative} (To allow it anyway, set the model's memory_limit to the "
            "bytes you know are free.)"
        )


def _size(n_bytes: float) -> str:
    """GiB to one decimal, MiB below one GiB (a small limit would otherwise read "0.0 GiB")."""
    return f"{n_bytes / GIB:.1f} GiB" if n_bytes >= GIB else f"{n_bytes / 1024**2:.1f} MiB"
