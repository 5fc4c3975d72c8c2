"""Testing tools for code built on ``lorentz`` (extra ``test``: hypothesis, mpmath).

- Strategies that build valid inputs by construction: :func:`curvatures`, :func:`points`,
  :func:`near_points`, :func:`point_pairs`, :func:`tangent_vectors`.
- :func:`assert_close`, which also checks namespace, dtype, shape and device.
- :mod:`lorentz.testing.mpref`, the mpmath reference of every operation, with
  ``error`` and ``movement`` (the answer's own sensitivity to one rounding of the inputs).
- The accuracy contract: :data:`BOUND` (the largest error allowed, by dtype), :data:`MAX_NORM`
  (the space norms it is hunted to) and :func:`check_accuracy`, which asserts it for one answer
  against an mpmath function (the bound widens to 4x the answer's own movement under one
  rounding of the inputs where the problem is that ill-conditioned).
- :func:`lift`: points of the hyperboloid from their space parts, rounded once to a dtype.

Example
-------
>>> from hypothesis import given
>>> import lorentz
>>> from lorentz.testing import points
>>> @given(points(3, max_norm=10.0))
... def test_dist_to_self(x):
...     assert lorentz.dist(x, x) == 0
>>> test_dist_to_self()
"""

from ._assert import assert_close, to_numpy
from ._contract import BOUND, MAX_NORM
from ._contract import check as check_accuracy
from ._points import lift

_STRATEGIES = (
    "curvatures",
    "directions",
    "near_points",
    "point_pairs",
    "points",
    "tangent_vectors",
)

__all__ = [
    "BOUND",
    "MAX_NORM",
    "assert_close",
    "check_accuracy",
    "curvatures",
    "directions",
    "lift",
    "near_points",
    "point_pairs",
    "points",
    "tangent_vectors",
    "to_numpy",
]


def __getattr__(name):
    # the strategies need hypothesis (extra ``test``); the mpmath reference and assert_close do
    # not, so ``python -m lorentz check`` runs with the ``check`` extra alone
    if name in _STRATEGIES:
        from . import _strategies

        return getattr(_strategies, name)
    raise AttributeError(name)
