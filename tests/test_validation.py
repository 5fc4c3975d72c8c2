"""Bad input raises an exception that names the argument; inputs are never modified."""

from __future__ import annotations

import math
import re

import numpy as np
import pytest

import lorentz
from lorentz._registry import OPERATIONS
from lorentz.testing import assert_close, to_numpy
from lorentz.testing._backends import asarray
from lorentz.testing._operations import caller, registered

P = np.array([[math.sqrt(2.0), 1.0, 0.0], [1.0, 0.0, 0.0]])  # two points for c = 1
U = np.array([[1 / math.sqrt(2.0), 1.0, 0.0], [0.0, 0.5, 0.5]])  # tangent at P


def _last_bad(f, arguments):
    """f called with good arrays for every argument but the last, which gets the second."""
    return lambda x, y: f(*([x] * (len(arguments) - 1)), y)


# every registered operation (but knn, which needs k) -> (call with good arrays then a possibly
# bad last one, the name of that last argument)
CALLS = {
    name: (
        _last_bad(getattr(lorentz, name), OPERATIONS[name].arguments),
        OPERATIONS[name].arguments[-1],
    )
    for name in registered()
}
CALLS["from_poincare"] = (lambda x, p: lorentz.from_poincare(p), "p")  # reads the ball's p


@pytest.mark.parametrize("name", list(CALLS))
def test_integer_and_boolean_arrays_are_rejected(xp, name):
    call, arg = CALLS[name]
    good = asarray(xp, P)
    for dtype in ("int64", "bool"):
        bad = asarray(xp, P.astype(dtype), dtype)
        with pytest.raises(TypeError, match=rf"\b{arg} must have a real floating-point dtype"):
            call(good, bad)


@pytest.mark.parametrize("name", [n for n in CALLS if len(OPERATIONS[n].arguments) > 1])
def test_mismatched_last_dimension(xp, name):
    x, y = asarray(xp, P), asarray(xp, P[:, :2])
    with pytest.raises(ValueError, match="same last dimension"):
        CALLS[name][0](x, y)


def test_batch_shapes_that_do_not_broadcast(xp):
    x = asarray(xp, np.stack([P[0]] * 3))
    y = asarray(xp, P)
    with pytest.raises(ValueError, match=r"batch shapes of x and y do not broadcast"):
        lorentz.dist(x, y)


def test_pairwise_needs_matrices(xp):
    with pytest.raises(ValueError, match=r"y must have shape \(\.\.\., N, n\+1\)"):
        lorentz.pairwise_dist(asarray(xp, P), asarray(xp, P[0]))
    with pytest.raises(ValueError, match=r"queries and keys must have shape \(N, n\+1\)"):
        lorentz.knn(asarray(xp, P[None]), asarray(xp, P), 1)
    with pytest.raises(ValueError, match=r"the batch shapes of x and y do not broadcast"):
        lorentz.pairwise_dist(asarray(xp, np.stack([P, P])), asarray(xp, np.stack([P, P, P])))


@pytest.mark.parametrize("c", [0.0, -1.0, math.nan, math.inf, -math.inf])
def test_bad_scalar_curvature(xp, c):
    with pytest.raises(ValueError, match=r"c must be finite and > 0"):
        lorentz.dist(asarray(xp, P), asarray(xp, P), c=c)


def test_bad_array_curvature(xp):
    with pytest.raises(ValueError, match=r"c must be finite and > 0"):
        lorentz.dist(asarray(xp, P), asarray(xp, P), c=asarray(xp, [1.0, -2.0]))
    with pytest.raises(TypeError, match=r"c must have a real floating-point dtype"):
        lorentz.dist(asarray(xp, P), asarray(xp, P), c=asarray(xp, [1, 2], "int64"))
    with pytest.raises(ValueError, match=r"batch shapes of c and the points"):
        lorentz.dist(asarray(xp, P), asarray(xp, P), c=asarray(xp, [1.0, 2.0, 3.0]))
    with pytest.raises(TypeError, match="got bool"):
        lorentz.dist(asarray(xp, P), asarray(xp, P), c=True)
    with pytest.raises(TypeError, match="numpy bool scalar"):
        lorentz.dist(asarray(xp, P), asarray(xp, P), c=np.bool_(True))
    # a numpy scalar curvature goes with any library
    d = lorentz.dist(asarray(xp, P), asarray(xp, P[::-1].copy()), c=np.float32(2.0))
    assert_close(d, lorentz.dist(asarray(xp, P), asarray(xp, P[::-1].copy()), c=2.0), rtol=0)


def test_arrays_of_two_libraries(xp):
    if xp.__name__.endswith("numpy") and "jax" not in xp.__name__:
        import array_api_strict as other
    else:
        other = np
    with pytest.raises(TypeError, match=r"x and y come from different array libraries"):
        lorentz.dist(asarray(xp, P), other.asarray(P))


def test_python_lists_and_scalars_are_not_arrays():
    with pytest.raises(TypeError, match=r"x must be an array, got list"):
        lorentz.dist(P.tolist(), P)
    with pytest.raises(TypeError, match=r"u must be an array, got float"):
        lorentz.norm(1.0)


def test_zero_dimensional_and_too_short(xp):
    with pytest.raises(ValueError, match="0-d"):
        lorentz.dist0(asarray(xp, 1.0))
    with pytest.raises(ValueError, match=r"x must have at least 2 components"):
        lorentz.dist0(asarray(xp, [1.0]))


def test_min_radius(xp):
    for bad in (0.0, -0.1, math.nan):
        with pytest.raises(ValueError, match="min_radius"):
            lorentz.half_aperture(asarray(xp, P), min_radius=bad)
    with pytest.raises(TypeError, match="min_radius"):
        lorentz.half_aperture(asarray(xp, P), min_radius="0.1")


def test_from_poincare_outside_ball(xp):
    with pytest.raises(ValueError, match="inside the Poincare ball"):
        lorentz.from_poincare(asarray(xp, [[0.5, 0.5], [0.9, 0.5]]))
    with pytest.raises(ValueError, match="inside the Poincare ball"):
        lorentz.from_poincare(asarray(xp, [0.5, 0.0]), c=4.0)  # radius 1/2
    with pytest.raises(ValueError, match="inside the Poincare ball"):
        lorentz.from_poincare(asarray(xp, [math.nan, 0.0]))


def test_check_point_reports_worst(xp):
    assert lorentz.check_point(asarray(xp, P)) is not None
    bad = P.copy()
    bad[1, 0] = 1.5  # relative defect 0.5
    bad[0, 0] *= 1 + 1e-3
    with pytest.raises(ValueError, match=r"worst defect 0\.5 at flat index 1.*2 of 2 fail"):
        lorentz.check_point(asarray(xp, bad))
    with pytest.raises(ValueError, match=r"worst defect nan"):
        lorentz.check_point(asarray(xp, [[math.nan, 0.0]]))
    lower = -P
    with pytest.raises(ValueError, match="x0 > 0"):
        lorentz.check_point(asarray(xp, lower))
    # c matters: the origin of c = 4 is (1/2, 0, 0)
    lorentz.check_point(asarray(xp, [0.5, 0.0, 0.0]), c=4.0)
    with pytest.raises(ValueError):
        lorentz.check_point(asarray(xp, [1.0, 0.0, 0.0]), c=4.0)


def test_check_point_tolerance_is_relative_and_atol_is_deprecated():
    far = lorentz.from_space(np.array([[1e6, 0.0]]))
    off = far * np.array([[1 + 1e-9, 1.0, 1.0]])  # x0 off by 1e-9 of itself (1e-3 absolute)
    lorentz.check_point(off, rtol=1e-8)
    with pytest.raises(ValueError, match="not on the hyperboloid"):
        lorentz.check_point(off, rtol=1e-10)
    with pytest.warns(DeprecationWarning, match="use rtol"):
        lorentz.check_point(off, atol=1e-8)
    with pytest.warns(DeprecationWarning, match="use rtol"):
        with pytest.raises(ValueError, match="not on the hyperboloid"):
            lorentz.check_tangent(off, np.zeros((1, 3)), atol=1e-10)
    with pytest.raises(TypeError, match="give rtol only"):
        lorentz.check_point(off, rtol=1e-8, atol=1e-8)


def test_check_tangent(xp):
    lorentz.check_tangent(asarray(xp, P), asarray(xp, U))
    with pytest.raises(ValueError, match=r"u is not tangent at x.*1 of 2 fail"):
        lorentz.check_tangent(asarray(xp, P), asarray(xp, U + np.array([[0.0, 0, 0], [1.0, 0, 0]])))
    with pytest.raises(ValueError, match="not on the hyperboloid"):
        lorentz.check_tangent(asarray(xp, 2 * P), asarray(xp, U))


def _every_call(x, y, u, impl):
    """Every public function on points x, y and tangent u at x; ``impl`` where it is taken."""
    kw = {} if impl is None else {"implementation": impl}
    v = np.concatenate([0 * u[..., :1], u[..., 1:]], axis=-1) if isinstance(u, np.ndarray) else u
    return [
        lambda: lorentz.dist(x, y, **kw),
        lambda: lorentz.pairwise_dist(x, y, **kw),
        lambda: lorentz.knn(x, y, 1, **kw),
        lambda: lorentz.expmap0(v, **kw),
        lambda: lorentz.logmap0(x, **kw),
        lambda: lorentz.dist0(x),
        lambda: lorentz.inner(x, y),
        lambda: lorentz.norm(u),
        lambda: lorentz.expmap(x, u),
        lambda: lorentz.logmap(x, y),
        lambda: lorentz.transport(x, y, u),
        lambda: lorentz.project(x),
        lambda: lorentz.project_tangent(x, u),
        lambda: lorentz.half_aperture(x),
        lambda: lorentz.exterior_angle(x, y),
        lambda: lorentz.to_poincare(x),
        lambda: lorentz.from_poincare(lorentz.to_poincare(x)),
        lambda: lorentz.to_space(x),
        lambda: lorentz.from_space(x[..., 1:]),
        lambda: lorentz.check_point(x),
        lambda: lorentz.check_tangent(x, u),
    ]


@pytest.mark.parametrize("impl", [None, "reference", "numba"])
def test_inputs_are_not_modified(impl):
    """Read-only numpy inputs (an in-place write raises) through every function, on every
    implementation that takes them."""
    pytest.importorskip("numba")
    x, y, u = P.copy(), P[::-1].copy(), U.copy()
    for a in (x, y, u):
        a.flags.writeable = False
    for f in _every_call(x, y, u, impl):
        f()
    np.testing.assert_array_equal(x, P)
    np.testing.assert_array_equal(u, U)


def test_tensors_are_not_modified():
    """torch has no read-only flag: the values after every call must be the values before."""
    torch = pytest.importorskip("torch")
    x, y, u = (torch.tensor(a) for a in (P, P[::-1].copy(), U))
    before = [a.clone() for a in (x, y, u)]
    for f in _every_call(x, y, u, None):
        f()
    for a, b in zip((x, y, u), before):
        assert torch.equal(a, b)


def test_library_dtype_and_device_are_kept(xp):
    for dtype in ("float32", "float64"):
        x = asarray(xp, P, dtype)
        out = lorentz.expmap(x, asarray(xp, U, dtype))
        assert out.dtype == x.dtype and out.device == x.device
        # the same values as numpy's, to the accuracy bound of the dtype
        want = lorentz.expmap(P.astype(dtype), U.astype(dtype))
        np.testing.assert_allclose(to_numpy(out), want, rtol=2e-6 if dtype == "float32" else 1e-12)
        d = lorentz.dist(x, x, keepdim=True)
        assert tuple(d.shape) == (2, 1) and d.dtype == x.dtype


@pytest.mark.parametrize("name", registered())
def test_every_operation_keeps_library_dtype_and_device(xp, name):
    """Every registered operation: the result is in the inputs' library, dtype and device,
    with numpy's values to the accuracy bound (absolute for angles and values near 0)."""
    f = caller(name)
    for dtype, tol in (("float32", 4e-6), ("float64", 2e-12)):
        arrays = {"x": P, "y": P[::-1].copy(), "u": U, "v": U * np.array([0.0, 1.0, 1.0])}
        want = f({k: a.astype(dtype) for k, a in arrays.items()})
        got = f({k: asarray(xp, a, dtype) for k, a in arrays.items()})
        assert_close(got, asarray(xp, want, dtype), rtol=tol, atol=tol)


def test_mixed_precision_promotes(xp):
    out = lorentz.dist(asarray(xp, P, "float32"), asarray(xp, P, "float64"))
    assert out.dtype == xp.float64


def test_assert_close_checks_metadata(xp):
    a = asarray(xp, P)
    with pytest.raises(AssertionError, match="dtype"):
        assert_close(a, asarray(xp, P, "float32"))
    with pytest.raises(AssertionError, match="shape"):
        assert_close(a, asarray(xp, P[:1]))
    with pytest.raises(AssertionError, match="namespace"):
        assert_close(a, np.asarray(P) if "numpy" not in xp.__name__ else _strict(P))


def _strict(a):
    import array_api_strict

    return array_api_strict.asarray(a)


def test_error_messages_name_arguments():
    # every argument name reaches the message of the function it belongs to
    with pytest.raises(TypeError, match=re.escape("v must have a real floating-point dtype")):
        lorentz.transport(P, P, U.astype(int))
    with pytest.raises(TypeError, match=re.escape("p must have a real floating-point dtype")):
        lorentz.from_poincare(P.astype(int))


def test_flags_and_counts_are_checked_by_type(xp):
    """Arguments whose truthiness or int() would silently pick a branch or shape are refused
    by name: keepdim=0 kept the axis on the reference and dropped it on numba; k=True was k = 1."""
    x, y = asarray(xp, P), asarray(xp, P[::-1].copy())
    for f in (
        lambda kd: lorentz.dist(x, x, keepdim=kd),
        lambda kd: lorentz.dist0(x, keepdim=kd),
        lambda kd: lorentz.inner(x, x, keepdim=kd),
        lambda kd: lorentz.norm(x, keepdim=kd),
        lambda kd: lorentz.half_aperture(x, keepdim=kd),
        lambda kd: lorentz.exterior_angle(x, y, keepdim=kd),
    ):
        for bad in (0, 1, None, "yes"):
            with pytest.raises(TypeError, match="keepdim must be True or False"):
                f(bad)
        assert tuple(f(True).shape) == (2, 1) and tuple(f(np.bool_(False)).shape) == (2,)
    with pytest.raises(TypeError, match="k must be an integer, got bool"):
        lorentz.knn(x, x, True)


def test_numpy_scalar_min_radius_is_a_number():
    for r in (np.float32(0.1), np.float64(0.1), np.int64(1)):
        want = lorentz.half_aperture(P, min_radius=float(r))
        np.testing.assert_array_equal(lorentz.half_aperture(P, min_radius=r), want)
    with pytest.raises(TypeError, match="min_radius must be a positive float"):
        lorentz.half_aperture(P, min_radius=np.bool_(True))


@pytest.mark.parametrize("c", [5e-324, 1e-310])
def test_subnormal_curvature_is_refused(xp, c):
    """c > 0 but 1/c overflows: every distance would come out 0."""
    with pytest.raises(ValueError, match="1/c finite"):
        lorentz.dist(asarray(xp, P), asarray(xp, P), c=c)
    with pytest.raises(ValueError, match="c must be finite and > 0"):
        lorentz.dist(asarray(xp, P), asarray(xp, P), c=asarray(xp, np.array(c)))


def test_self_check_refuses_zero_samples(capsys):
    from lorentz._selfcheck import main

    with pytest.raises(SystemExit):
        main(["--samples", "0"])
    assert "--samples must be at least 1" in capsys.readouterr().err


# ------------------------------------------------------------------ all-pairs output too large


@pytest.mark.parametrize("impl", [None, "reference", "numba"])
@pytest.mark.parametrize("dtype", ["float32", "float64"])
def test_pairwise_output_that_cannot_fit_is_refused_at_once(xp, impl, dtype):
    """A million by a million distances (4 or 8 TB) from broadcast rows (no memory behind
    them): MemoryError before any work, saying what to use instead. Before the check the
    reference computed for minutes before running out."""
    import time

    rows = xp.broadcast_to(asarray(xp, P[1], dtype), (10**6, 3))
    if impl == "numba" and xp.__name__ != "array_api_compat.numpy":
        with pytest.raises(ValueError, match="the numba kernels take numpy arrays"):
            lorentz.pairwise_dist(rows, rows, implementation=impl)
        return
    start = time.perf_counter()
    with pytest.raises(
        MemoryError,
        match=rf"pairwise_dist: the output, shape \(1000000, 1000000\) "
        rf"of .*{dtype}.*lorentz\.knn.*blocks of rows",
    ):
        lorentz.pairwise_dist(rows, rows, implementation=impl)
    assert time.perf_counter() - start < 1.0


def test_batched_pairwise_output_that_cannot_fit(xp):
    x = xp.broadcast_to(asarray(xp, P[1]), (10**4, 1000, 3))
    y = xp.broadcast_to(asarray(xp, P[1]), (10**4, 3))
    with pytest.raises(MemoryError, match=r"shape \(10000, 1000, 10000\)"):
        lorentz.pairwise_dist(x, y)


def test_pairwise_memory_rule(monkeypatch):
    """The rule itself, at small sizes: refused when the output (twice it for the reference
    when it spans several row blocks, which it holds and then concatenates) exceeds the memory
    available; allowed up to it."""
    import lorentz._allpairs as allpairs
    import lorentz._arguments as backend

    x = lorentz.from_space(np.random.default_rng(0).normal(size=(64, 2)))
    out_bytes = 64 * 64 * 8
    monkeypatch.setattr(backend, "CHECK_MEMORY_FROM", 0)
    monkeypatch.setattr(allpairs, "TILE", 64 * 16)  # four row blocks
    monkeypatch.setattr(backend, "available_memory", lambda xp, device: out_bytes)
    want = lorentz.pairwise_dist(x, x, implementation="numba")  # exactly fits
    with pytest.raises(MemoryError, match=r"\(2 copies at the peak: 0\.0 GiB\), more than"):
        lorentz.pairwise_dist(x, x, implementation="reference")
    monkeypatch.setattr(backend, "available_memory", lambda xp, device: 2 * out_bytes)
    assert_close(lorentz.pairwise_dist(x, x, implementation="reference"), want, rtol=1e-12)
    monkeypatch.setattr(backend, "available_memory", lambda xp, device: out_bytes - 1)
    with pytest.raises(MemoryError, match=r"more than the 0\.0 GiB of memory available"):
        lorentz.pairwise_dist(x, x, implementation="numba")
    # memory that cannot be measured (torch's meta device, say) is not a refusal
    monkeypatch.setattr(backend, "available_memory", lambda xp, device: None)
    lorentz.pairwise_dist(x, x, implementation="numba")


def test_host_memory_is_measured():
    from array_api_compat import numpy as np_compat

    import lorentz._arguments as backend

    free = backend.available_memory(np_compat, "cpu")
    assert isinstance(free, int) and free > 1 << 20
