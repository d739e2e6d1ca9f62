"""On-call rotations: pure shift arithmetic, no I/O (see :mod:`.recurrence`)."""
