"""Type aliases of the public API."""

from __future__ import annotations

from typing import Any, TypeAlias

# an array of any array-API library the functions take (numpy, torch, jax, cupy, dask,
# array-api-strict): no common static type exists across them
Array: TypeAlias = Any
