"""Resource limits of a server worker process, applied as it starts.

A query worker runs under a hard address-space limit (``RLIMIT_AS``, :attr:`Settings.worker_memory_mb
<kg.settings.Settings.worker_memory_mb>`, env ``BUDGETKG_WORKER_MEMORY_MB``), so one query cannot take
the machine's memory: an allocation past it fails at once (``MemoryError`` in Python, an abort in
the store's native code), and the client gets a 503 that names the limit (:class:`server.errors.OverMemory`).
The limit counts address space, not resident memory: RocksDB and the allocators reserve more than
they touch, which docs/reliability.md measured when it chose the default.
"""

from __future__ import annotations

import resource

from kg.settings import Settings


def limit_memory(settings: Settings) -> int:
    """Cap this process's address space at ``settings.worker_memory_mb`` MB (0: leave it); returns the cap in MB.

    >>> limit_memory(Settings(worker_memory_mb=0))
    0
    """
    mb = settings.worker_memory_mb
    if mb > 0:
        _, hard = resource.getrlimit(resource.RLIMIT_AS)
        cap = mb << 20
        if hard != resource.RLIM_INFINITY:
            cap = min(cap, hard)
        resource.setrlimit(resource.RLIMIT_AS, (cap, cap))
    return mb
