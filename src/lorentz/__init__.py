"""lorentz: hyperbolic geometry in the Lorentz (hyperboloid) model, for any array library.

Conventions: a point or tangent vector is an ambient array of shape (..., n+1), time
coordinate first; points lie on the upper sheet <x,x>_L = -1/c, with
<x,y>_L = -x0*y0 + sum_i xi*yi; the curvature is -c, c > 0, passed as the keyword ``c``.
Leading dimensions broadcast; inputs are never modified; outputs keep the library, dtype and
device of the inputs.
"""

# the registry first: it imports the modules whose public functions call it
from . import _registry  # noqa: F401
from ._barycenters import centroid, frechet_mean, frechet_variance
from ._cones import exterior_angle, half_aperture
from ._geodesic import geodesic
from ._horospheres import busemann
from ._hyperplanes import hyperplane_dist, mlr_logits
from ._maps import expmap, expmap0, logmap, logmap0, project, project_tangent, transport
from ._metric import dist, dist0, inner, norm, pairwise_dist
from ._models import from_poincare, from_space, to_poincare, to_space
from ._pairwise import pairwise_exterior_angle, pairwise_sqdist, sqdist
from ._search import knn
from ._validation import check_point, check_tangent
from ._wrapped_normal import wrapped_normal_log_prob, wrapped_normal_sample

__version__ = "0.1.0"

__all__ = [
    "busemann",
    "centroid",
    "check_point",
    "check_tangent",
    "dist",
    "dist0",
    "expmap",
    "expmap0",
    "exterior_angle",
    "frechet_mean",
    "frechet_variance",
    "from_poincare",
    "from_space",
    "geodesic",
    "half_aperture",
    "hyperplane_dist",
    "inner",
    "knn",
    "logmap",
    "logmap0",
    "mlr_logits",
    "norm",
    "pairwise_dist",
    "pairwise_exterior_angle",
    "pairwise_sqdist",
    "project",
    "project_tangent",
    "sqdist",
    "to_poincare",
    "to_space",
    "transport",
    "wrapped_normal_log_prob",
    "wrapped_normal_sample",
]
