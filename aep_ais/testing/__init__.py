"""Test support for users of `aep_ais`: virtual time and an emulator of the API."""

from ._clock import FakeClock

__all__ = ["FakeClock"]
