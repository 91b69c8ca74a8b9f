"""Penalties and the basis in which the REML core works.

Two changes of coefficient basis make the penalized problem well conditioned whatever
the smoothing parameters (Wood 2011, JRSS-B 73(1), Sec. 3.1 and Appendix B; mgcv
``Sl.setup``/``gam.reparam``):

1. **Centring.** With an intercept, every other column is shifted by a fixed vector
   m (the column means of the first row block): X_c = X - 1 m'. Then X b = X_c b_c with
   b = M b_c, M = I - e_0 m'. Only the intercept coefficient changes, and it is never
   penalized, so b'S b = b_c'S b_c. A covariate with mean 1e8 no longer makes the
   columns of X nearly collinear with the intercept.
2. **Diagonal penalties.** Each penalty S_j acts on its own block of coefficients; with
   its eigen-decomposition S_j = U_j diag(d_j) U_j' (eigenvalues below its rank set to 0)
   the basis b_c = T b_r, T = blockdiag(U_j), makes S_lambda = diag(lambda_owner(i) d_i).
   Then log|S_lambda|_+ = sum_j rank_j rho_j + sum log d exactly, and the directions a
   penalty cannot reach (its null space) are columns of their own, which column scaling
   (stable.py) keeps separate from the heavily penalized ones.

**Overlapping penalties** (several S_j on the same coefficients, as the marginal
penalties of a tensor product smooth, mgcv ``te()``/``ti()``) cannot all be made
diagonal by one fixed basis. Penalties whose column sets overlap form a *group*
(connected components of the overlap relation); each group is handled in two steps.

a. **Fixed (rho-free) split** of the group's columns into the range and the null space
   of its total penalty, from the eigen-decomposition of sum_j S_j / ||S_j||_F with
   eigenvalues below eps^0.66 of the largest counted as zero (mgcv
   ``totalPenaltySpace``). The null-space columns are unpenalized columns like any
   other; on the range (dimension r_g) every positive combination sum_j lambda_j S_j is
   positive definite, so log|S_lambda|_+ of the group is an ordinary log-determinant.
   Each S_j is kept as a root B_j (rank_j x r_g, B_j'B_j = S_j on the range).
b. **Rho-dependent similarity transform** of the range (Wood 2011, App. B; mgcv C
   ``get_stableS`` behind ``gam.reparam``): with Omega_j = lambda_j ||S_j||_F on the part
   of the space not yet dealt with, the *dominant* penalties alpha = {j: Omega_j >
   eps^0.3 max Omega} are separated from the rest: the eigenvectors U of
   sum_{alpha} lambda_j S_j split the remaining space into its range (rank r from the
   lambda-free sum_{alpha} S_j / ||S_j||_F, relative tolerance eps^0.75) and its null
   space. The range columns are final; the dominant roots are set to *exactly* zero on
   the other columns, and the procedure repeats on the null space with the remaining
   penalties, until the dominant sum has full rank. In the resulting orthogonal basis
   Q(rho), S~ = Q'S_lambda Q = sum_j lambda_j B~_j'B~_j (B~_j = B_j Q with those exact
   zeros) is block "triangular by magnitude": a block of columns carries the penalties
   that dominate it, and its coupling to later blocks comes only from penalties smaller
   by the factor eps^0.3. A penalty 1e20 times larger than another no longer swamps it
   in round-off, so the Cholesky factor of the equilibrated S~, D S~ D = K'K
   (D = diag(S~)^{-1/2}), is accurate, and

       log|S_lambda|_+ = 2 sum log K_ii - 2 sum log D_ii,
       d/drho_j  = tr(S~^{-1} lambda_j S~_j) = ||W_j||_F^2,
       d2/drho_j drho_k = delta_jk ||W_j||_F^2 - ||W_j'W_k||_F^2,
       W_j = lambda_j^{1/2} K^{-T} D B~_j'     (sum_j W_j W_j' = I),

   sums of squares without cancellation (as mgcv ``ldetSblock``, in the stable basis).

The working basis of a factor is therefore T(rho) = T with each group's range columns
rotated by Q_g(rho) (``Reparametrization.basis``). Non-overlapping penalties keep the
exact diagonal path above; a model without overlaps gets exactly the old T.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
from scipy.linalg import LinAlgError, cholesky, solve_triangular

GROUP = -2  # ``owner`` of a column in the range space of an overlapping penalty group
NULL_TOL = np.finfo(float).eps ** 0.66  # mgcv totalPenaltySpace rank tolerance
DOMINANCE_TOL = np.finfo(float).eps ** 0.3  # mgcv gam.reparam d.tol
RANK_TOL = np.finfo(float).eps ** 0.75  # mgcv gam.reparam r.tol


@dataclass
class PenaltyBlock:
    """One smoothing parameter: S_j (rank ``rank``) acting on coefficients ``cols``."""

    cols: slice
    S: np.ndarray
    rank: int

    @property
    def log_pdet(self) -> float:
        vals = np.linalg.eigvalsh(self.S)[::-1][: self.rank]
        return float(np.log(vals).sum())


def total_penalty(blocks: list[PenaltyBlock], rho: np.ndarray, p: int) -> np.ndarray:
    """S_lambda = sum_j exp(rho_j) S_j in the original coefficient basis."""
    S = np.zeros((p, p))
    for blk, r in zip(blocks, rho, strict=True):
        S[blk.cols, blk.cols] += np.exp(r) * blk.S
    return S


# ------------------------------------------------------------ overlapping penalties
@dataclass
class GroupState:
    """A penalty group at one rho, in its stable basis (module docstring, step b).

    ``Q``: orthogonal r x r, S~ = Q'S_lambda Q; ``roots[j]``: B~_j = B_j Q (exact zeros
    beyond the block its penalty dominates); ``S``: S~; ``K``, ``d``: S~ = D^{-1}K'K D^{-1},
    d = diag(D^{-1}) = sqrt(diag S~); ``W[j]``: lambda_j^{1/2} K^{-T} D B~_j';
    ``logdet``, ``d1``, ``d2``: log|S~| and its derivatives in the group's rho.
    """

    lam: np.ndarray
    Q: np.ndarray
    roots: list[np.ndarray]
    S: np.ndarray
    K: np.ndarray
    d: np.ndarray
    W: list[np.ndarray]
    logdet: float
    d1: np.ndarray
    d2: np.ndarray

    def quadratics(self, beta_g: np.ndarray) -> np.ndarray:
        """lambda_j ||B~_j b||^2 = b'lambda_j S~_j b for each penalty of the group."""
        return np.array([lam * float(np.sum((B @ beta_g) ** 2))
                         for lam, B in zip(self.lam, self.roots, strict=True)])

    def projections(self) -> list[np.ndarray]:
        """M_j = (D S~ D)^{-1} D lambda_j S~_j D = K^{-1} W_j W_j' K: S~^{-1} lambda_j S~_j
        seen through the equilibration D (sum_j M_j = I)."""
        return [solve_triangular(self.K, W) @ (W.T @ self.K) for W in self.W]


def stable_transform(roots: list[np.ndarray], lam: np.ndarray):
    """Wood (2011) App. B similarity transform of sum_j lam_j B_j'B_j (B_j: rank_j x r).

    Returns (Q, transformed roots B_j Q with exact zeros). Follows mgcv ``get_stableS``
    but carries the roots instead of the S_j (S_j on the active block = B'B of the
    root's active columns).
    """
    r = roots[0].shape[1]
    B = [np.array(b, dtype=float, copy=True) for b in roots]
    Q = np.eye(r)
    k0 = 0
    todo = np.ones(len(B), dtype=bool)
    while True:
        q = r - k0
        act = [b[:, k0:] for b in B]
        S_act = [a.T @ a for a in act]
        frob = np.array([np.linalg.norm(S) if t else 0.0
                         for S, t in zip(S_act, todo, strict=True)])
        weight = frob * lam
        top = weight[todo].max(initial=0.0)
        if top <= 0.0:
            break
        alpha = todo & (weight > top * DOMINANCE_TOL)
        rest = todo & ~alpha
        if rest.any():
            Sb = sum(S_act[j] / frob[j] for j in np.flatnonzero(alpha))
            ev = np.linalg.eigvalsh(Sb)
            rank = max(1, int(np.sum(ev > ev[-1] * RANK_TOL)))
        else:
            rank = q
        if rank == q:
            break
        Sa = sum(lam[j] * S_act[j] for j in np.flatnonzero(alpha))
        ev, U = np.linalg.eigh(0.5 * (Sa + Sa.T))
        U = U[:, ::-1]
        Q[:, k0:] = Q[:, k0:] @ U
        for j in np.flatnonzero(todo):
            B[j][:, k0:] = act[j] @ U
            if alpha[j]:
                B[j][:, k0 + rank:] = 0.0  # exactly outside the dominant range
        k0 += rank
        todo = rest
    return Q, B


@dataclass
class PenaltyGroup:
    """Smoothing parameters ``sps`` whose penalties share coefficients.

    ``cols``: working-basis columns of the range of their total penalty; ``roots[j]``
    (rank_j x r): B_j with B_j'B_j = S_j in that range basis (rho-free).
    """

    sps: np.ndarray
    cols: np.ndarray
    roots: list[np.ndarray]

    def at(self, lam: np.ndarray) -> GroupState:
        """The stable basis, log|S_lambda|_+ and its derivatives at lambda = ``lam``."""
        lam = np.asarray(lam, dtype=float)
        Q, roots = stable_transform(self.roots, lam)
        S = sum(l_j * (B.T @ B) for l_j, B in zip(lam, roots, strict=True))
        S = 0.5 * (S + S.T)
        d = np.sqrt(np.diag(S))
        if np.any(~(d > 0)):
            raise LinAlgError("overlapping penalties: total penalty is singular on its range")
        K = cholesky(S / d[:, None] / d[None, :], lower=False)
        W = [np.sqrt(l_j) * solve_triangular(K, (B / d[None, :]).T, trans="T")
             for l_j, B in zip(lam, roots, strict=True)]
        d1 = np.array([float(np.sum(w * w)) for w in W])
        G = np.array([[float(np.sum((wj.T @ wk) ** 2)) for wk in W] for wj in W])
        d2 = np.diag(d1) - G
        logdet = float(2.0 * np.log(np.diag(K)).sum() + 2.0 * np.log(d).sum())
        return GroupState(lam, Q, roots, S, K, d, W, logdet, d1, d2)


def _overlap_groups(blocks: list[PenaltyBlock], p: int) -> list[list[int]]:
    """Connected components of 'shares a column' among the blocks (singletons too)."""
    parent = list(range(len(blocks)))

    def find(i):
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    first = np.full(p, -1)
    for j, blk in enumerate(blocks):
        for i in np.arange(p)[blk.cols]:
            if first[i] < 0:
                first[i] = j
            else:
                parent[find(j)] = find(int(first[i]))
    comps: dict[int, list[int]] = {}
    for j in range(len(blocks)):
        comps.setdefault(find(j), []).append(j)
    return list(comps.values())


@dataclass
class Reparametrization:
    """b_c = T b_r with T'S_j T = diag(d) on block j; ``owner[i]`` is the smoothing
    parameter penalizing column i of the new basis (-1: unpenalized; ``GROUP``: the
    range of an overlapping group, whose penalty is dense, see ``groups``)."""

    T: np.ndarray
    d: np.ndarray
    owner: np.ndarray
    rank: np.ndarray
    log_pdet: np.ndarray
    groups: list[PenaltyGroup] = field(default_factory=list)
    _last: tuple | None = field(default=None, init=False, repr=False, compare=False)

    @classmethod
    def from_blocks(cls, blocks: list[PenaltyBlock], p: int) -> Reparametrization:
        T = np.eye(p)
        d = np.zeros(p)
        owner = np.full(p, -1)
        log_pdet = np.zeros(len(blocks))
        comps = _overlap_groups(blocks, p)
        in_group = {j for comp in comps if len(comp) > 1 for j in comp}
        for j, blk in enumerate(blocks):
            if j in in_group:
                continue
            idx = np.arange(p)[blk.cols]
            vals, vecs = np.linalg.eigh(0.5 * (blk.S + blk.S.T))
            order = np.argsort(vals)[::-1]
            vals, vecs = vals[order], vecs[:, order]
            r = blk.rank
            T[np.ix_(idx, idx)] = vecs
            d[idx[:r]] = vals[:r]
            owner[idx[:r]] = j
            log_pdet[j] = np.log(vals[:r]).sum()
        groups = [cls._group(blocks, comp, p, T, owner) for comp in comps if len(comp) > 1]
        rank = np.array([b.rank for b in blocks], dtype=float)
        return cls(T, d, owner, rank, log_pdet, groups)

    @staticmethod
    def _group(blocks, comp, p, T, owner) -> PenaltyGroup:
        """Fixed split of a group's columns into range and null space (step a)."""
        idx = np.unique(np.concatenate([np.arange(p)[blocks[j].cols] for j in comp]))
        pos = {int(i): k for k, i in enumerate(idx)}
        full = []
        for j in comp:
            Sj = np.zeros((idx.size, idx.size))
            sub = [pos[int(i)] for i in np.arange(p)[blocks[j].cols]]
            Sj[np.ix_(sub, sub)] = 0.5 * (blocks[j].S + blocks[j].S.T)
            full.append(Sj)
        St = sum(S / np.linalg.norm(S) for S in full)
        vals, vecs = np.linalg.eigh(St)
        order = np.argsort(vals)[::-1]
        vals, vecs = vals[order], vecs[:, order]
        r = int(np.sum(vals > vals[0] * NULL_TOL))
        T[np.ix_(idx, idx)] = vecs
        owner[idx[:r]] = GROUP
        roots = []
        for j, Sj in zip(comp, full, strict=True):
            ev, V = np.linalg.eigh(Sj)
            keep = np.argsort(ev)[::-1][: blocks[j].rank]
            root = np.sqrt(np.clip(ev[keep], 0.0, None))[:, None] * V[:, keep].T
            roots.append(root @ vecs[:, :r])
        return PenaltyGroup(np.array(comp), idx[:r], roots)

    @property
    def penalized(self) -> np.ndarray:
        return self.owner != -1

    @property
    def diagonal(self) -> np.ndarray:
        """Columns penalized by exactly one smoothing parameter (diagonal path)."""
        return self.owner >= 0

    @property
    def null_dim(self) -> int:
        """M_p: columns no penalty reaches (p - rank of the total penalty)."""
        return int(np.sum(self.owner == -1))

    def lam_d(self, rho: np.ndarray) -> np.ndarray:
        """Diagonal of S_lambda in the new basis, on the diagonal-path columns (0 on an
        overlapping group's columns, whose penalty is ``GroupState.S``)."""
        out = np.zeros_like(self.d)
        pen = self.diagonal
        out[pen] = np.exp(np.asarray(rho, dtype=float)[self.owner[pen]]) * self.d[pen]
        return out

    def basis(self, rho: np.ndarray) -> tuple[np.ndarray, list[GroupState]]:
        """T(rho) and the groups' states: T with each group's range columns rotated by
        its Q_g(rho) (exactly ``T`` when no penalties overlap). The last call is cached."""
        if not self.groups:
            return self.T, []
        rho = np.asarray(rho, dtype=float)
        key = rho.tobytes()
        if self._last is not None and self._last[0] == key:
            return self._last[1]
        states = [g.at(np.exp(rho[g.sps])) for g in self.groups]
        T = self.T.copy()
        for g, st in zip(self.groups, states, strict=True):
            T[:, g.cols] = self.T[:, g.cols] @ st.Q
        self._last = (key, (T, states))
        return T, states

    def log_pdet_S(self, rho: np.ndarray) -> float:
        """log|S_lambda|_+ (exact on the diagonal path: no eigenvalues of a sum are taken;
        overlapping groups through their stable basis)."""
        if not self.groups:
            return float(self.rank @ rho + self.log_pdet.sum())
        return self.log_pdet_S_derivatives(rho)[0]

    def log_pdet_S_derivatives(self, rho: np.ndarray):
        """log|S_lambda|_+, its gradient and Hessian in rho."""
        rho = np.asarray(rho, dtype=float)
        k = len(self.rank)
        diag = np.ones(k, dtype=bool)
        grad, hess = np.zeros(k), np.zeros((k, k))
        _, states = self.basis(rho)
        value = 0.0
        for g, st in zip(self.groups, states, strict=True):
            diag[g.sps] = False
            value += st.logdet
            grad[g.sps] = st.d1
            hess[np.ix_(g.sps, g.sps)] = st.d2
        value += float(self.rank[diag] @ rho[diag] + self.log_pdet[diag].sum())
        grad[diag] = self.rank[diag]
        return value, grad, hess

    def penalty(self, beta: np.ndarray, rho: np.ndarray) -> float:
        """b'S_lambda b for b in the basis *before* T (a sum of squares, rho-free basis)."""
        br = self.T.T @ beta
        value = float(np.sum(self.lam_d(rho) * br**2))
        for g in self.groups:
            lam = np.exp(np.asarray(rho, dtype=float)[g.sps])
            value += sum(l_j * float(np.sum((B @ br[g.cols]) ** 2))
                         for l_j, B in zip(lam, g.roots, strict=True))
        return value

    def block_sums(self, v: np.ndarray) -> np.ndarray:
        """sum of v over the diagonal-path columns of each smoothing parameter (0 for
        the parameters of overlapping groups)."""
        k = len(self.rank)
        pen = self.diagonal
        # (float even when no column is on the diagonal path: bincount of nothing is int)
        return np.bincount(self.owner[pen], weights=v[pen], minlength=k).astype(float,
                                                                                 copy=False)

    def indicator(self) -> np.ndarray:
        """p x k matrix: column j flags the diagonal-path columns of parameter j."""
        ind = np.zeros((len(self.d), len(self.rank)))
        pen = self.diagonal
        ind[np.flatnonzero(pen), self.owner[pen]] = 1.0
        return ind


def centring_shift(X_first: np.ndarray, intercept: bool) -> np.ndarray:
    """m: column means of a first row block, 0 for the intercept (and all, without one)."""
    m = np.zeros(X_first.shape[1])
    if intercept and X_first.shape[0] > 0:
        m = X_first.mean(axis=0)
        m[0] = 0.0
    return m


def centring_matrix(m: np.ndarray, inverse: bool = False) -> np.ndarray:
    """M = I - e_0 m' (b = M b_c), or M^{-1} = I + e_0 m' (X = X_c M^{-1})."""
    M = np.eye(len(m))
    M[0] += m if inverse else -m
    return M


def basis_map(m: np.ndarray, rp) -> tuple[np.ndarray, np.ndarray]:
    """B with b = B b_r (original from working basis) and its inverse.

    B = M T, M = I - e_0 m'; B^{-1} = T' (I + e_0 m'). ``rp``: anything with the
    working basis ``T`` (a ``Reparametrization`` without overlapping penalties, or a
    ``stable.PenalizedFactor``, whose T depends on rho).
    """
    return centring_matrix(m) @ rp.T, rp.T.T @ centring_matrix(m, inverse=True)
