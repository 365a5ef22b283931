"""Two-way fixed effects and cluster-robust inference shared by the panel estimators.

One place for two things every regression design needs:

* :class:`TwoWayFE` projects columns on entity and period fixed effects (estimated on all
  rows or on a subset, as Gardner's two-stage DiD needs), through the small normal
  equations of the dummy design (size ``n_entities + n_periods − 1``), so no dense
  ``N × n_entities`` matrix is ever built;
* :func:`cluster_covariance` is the CR1 cluster-robust covariance with the
  small-sample convention of fixest / pyfixest and Stata's ``reghdfe``:

  ``V = G/(G − 1) · (N − 1)/(N − K) · (X'X)⁻¹ (Σ_g X_g'u_g u_g'X_g) (X'X)⁻¹``

  where ``K`` counts the slope coefficients plus the fixed effects *not nested* in the
  clusters (entity effects are nested in entity clusters and count as one, as pyfixest's
  ``ssc(k_fixef="nonnested")``), and inference uses Student's t with ``G − 1`` degrees of
  freedom (``G_df="min"``). The tests hold it equal to pyfixest's default ``CRV1``.

References
----------
.. [1] Cameron, A. C., & Miller, D. L. (2015). A practitioner's guide to cluster-robust
   inference. *Journal of Human Resources*, 50(2), 317–372. doi:10.3368/jhr.50.2.317
.. [2] Bergé, L. (2018). Efficient estimation of maximum likelihood models with multiple
   fixed-effects: the R package FENmlm. CREA Discussion Paper 2018-13 (the ``fixest``
   small-sample corrections).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from scipy import linalg, sparse, stats

__all__ = ["Inference", "TwoWayFE", "cluster_covariance", "linear_combination"]


class TwoWayFE:
    """Entity + period dummies, estimated on ``fit_rows`` (default all rows).

    Parameters
    ----------
    entity_codes, period_codes
        Integer codes ``0 … n−1`` per row [index].
    fit_rows
        Boolean mask of the rows the fixed effects are estimated on.
    """

    def __init__(
        self,
        entity_codes: np.ndarray,
        period_codes: np.ndarray,
        fit_rows: np.ndarray | None = None,
    ) -> None:
        self.entity_codes = np.asarray(entity_codes, dtype="int64")
        self.period_codes = np.asarray(period_codes, dtype="int64")
        n_rows = len(self.entity_codes)
        self.n_entities = int(self.entity_codes.max()) + 1
        self.n_periods = int(self.period_codes.max()) + 1
        self.fit_rows = np.ones(n_rows, dtype=bool) if fit_rows is None else fit_rows
        # columns: every entity, then periods 1 … T−1 (period 0 is the reference)
        self.design = self._dummies(self.entity_codes, self.period_codes)
        fitted = self.design[np.flatnonzero(self.fit_rows)]
        self._fitted = fitted
        # normal equations [[diag(n_e), B], [Bᵀ, diag(n_t)]]: eliminate the entity block
        # (diagonal) and factor the small Schur complement of the periods
        gram = (fitted.T @ fitted).tocsr()
        ne = self.n_entities
        self._n_e = np.asarray(gram.diagonal()[:ne], dtype="float64")
        if (self._n_e == 0).any():
            missing = np.flatnonzero(self._n_e == 0)
            raise ValueError(
                f"entities {missing.tolist()[:5]} have no row to estimate their fixed effect on"
            )
        self._B = gram[:ne, ne:].toarray()
        d_t = gram[ne:, ne:].toarray()
        schur = d_t - self._B.T @ (self._B / self._n_e[:, None])
        try:
            self._factor: tuple[np.ndarray, bool] | None = linalg.cho_factor(schur)
            self._pinv: np.ndarray | None = None
        except linalg.LinAlgError:  # disconnected panel (rare): least squares
            self._factor = None
            self._pinv = linalg.pinvh(schur)

    def solve(self, rhs: np.ndarray) -> np.ndarray:
        """Solve the fixed-effect normal equations ``(D'D) x = rhs`` for (p,) or (p, k)."""
        rhs = np.asarray(rhs, dtype="float64")
        vector = rhs.ndim == 1
        r = rhs[:, None] if vector else rhs
        ne = self.n_entities
        r_e, r_t = r[:ne], r[ne:]
        reduced = r_t - self._B.T @ (r_e / self._n_e[:, None])
        if self._factor is not None:
            x_t = linalg.cho_solve(self._factor, reduced)
        else:
            assert self._pinv is not None
            x_t = self._pinv @ reduced
        x_e = (r_e - self._B @ x_t) / self._n_e[:, None]
        x = np.vstack([x_e, x_t])
        return x[:, 0] if vector else x

    def _dummies(self, entity: np.ndarray, period: np.ndarray) -> sparse.csr_matrix:
        n = len(entity)
        rows = np.concatenate([np.arange(n), np.flatnonzero(period > 0)])
        cols = np.concatenate([entity, self.n_entities + period[period > 0] - 1])
        return sparse.csr_matrix(
            (np.ones(len(rows)), (rows, cols)),
            shape=(n, self.n_entities + self.n_periods - 1),
        )

    @property
    def n_parameters(self) -> int:
        """Number of fixed-effect parameters [count]."""
        return self.n_entities + self.n_periods - 1

    def coefficients(self, values: np.ndarray) -> np.ndarray:
        """Fixed-effect estimates for each column of ``values`` (rows as given)."""
        return self.solve(self._fitted.T @ values[self.fit_rows])

    def residualise(self, values: np.ndarray) -> np.ndarray:
        """``values − fitted fixed effects`` for every row (all rows, fit on ``fit_rows``)."""
        values = np.asarray(values, dtype="float64")
        coef = self.coefficients(values)
        return values - self.design @ coef


@dataclass(frozen=True)
class Inference:
    """Estimates with their covariance and the t degrees of freedom."""

    coef: np.ndarray
    vcov: np.ndarray
    df: int

    @property
    def se(self) -> np.ndarray:
        return np.sqrt(np.clip(np.diag(self.vcov), 0.0, None))

    def t_test(self, confidence: float) -> dict[str, np.ndarray]:
        """t statistic, two-sided p-value and CI per coefficient, t(df)."""
        se = self.se
        with np.errstate(divide="ignore", invalid="ignore"):
            t = self.coef / se
        q = float(stats.t.ppf(0.5 + confidence / 2.0, self.df))
        return {
            "t": t,
            "p": 2.0 * stats.t.sf(np.abs(t), self.df),
            "ci_low": self.coef - q * se,
            "ci_high": self.coef + q * se,
        }


def cluster_covariance(
    X: np.ndarray,
    resid: np.ndarray,
    clusters: np.ndarray,
    *,
    n_parameters: int,
    bread: np.ndarray | None = None,
) -> tuple[np.ndarray, int]:
    """CR1 cluster-robust covariance ``(X'X)⁻¹ M (X'X)⁻¹`` with fixest's correction.

    Parameters
    ----------
    X
        (N, k) regressors after partialling out the fixed effects.
    resid
        (N,) residuals of the full model.
    clusters
        (N,) integer cluster codes.
    n_parameters
        ``K`` of the ``(N − 1)/(N − K)`` factor: slopes plus non-nested fixed effects.
    bread
        ``(X'X)⁻¹`` when already computed.

    Returns
    -------
    (vcov, df)
        The (k, k) covariance and ``G − 1``.
    """
    N = X.shape[0]
    codes, inverse = np.unique(clusters, return_inverse=True)
    G = len(codes)
    if G < 2:
        raise ValueError("cluster-robust standard errors need at least two clusters")
    scores = np.zeros((G, X.shape[1]))
    np.add.at(scores, inverse, X * resid[:, None])
    meat = scores.T @ scores
    if bread is None:
        bread = linalg.pinvh(X.T @ X)
    factor = G / (G - 1) * (N - 1) / (N - n_parameters)
    return factor * bread @ meat @ bread, G - 1


def linear_combination(
    weights: np.ndarray, inference: Inference, confidence: float
) -> dict[str, float]:
    """Estimate, se, t, p and CI of ``weights · coef`` (t with the inference's df)."""
    est = float(weights @ inference.coef)
    se = math.sqrt(max(float(weights @ inference.vcov @ weights), 0.0))
    t = est / se if se > 0 else math.nan
    q = float(stats.t.ppf(0.5 + confidence / 2.0, inference.df))
    p = float(2.0 * stats.t.sf(abs(t), inference.df)) if math.isfinite(t) else math.nan
    return {
        "estimate": est,
        "se": se,
        "t": t,
        "p": p,
        "ci_low": est - q * se,
        "ci_high": est + q * se,
    }
