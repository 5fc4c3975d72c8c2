"""The Lorentz boost along a point, written so that it does not cancel."""

from __future__ import annotations

from ._guarded import dot, hyp1, norm0


def boost(X, B, sign, *, xp):
    """Space part of the Lorentz boost along B applied to X, on the unit hyperboloid (space
    parts, coordinates times sqrt(c)): sign = +1 takes the origin to B, sign = -1 takes B to
    the origin. Its differential at the start point is parallel transport along the geodesic,
    so exp_mu(PT_{o -> mu} v) = boost(exp_o(v), mu, +1) and PT_{mu -> o}(log_mu z) =
    log_o(boost(z, mu, -1)).

    The part of X across B_hat is kept; along B_hat, with rho = sqrt(1 + |X_perp|^2),
    x = X_par / rho = sinh(a), y = |B| = sinh(g), it becomes rho sinh(a + sign g) =
    rho (x sqrt(1 + y^2) + sign y sqrt(1 + x^2)). Where the two terms differ in sign that is
    (|x| - y)(|x| + y) / (|P| + |Q|), and rho (|x| - y) = -sign E.B_hat - y |X_perp|^2 /
    (rho + 1) with E = X + sign B, the short vector there; X_perp is formed from E too. The
    plain boost X + sign B (X0 + sign B.X / (B0 + 1)) is a difference of two vectors of size
    B0 |X| there (eps B0 relative: 1e-12 at |mu_s| = 1e4); it is kept for rows with B = 0,
    where B_hat has no gradient and the plain form is exact.

    No square of a length is formed (norms, and sqrt(1 + t^2), without overflow; |P|^2 /
    (rho + 1) as |P| (|P| / (rho + 1))): finite while products of two lengths are, to
    sqrt(c)|xs| ~ 1e154 in float64, where the boosted coordinates themselves reach t^2."""
    nb = norm0(B, xp=xp)  # zero subgradient at B = 0 (that row takes the plain form)
    zero = nb == 0
    bh = B / xp.where(zero, 1.0, nb)
    x_par = dot(X, bh, xp=xp)
    differ = sign * x_par < 0  # the two terms of rho sinh(a + sign g) differ in sign
    E = X + sign * B
    e_par = dot(E, bh, xp=xp)
    # the part across B_hat from the shorter of X and E: error eps min(|X|, |E|)
    perp = xp.where(differ, E - e_par * bh, X - x_par * bh)
    rperp = norm0(perp, xp=xp)
    rho = hyp1(rperp, xp=xp)
    x = x_par / rho
    b0 = hyp1(nb, xp=xp)
    p = x * b0
    q = sign * nb * hyp1(x, xp=xp)
    gap = (-sign * e_par - nb * rperp * (rperp / (rho + 1.0))) / rho  # |x| - y where they differ
    den = xp.abs(p) + xp.abs(q)
    cancel = (-sign) * gap * (xp.abs(x) + nb) / xp.where(den == 0, 1.0, den)
    s = xp.where(differ, cancel, p + q)
    exact = perp + (rho * s) * bh
    x0 = hyp1(norm0(X, xp=xp), xp=xp)
    plain = X + sign * B * (x0 + sign * dot(B, X, xp=xp) / (b0 + 1.0))
    return xp.where(zero, plain, exact)
