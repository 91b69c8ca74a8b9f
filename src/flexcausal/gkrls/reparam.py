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
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


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


@dataclass
class Reparametrization:
    """b_c = T b_r with T'S_j T = diag(d) on block j; ``owner[i]`` is the smoothing
    parameter penalizing column i of the new basis (-1: unpenalized)."""

    T: np.ndarray
    d: np.ndarray
    owner: np.ndarray
    rank: np.ndarray
    log_pdet: np.ndarray

    @classmethod
    def from_blocks(cls, blocks: list[PenaltyBlock], p: int) -> Reparametrization:
        T = np.eye(p)
        d = np.zeros(p)
        owner = np.full(p, -1)
        used = np.zeros(p, dtype=bool)
        log_pdet = np.zeros(len(blocks))
        for j, blk in enumerate(blocks):
            idx = np.arange(p)[blk.cols]
            if used[idx].any():
                raise NotImplementedError("overlapping penalties are not supported")
            used[idx] = True
            vals, vecs = np.linalg.eigh(0.5 * (blk.S + blk.S.T))
            order = np.argsort(vals)[::-1]
            vals, vecs = vals[order], vecs[:, order]
            r = blk.rank
            T[np.ix_(idx, idx)] = vecs
            d[idx[:r]] = vals[:r]
            owner[idx[:r]] = j
            log_pdet[j] = np.log(vals[:r]).sum()
        rank = np.array([b.rank for b in blocks], dtype=float)
        return cls(T, d, owner, rank, log_pdet)

    @property
    def penalized(self) -> np.ndarray:
        return self.owner >= 0

    def lam_d(self, rho: np.ndarray) -> np.ndarray:
        """Diagonal of S_lambda in the new basis."""
        out = np.zeros_like(self.d)
        pen = self.penalized
        out[pen] = np.exp(np.asarray(rho, dtype=float)[self.owner[pen]]) * self.d[pen]
        return out

    def log_pdet_S(self, rho: np.ndarray) -> float:
        """log|S_lambda|_+ (exact: no eigenvalues of a sum are taken)."""
        return float(self.rank @ rho + self.log_pdet.sum())

    def block_sums(self, v: np.ndarray) -> np.ndarray:
        """sum of v over the penalized columns of each smoothing parameter."""
        k = len(self.rank)
        pen = self.penalized
        return np.bincount(self.owner[pen], weights=v[pen], minlength=k)

    def indicator(self) -> np.ndarray:
        """p x k matrix: column j flags the columns penalized by parameter j."""
        ind = np.zeros((len(self.d), len(self.rank)))
        pen = self.penalized
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


def basis_map(m: np.ndarray, rp: Reparametrization) -> tuple[np.ndarray, np.ndarray]:
    """B with b = B b_r (original from working basis) and its inverse.

    B = M T, M = I - e_0 m'; B^{-1} = T' (I + e_0 m').
    """
    return centring_matrix(m) @ rp.T, rp.T.T @ centring_matrix(m, inverse=True)
