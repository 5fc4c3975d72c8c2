"""The registry's operations as the test suite calls them: each kind of inputs the registry
declares is read from a set of named arrays (x, y: points; u: a tangent vector at x; v: a
tangent vector at the origin), so a new operation in the registry joins every table built
here without an edit to the tests."""

from __future__ import annotations

from collections.abc import Callable

from .._registry import OPERATIONS

# which named arrays each kind of inputs takes
ARGUMENTS = {
    "point": ("x",),
    "pair": ("x", "y"),
    "distinct": ("x", "y"),
    "tangent0": ("v",),
    "tangent": ("x", "u"),
    "transport": ("x", "y", "u"),
    "rows": ("x", "y"),
}


def registered(*, exclude=()) -> list[str]:
    """The registered operations whose inputs are read from named arrays (not the Poincare
    ball's, nor those needing an argument beyond their arrays), in the registry's order."""
    return [
        name
        for name, op in OPERATIONS.items()
        if op.public and op.inputs in ARGUMENTS and name not in exclude and not op.extra_required
    ]


def caller(name: str) -> Callable:
    """``f(arrays, **keywords)``: the public function ``name`` on its arguments picked from the
    dict ``arrays`` by the registry's kind of inputs."""
    import lorentz

    f, names = getattr(lorentz, name), ARGUMENTS[OPERATIONS[name].inputs]
    return lambda arrays, **kw: f(*(arrays[n] for n in names), **kw)


def takes_implementation(name: str) -> bool:
    """Whether the operation has kernels, so its public function takes ``implementation``."""
    from .._registry import IMPLEMENTATIONS, has_kernel

    return any(has_kernel(impl, name) for impl in IMPLEMENTATIONS)
