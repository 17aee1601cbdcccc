"""Chalk compatibility: `from chalk import State` and friends, served by statefold.

This package is on the path only after the real Chalk SDK, so an installed `chalk` wins.
"""

from statefold import State

__all__ = ["State"]
