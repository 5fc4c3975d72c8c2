"""assert_close: values, and also the namespace, dtype, shape and device of an array."""

from __future__ import annotations

import numpy as np
from array_api_compat import array_namespace, device, is_cupy_array, is_torch_array


def to_numpy(a) -> np.ndarray:
    """A numpy copy of an array of any supported library (float64 for floating inputs)."""
    if is_torch_array(a):
        a = a.detach().cpu()
        if a.dtype.is_floating_point:
            a = a.double()
        return a.numpy()
    if is_cupy_array(a):
        return a.get()
    try:
        out = np.asarray(a)
    except (TypeError, ValueError, RuntimeError):
        out = np.from_dlpack(a)
    return out.astype(np.float64) if out.dtype.kind == "f" or out.dtype.name == "bfloat16" else out


def assert_close(actual, expected, *, rtol: float = 1e-7, atol: float = 0.0) -> None:
    """Assert ``actual`` matches ``expected`` in library, dtype, shape, device and values.

    Values compare as numpy ``assert_allclose`` does (|a - e| <= atol + rtol |e|), NaNs equal.
    """
    xa, xe = array_namespace(actual), array_namespace(expected)
    assert xa is xe, f"namespace {xa.__name__} != {xe.__name__}"
    assert actual.dtype == expected.dtype, f"dtype {actual.dtype} != {expected.dtype}"
    assert tuple(actual.shape) == tuple(expected.shape), (
        f"shape {tuple(actual.shape)} != {tuple(expected.shape)}"
    )
    assert device(actual) == device(expected), f"device {device(actual)} != {device(expected)}"
    np.testing.assert_allclose(to_numpy(actual), to_numpy(expected), rtol=rtol, atol=atol)
