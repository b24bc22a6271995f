r"""Compiled kernels of the radial finite-volume scheme (see :mod:`solvers.radial_fv`).

Array conventions: ``p`` (M,) cell averages ρ̄_c on the uniform grid r_c = (c + ½)h; faces
f = 0..M−2 sit between cells f and f+1 (the walls r = 0 and r = R carry no flux and are not
stored); ``F`` (M, K) the Mehler factors F_k(r_c) (C order: k fastest), ``w`` (K,) their
weights, ``v`` (M,) the potential v(r_c), ``quad`` (M,) λ r_c²/2.  Work arrays are passed
in; nothing is allocated inside the time loop.

Symbols (math spec §1.6, time τ = ∫ξ so that ξ ≡ 1 here):

* ψ_λ,c = v_c + λr_c²/2 + ∑_k w_k F_ck m_k,  m_k = h ∑_c F_ck ρ̄_c   (O(M K)),
* transport (β = ∞): face velocity a_f = −2 (ψ_λ,f+1 − ψ_λ,f)/h, flux a_f⁺ ρ^L_f + a_f⁻ ρ^R_f
  with limited linear reconstruction ρ^L_f = ρ_f + s_f/2, ρ^R_f = ρ_{f+1} − s_{f+1}/2,
* Scharfetter–Gummel (β < ∞): Φ_c = β ψ_λ,c − (d−1) log r_c, v_f = Φ_{f+1} − Φ_f,
  flux (D/h)[B(v_f) ρ_f − B(−v_f) ρ_{f+1}], D = 2/β, B(v) = v/(eᵛ − 1).

``mode`` 0 = transport, 1 = Scharfetter–Gummel; ``limiter`` 0 = none (first-order upwind),
1 = minmod, 2 = van Leer, 3 = monotonised central (MC).
"""
import math

from ._fv_kernels import bernoulli
from ._jit import njit

#: limiter name -> code
LIMITER_CODES = {"none": 0, "minmod": 1, "van-leer": 2, "mc": 3}


@njit
def potential(p, h, v, quad, F, w, mom, psi):
    r"""ψ_λ at the centres: psi_c = v_c + quad_c + ∑_k F_ck w_k m_k, m_k = h ∑_c F_ck p_c.

    Cells with p_c = 0 are skipped in the moments (the support is often a small part of the
    grid).  ``mom`` (K,) receives w_k m_k.
    """
    m, k_terms = F.shape
    for k in range(k_terms):
        mom[k] = 0.0
    for c in range(m):
        pc = p[c] * h
        if pc != 0.0:
            for k in range(k_terms):
                mom[k] += F[c, k] * pc
    for k in range(k_terms):
        mom[k] *= w[k]
    for c in range(m):
        acc = v[c] + quad[c]
        for k in range(k_terms):
            acc += F[c, k] * mom[k]
        psi[c] = acc


@njit
def coefficients(psi, mode, limiter, h, D, beta, dm1, logr, vel, cp, cm):
    r"""Face coefficients from ψ_λ and the forward-Euler positivity rate (Δt · rate ≤ 1).

    mode 0: vel_f = −2(ψ_f+1 − ψ_f)/h; rate = 2 max|vel|/h with a limiter (face values lie in
    [0, 2ρ̄_c]), max_c (vel⁺_{c+½} + vel⁻_{c−½})/h without.
    mode 1: cp_f = (D/h) B(v_f), cm_f = (D/h) B(−v_f); rate = max_c (cp_c + cm_{c−1})/h.
    Returns the rate (non-finite if ψ is).
    """
    m = psi.size
    total = 0.0
    for c in range(m):
        total += psi[c]
    if not math.isfinite(total):
        return math.nan
    rate = 0.0
    if mode == 0:
        for f in range(m - 1):
            vel[f] = -2.0 * (psi[f + 1] - psi[f]) / h
        if limiter == 0:
            for c in range(m):
                out_rate = 0.0
                if c < m - 1 and vel[c] > 0.0:
                    out_rate += vel[c]
                if c > 0 and vel[c - 1] < 0.0:
                    out_rate -= vel[c - 1]
                rate = max(rate, out_rate / h)
        else:
            for f in range(m - 1):
                rate = max(rate, 2.0 * abs(vel[f]) / h)
        return rate
    scale = D / h
    for f in range(m - 1):
        phi_l = beta * psi[f] - dm1 * logr[f]
        phi_r = beta * psi[f + 1] - dm1 * logr[f + 1]
        vv = phi_r - phi_l
        ev = math.exp(vv)
        bp = bernoulli(vv, ev)
        if vv > 0.0:
            bm = bp + vv                   # B(−v) = B(v) + v, both terms ≥ 0
        else:
            bm = bp * ev                   # B(−v) = eᵛ B(v), no cancellation for v ≪ 0
        cp[f] = scale * bp
        cm[f] = scale * bm
    for c in range(m):
        out_rate = 0.0
        if c < m - 1:
            out_rate += cp[c]
        if c > 0:
            out_rate += cm[c - 1]
        rate = max(rate, out_rate / h)
    return rate


@njit(inline="always")
def _limited_slope(dl, dr, limiter):
    if dl * dr <= 0.0:
        return 0.0
    if limiter == 1:                       # minmod
        return dl if abs(dl) < abs(dr) else dr
    if limiter == 2:                       # van Leer (harmonic mean)
        return 2.0 * dl * dr / (dl + dr)
    centred = 0.5 * (dl + dr)              # MC: minmod(2 dl, (dl + dr)/2, 2 dr)
    lim = 2.0 * dl if abs(dl) < abs(dr) else 2.0 * dr
    return centred if abs(centred) < abs(lim) else lim


@njit
def apply_stage(p_old, p_in, out, a, b, dt, mode, limiter, h, vel, cp, cm, slope, flux):
    r"""out = a p_old + b (p_in + Δt L_h(p_in)), L_h from the face coefficients of p_in.

    L_h(ρ̄)_c = −(flux_{c+½} − flux_{c−½})/h with zero wall fluxes.  ``out`` may alias
    ``p_old`` (every flux is computed before any cell is written).
    """
    m = p_in.size
    if mode == 0:
        if limiter == 0:
            for c in range(m):
                slope[c] = 0.0
        else:
            slope[0] = 0.0
            slope[m - 1] = 0.0
            for c in range(1, m - 1):
                slope[c] = _limited_slope(p_in[c] - p_in[c - 1], p_in[c + 1] - p_in[c],
                                          limiter)
        for f in range(m - 1):
            u = vel[f]
            if u > 0.0:
                flux[f] = u * (p_in[f] + 0.5 * slope[f])
            else:
                flux[f] = u * (p_in[f + 1] - 0.5 * slope[f + 1])
    else:
        for f in range(m - 1):
            flux[f] = cp[f] * p_in[f] - cm[f] * p_in[f + 1]
    lam = dt / h
    for c in range(m):
        div = 0.0
        if c < m - 1:
            div += flux[c]
        if c > 0:
            div -= flux[c - 1]
        out[c] = a * p_old[c] + b * (p_in[c] - lam * div)


@njit
def advance(p, s1, s2, t, t_end, max_steps, stage_a, stage_b, cfl, shrink, dt_fixed, dt_max,
            mode, limiter, h, v, quad, F, w, D, beta, dm1, logr, mom, psi, vel, cp, cm, slope,
            flux):
    r"""March p from τ = t towards t_end with a Shu–Osher SSP Runge–Kutta scheme; land on t_end.

    Stage s: y_s = a_s p^n + b_s (y_{s−1} + Δt L_h(y_{s−1})), y_0 = p^n, p^{n+1} = y_S, with ψ
    recomputed from each stage (explicit coupling).  Δt = min(shrink · cfl / rate(p^n),
    dt_max); a later stage whose own rate violates Δt · rate ≤ 1 rejects the step (p^n kept,
    shrink *= 0.7); accepted steps let shrink recover by 1.1 up to 1.  ``dt_fixed > 0`` forces
    Δt (unchecked).  Returns (t, accepted steps, rejected steps, last Δt, status, shrink),
    status 0 = reached t_end or max_steps, 1 = non-finite ψ.
    """
    n_stages = stage_a.size
    steps = 0
    rejected = 0
    dt = 0.0
    while t < t_end and steps < max_steps:
        potential(p, h, v, quad, F, w, mom, psi)
        rate = coefficients(psi, mode, limiter, h, D, beta, dm1, logr, vel, cp, cm)
        if not math.isfinite(rate):
            return t, steps, rejected, dt, 1, shrink
        if dt_fixed > 0.0:
            dt = dt_fixed
        else:
            dt = min(shrink * cfl / rate, dt_max) if rate > 0.0 else dt_max
        remaining = t_end - t
        last = False
        if dt >= remaining:
            dt = remaining
            last = True
        elif 2.0 * dt > remaining:
            dt = 0.5 * remaining
        ok = True
        src = p
        for s in range(n_stages):
            if s > 0:
                potential(src, h, v, quad, F, w, mom, psi)
                rate = coefficients(psi, mode, limiter, h, D, beta, dm1, logr, vel, cp, cm)
                if not math.isfinite(rate):
                    return t, steps, rejected, dt, 1, shrink
                if dt * rate > 1.0 and dt_fixed <= 0.0:
                    ok = False
                    break
            if s == n_stages - 1 and n_stages > 1:
                dst = p
            elif s % 2 == 0:
                dst = s1
            else:
                dst = s2
            apply_stage(p, src, dst, stage_a[s], stage_b[s], dt, mode, limiter, h, vel, cp, cm,
                        slope, flux)
            src = dst
        if not ok:
            rejected += 1
            shrink *= 0.7
            continue
        if n_stages == 1:
            p[:] = s1
        shrink = min(1.0, shrink * 1.1)
        t = t_end if last else t + dt
        steps += 1
    return t, steps, rejected, dt, 0, shrink
