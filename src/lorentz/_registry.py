"""The operation registry and the one dispatch path.

Every operation is declared once in ``OPERATIONS``: its public name, its reference function
(the array-API core), its arguments and what they are, its mpmath oracle and whether its error
is measured as an angle. Implementations other than the reference live in packages that
declare themselves behind one contract (``IMPLEMENTATIONS``):

- ``KERNELS``: ``{library: operation names}``, the libraries being the array namespaces'
  short names ("numpy", "torch", "dask");
- ``why_not(op, xp, c, dtype, device) -> str | None``: why the kernels cannot take these
  inputs (a sentence for the error message), or None when they can;
- ``kernel(op, library)``: the kernel, called as ``kernel(*arrays, c, *extra, dtype)`` on the
  validated arrays as given; it returns the result in the operation's output shape, in
  ``dtype`` or the compute dtype (the dispatch casts).
  Importing the package imports nothing heavy: its kernels load on first use.

Each registered public function is a docstring and a call to :func:`call`; tests,
benchmarks, the self-check and the API reference read this table, so an operation added here
is tested, benchmarked and documented without editing them.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from . import _allpairs_autodiff as allpairs
from . import _barycenters as barycenters
from . import _dask, _numba, _triton
from . import _geodesic as geodesic
from . import _horospheres as horospheres
from . import _hyperplanes as hyperplanes
from . import _pairwise as pairs
from . import _reference as ref
from . import _wrapped_normal as wrapped_normal
from ._arguments import as_dtype, finish, prepare, to_work
from ._validation import inside_ball


@dataclass(frozen=True)
class Operation:
    """One operation of the library.

    ``reference(*arrays, c, *extra, xp)`` computes it on arrays in the compute dtype
    (``cast=False``: as given, for references that pick their own precision).
    ``inputs`` names the kind of inputs the accuracy tests draw: "point", "pair" (two
    points), "distinct" (two different points), "tangent0" (a tangent vector at the origin),
    "tangent" (a point and a tangent vector there), "transport" (two points and a tangent
    vector at the first), "ball" (a Poincare-ball point), "rows" (two sets of points),
    "ambient" (vectors read as given, no curvature); the operations that bind their own
    arguments name theirs ("geodesic", "set", "ideal", "hyperplane", "classes", "wrapped
    normal") and are tested in their own modules.
    ``oracle`` is the function of :mod:`lorentz.testing.mpref` with the same arguments then
    ``c``; ``angle`` measures its error in radians rather than relatively; ``reduces`` drops
    the last axis (the operation takes ``keepdim``).
    """

    name: str
    reference: Callable
    arguments: tuple[str, ...]
    inputs: str
    oracle: str | None = None
    angle: bool = False
    reduces: bool = False
    group: str = "Maps"
    rows: tuple[str, ...] = ()
    min_dim: int = 2
    cast: bool = True
    # raises on arguments this operation refuses (beyond what prepare checks)
    validate: Callable | None = None
    # why the kernels cannot take these (validated) arrays, or None
    kernels_take: Callable | None = None
    # called with the chosen implementation before any work (memory checks)
    before: Callable | None = None
    extra: tuple[str, ...] = field(default=())
    # a public function of lorentz (else an internal step that dispatches through here)
    public: bool = True
    # prepares the arguments itself, for operations that take more than arrays of points and
    # vectors (weights, an axis, a fraction t, a scale): bind(c, *extra, **arrays) returns
    # (xp, arrays in the compute dtype, c, output dtype, extra), validated; replaces prepare,
    # validate and the cast
    bind: Callable | None = None
    # the reference takes c (the ambient bilinear form and its norm do not)
    curved: bool = True

    @property
    def extra_required(self) -> bool:
        """Whether a call needs more than the arrays (knn's k; min_radius has a default)."""
        return "k" in self.extra


# name -> the package that implements kernels behind the contract above (each imports
# nothing heavy; plain imports, which torch.compile traces, where importlib it does not)
IMPLEMENTATIONS = {"numba": _numba, "triton": _triton, "dask": _dask}
CHOICES = (None, "reference", *IMPLEMENTATIONS)


def _package(name: str):
    return IMPLEMENTATIONS[name]


_libraries: dict = {}


def library(xp) -> str:
    """The short name of an array namespace: numpy, torch, jax, dask, cupy, ..."""
    name = getattr(xp, "__name__", "")
    lib = _libraries.get(name)  # keyed by name: torch.compile hashes no module
    if lib is None:
        lib = (
            "jax"
            if name.startswith("jax")
            else next(  # jax.numpy ends with numpy
                (short for short in ("torch", "cupy", "numpy") if name.endswith(short)),
                "dask" if name.endswith("dask.array") else name,
            )
        )
        _libraries[name] = lib
    return lib


def has_kernel(implementation: str, op: str, lib: str | None = None) -> bool:
    kernels = _package(implementation).KERNELS
    if lib is None:
        return any(op in names for names in kernels.values())
    return op in kernels.get(lib, ())


def _missing(implementation: str, op: str, xp, c, dtype, device) -> str | None:
    package = _package(implementation)
    if not has_kernel(implementation, op):
        return f"there is no {implementation} kernel for {op}"
    return package.why_not(op, xp, c, dtype, device)


def select(op: str, implementation, xp, c, dtype, device=None, arrays=()) -> str:
    """The implementation that runs ``op`` on these inputs: ``implementation`` when given
    (ValueError naming what is missing when it cannot run), else the dask kernels for dask
    arrays, Triton for CUDA tensors, numba for numpy arrays and torch CPU tensors, and the
    reference otherwise."""
    return _choose(OPERATIONS[op], implementation, xp, c, dtype, device, arrays)


def _choose(operation: Operation, implementation, xp, c, dtype, device, arrays) -> str:
    if implementation == "reference":
        return "reference"
    op = operation.name
    shape_reason = operation.kernels_take(*arrays) if operation.kernels_take and arrays else None
    if implementation is not None:
        if implementation not in CHOICES:
            raise ValueError(
                f"implementation must be one of None, 'reference', 'numba', 'triton'; "
                f"got {implementation!r}"
            )
        missing = shape_reason or _missing(implementation, op, xp, c, dtype, device)
        if missing:
            raise ValueError(f"implementation={implementation!r} cannot run here: {missing}")
        return implementation
    if shape_reason:
        return "reference"
    lib = library(xp)
    automatic: tuple[str, ...]
    if lib == "dask":
        automatic = ("dask",)
    elif getattr(device, "type", None) == "cuda":
        automatic = ("triton", "numba")
    else:
        automatic = ("numba",)
    for name in automatic:
        package = _package(name)
        if op in package.KERNELS.get(lib, ()) and package.why_not(op, xp, c, dtype, device) is None:
            return name
    return "reference"


def kernel(implementation: str, op: str, xp, scheme: str | None = None) -> Callable:
    if scheme is None:
        return _package(implementation).kernel(op, library(xp))
    return _package(implementation).kernel(op, library(xp), scheme)


def split_scheme(implementation, op: str | None = None):
    """(implementation, scheme or None): "triton:split" -> ("triton", "split"). A scheme the
    Triton kernels do not have, after anything but "triton", or for an operation whose
    kernels take none, raises ValueError naming ``implementation``."""
    if not isinstance(implementation, str) or ":" not in implementation:
        return implementation, None
    impl, scheme = implementation.split(":", 1)
    triton = _package("triton")
    if impl != "triton" or scheme not in triton.SCHEMES:
        raise ValueError(
            f"implementation must be None, 'reference', 'numba', 'triton' or 'triton:<scheme>' "
            f"with <scheme> one of {', '.join(triton.SCHEMES)}; got {implementation!r}"
        )
    if op is not None and op not in triton.SCHEME_OPS:
        raise ValueError(
            f"implementation={implementation!r}: {op} has no precision schemes; "
            f"they are for {', '.join(sorted(triton.SCHEME_OPS))}"
        )
    return impl, scheme


def call(name: str, implementation=None, *, c, keepdim=None, extra=(), **arrays):
    """Validate, choose an implementation, run it, and return the result in the inputs'
    library, device and dtype: the path every public operation takes."""
    op = OPERATIONS[name]
    scheme = None
    if isinstance(implementation, str) and ":" in implementation:
        implementation, scheme = split_scheme(implementation, name)
    if op.bind is not None:
        xp, values, c, dtype, extra = op.bind(c, *extra, **arrays)
    else:
        xp, values, c, dtype, _ = prepare(c, rows=op.rows, min_dim=op.min_dim, cast=False, **arrays)
        if op.validate is not None:
            op.validate(xp, c, *values, *extra)
    if implementation == "reference" or (implementation is None and name in REFERENCE_ONLY):
        chosen = "reference"
    else:
        device = getattr(values[0], "device", None)
        chosen = _choose(op, implementation, xp, c, dtype, device, values)
    if op.before is not None:
        op.before(chosen, xp, dtype, *values)
    if chosen != "reference":
        out = kernel(chosen, name, xp, scheme)(*values, c, *extra, dtype)
        if keepdim:  # only operations with one output take keepdim
            out = out[..., None]
        return _in_dtype(xp, out, dtype)
    if op.cast and op.bind is None:
        values = to_work(xp, *values)
    if op.curved:
        out = op.reference(*values, c, *extra, xp=xp)
    else:
        out = op.reference(*values, *extra, xp=xp)
    if isinstance(out, tuple):  # (values, indices)
        return (finish(xp, out[0], dtype, keepdim), *out[1:])
    return finish(xp, out, dtype, keepdim)


def _in_dtype(xp, out, dtype):
    if isinstance(out, tuple):  # (values, indices)
        return (as_dtype(xp, out[0], dtype), *out[1:])
    return as_dtype(xp, out, dtype)


def _operations(*ops: Operation) -> dict[str, Operation]:
    return {op.name: op for op in ops}


GEODESICS = "Geodesics, barycenters and distributions"

OPERATIONS = _operations(
    # the ambient bilinear form and its norm: every component as given, no curvature
    Operation(
        "inner", ref.inner, ("x", "y"), "ambient", reduces=True, group="Metric", curved=False
    ),
    Operation("norm", ref.norm, ("u",), "ambient", reduces=True, group="Metric", curved=False),
    Operation("dist", ref.dist, ("x", "y"), "pair", "dist", reduces=True, group="Metric"),
    Operation("dist0", ref.dist0, ("x",), "point", "dist0", reduces=True, group="Metric"),
    Operation(
        "pairwise_dist",
        allpairs.pairwise_dist,
        ("x", "y"),
        "rows",
        "dist",
        group="Metric",
        rows=("x", "y"),
        cast=False,
        validate=allpairs.scalar_only("pairwise_dist"),
        kernels_take=allpairs.two_d,
        before=allpairs.check_output,
    ),
    Operation("sqdist", ref.sqdist, ("x", "y"), "pair", "sqdist", reduces=True, group="Metric"),
    Operation(
        "pairwise_sqdist",
        pairs.sqdist_rows,
        ("x", "y"),
        "rows",
        "sqdist",
        group="Metric",
        rows=("x", "y"),
        cast=False,
        validate=allpairs.scalar_only("pairwise_sqdist"),
        kernels_take=allpairs.two_d,
        before=pairs.fits("pairwise_sqdist"),
    ),
    Operation(
        "knn",
        allpairs.knn,
        ("queries", "keys"),
        "rows",
        "dist",
        reduces=True,
        group="Metric",
        rows=("queries", "keys"),
        cast=False,
        validate=allpairs.knn_args,
        extra=("k",),
    ),
    Operation("project", ref.project, ("x",), "point", group="Projections"),
    Operation("project_tangent", ref.project_tangent, ("x", "u"), "tangent", group="Projections"),
    Operation("expmap0", ref.expmap0, ("u",), "tangent0", "expmap0"),
    Operation("logmap0", ref.logmap0, ("y",), "point", "logmap0"),
    Operation("expmap", ref.expmap, ("x", "u"), "tangent", "expmap"),
    Operation("logmap", ref.logmap, ("x", "y"), "pair", "logmap"),
    Operation("transport", ref.transport, ("x", "y", "v"), "transport", "transport"),
    Operation(
        "half_aperture",
        ref.half_aperture,
        ("x",),
        "point",
        "half_aperture",
        angle=True,
        reduces=True,
        group="Entailment cones (MERU)",
        extra=("min_radius",),
    ),
    Operation(
        "exterior_angle",
        ref.exterior_angle,
        ("x", "y"),
        "distinct",
        "exterior_angle",
        angle=True,
        reduces=True,
        group="Entailment cones (MERU)",
    ),
    Operation(
        "pairwise_exterior_angle",
        pairs.exterior_angle_rows,
        ("x", "y"),
        "rows",
        "exterior_angle",
        angle=True,
        group="Entailment cones (MERU)",
        rows=("x", "y"),
        cast=False,
        validate=allpairs.scalar_only("pairwise_exterior_angle"),
        kernels_take=allpairs.two_d,
        before=pairs.fits("pairwise_exterior_angle"),
    ),
    Operation(
        "from_space",
        ref.from_space,
        ("xs",),
        "space",
        group="Models and coordinates",
        min_dim=1,
    ),
    Operation(
        "to_poincare",
        ref.to_poincare,
        ("x",),
        "point",
        "to_poincare",
        group="Models and coordinates",
    ),
    Operation(
        "from_poincare",
        ref.from_poincare,
        ("p",),
        "ball",
        "from_poincare",
        group="Models and coordinates",
        min_dim=1,
        validate=inside_ball,
    ),
    Operation(
        "to_space",
        ref.to_space,
        ("x",),
        "ambient",
        group="Models and coordinates",
        cast=False,
        curved=False,
    ),
    # operations with more than arrays of points and vectors: each binds its own arguments
    Operation(
        "geodesic",
        geodesic.geodesic_ref,
        ("x", "y", "t"),
        "geodesic",
        group=GEODESICS,
        bind=geodesic.bind,
    ),
    Operation(
        "centroid",
        barycenters.centroid_point,
        ("x", "weights", "axis"),
        "set",
        group=GEODESICS,
        bind=barycenters.centroid_bind,
    ),
    Operation(
        "frechet_mean",
        barycenters.frechet_point,
        ("x", "weights", "axis", "tol", "max_iter"),
        "set",
        group=GEODESICS,
        bind=barycenters.frechet_mean_bind,
    ),
    Operation(
        "frechet_variance",
        barycenters.frechet_var,
        ("x", "weights", "axis", "tol", "max_iter"),
        "set",
        group=GEODESICS,
        bind=barycenters.frechet_variance_bind,
    ),
    Operation(
        "busemann",
        horospheres.busemann_ref,
        ("x", "direction"),
        "ideal",
        reduces=True,
        group=GEODESICS,
        bind=horospheres.bind,
    ),
    Operation(
        "hyperplane_dist",
        hyperplanes.hyperplane_dist_ref,
        ("x", "normal"),
        "hyperplane",
        reduces=True,
        group=GEODESICS,
        bind=hyperplanes.bind,
    ),
    Operation(
        "mlr_logits",
        hyperplanes.mlr_logits_ref,
        ("x", "a", "z"),
        "classes",
        group=GEODESICS,
        bind=hyperplanes.mlr_bind,
    ),
    Operation(
        "wrapped_normal_sample",
        wrapped_normal.sample_ref,
        ("mean", "scale", "noise"),
        "wrapped normal",
        group=GEODESICS,
        bind=wrapped_normal.sample_bind,
    ),
    Operation(
        "wrapped_normal_log_prob",
        wrapped_normal.log_prob_ref,
        ("z", "mean", "scale"),
        "wrapped normal",
        group=GEODESICS,
        bind=wrapped_normal.log_prob_bind,
    ),
    # MERU's contrastive term: the log-sum-exp over all pairs of -scale d, streamed over tiles
    # (lorentz.meru's losses pick their implementation here)
    Operation(
        "neg_dist_lse",
        allpairs.neg_dist_lse,
        ("xs", "ys"),
        "rows",
        group="",
        min_dim=1,
        cast=False,
        extra=("scale",),
        public=False,
    ),
)

# the operations no implementation package has kernels for: the reference, without a choice
REFERENCE_ONLY = frozenset(
    name for name in OPERATIONS if not any(has_kernel(impl, name) for impl in IMPLEMENTATIONS)
)
