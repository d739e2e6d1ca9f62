"""The delivery tests' fixtures (tests/engine/conftest.py): a manual clock at START, a runtime
on an in-memory database with it, and a recording transport. A module's own fixture of the
same name wins over these."""

from tests.engine.conftest import clock, memory, runtime

__all__ = ["clock", "memory", "runtime"]
