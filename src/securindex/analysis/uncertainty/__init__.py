"""Monte-Carlo uncertainty analysis of a composite index (OECD/JRC Handbook 2008, step 7).

A composite index rests on choices that could reasonably have been made otherwise: the
weights, the normalisation, the aggregation of each node, the imputation, the outlier
treatment, which indicators are in, and the input values themselves (a survey share has a
margin of error, a count of rare events has Poisson noise). The uncertainty analysis draws
many *replicates*, each a combination of such choices, rebuilds the index for each, and
reports how much every entity's rank and score move: the median rank, the 5–95 % rank and
score intervals and the average rank shift against the nominal build.

What varies is declared, never guessed, in an :class:`UncertaintySpec` (the ``uncertainty:``
block of a YAML file, or Python). It is checked against the framework before anything runs:
every node, indicator, step and parameter it names must exist, and each alternative is run
once on the nominal data, so a wrong parameter fails at once with its YAML location.

Speed
-----
The index is not rebuilt per replicate. Every factor is a block of coordinates of the
unit hypercube (one per weight, one per discrete choice, one per noisy input value), and
the engine decodes a whole chunk of such points at once:

* the discrete data choices (imputation, treatment, normalisation and their parameters)
  form a small set of combinations, each imputed, treated and normalised once with the
  registry methods the pipeline uses;
* for the replicates sharing one normalised matrix, arithmetic and geometric means of a
  node are two matrix products of its (rows × children) block with the replicates'
  (children × replicates) weights; other methods call the registry's aggregator, which
  broadcasts over a leading replicate axis;
* with input noise, each chunk of perturbed matrices is laid side by side as one wide
  ``(rows, replicates × indicators)`` matrix, which the column-wise data methods impute,
  treat and normalise in one call;
* ranks are computed per period with one ``argsort`` per chunk.

Memory is bounded by ``chunk_size``, not by the number of replicates: per-entity
intervals are exact (from stored replicates) when ``n_replicates × rows`` is at most
:data:`_EXACT_CELLS`, and otherwise come from fixed-size per-row histograms (exact for
ranks up to 1 000 rows, scores to 0.3 % of their range).

A replicate is *defined* as the pipeline run with its sampled choices;
:func:`rebuild_replicate` runs exactly that, slowly, and the tests check that the engine
agrees with it.

Layout (one concept per module)
-------------------------------
* :mod:`~securindex.analysis.uncertainty.spec` — what varies: :class:`UncertaintySpec`
  and its parts, read from YAML with located errors;
* :mod:`~securindex.analysis.uncertainty.factors` — factors as blocks of coordinates of
  the unit hypercube, decoded into levels and quantiles;
* :mod:`~securindex.analysis.uncertainty.means` — weighted means of many replicates as
  matrix products;
* :mod:`~securindex.analysis.uncertainty.engine` — :class:`ReplicateEngine`: points of the
  factor space decoded into scores, vectorised over replicates;
* :mod:`~securindex.analysis.uncertainty.summaries` — per-row distributions over
  replicates (stored, or streamed into histograms) and their quantiles;
* :mod:`~securindex.analysis.uncertainty.result` — :class:`UncertaintyResult` and its
  files;
* :mod:`~securindex.analysis.uncertainty.run` — :func:`run_uncertainty` and the other
  public entry points;
* :mod:`~securindex.analysis.uncertainty.rebuild` — :func:`rebuild_replicate`, one
  replicate through the full pipeline (the reference the engine is tested against).

References
----------
.. [1] OECD/JRC (2008). *Handbook on Constructing Composite Indicators: Methodology and
   User Guide*, step 7 and section 7 (uncertainty and sensitivity analysis), pp. 34–35 and
   117–131. OECD Publishing. doi:10.1787/9789264043466-en
.. [2] Saisana, M., Saltelli, A. & Tarantola, S. (2005). Uncertainty and sensitivity
   analysis techniques as tools for the quality assessment of composite indicators.
   *Journal of the Royal Statistical Society A* 168(2), 307–323.
   doi:10.1111/j.1467-985X.2005.00350.x
.. [3] Becker, W., Caperna, G., Del Sorbo, M., Norlén, H., Papadimitriou, E. & Saisana, M.
   (2022). COINr: An R package for developing composite indicators. *Journal of Open
   Source Software* 7(78), 4567. doi:10.21105/joss.04567
"""

from __future__ import annotations

from securindex.analysis._budget import MAX_REPLICATES, RunEstimate
from securindex.analysis.uncertainty.engine import ReplicateEngine as ReplicateEngine
from securindex.analysis.uncertainty.factors import Seed as Seed
from securindex.analysis.uncertainty.factors import as_generator as as_generator
from securindex.analysis.uncertainty.factors import poisson_quantile
from securindex.analysis.uncertainty.means import matrix_mean
from securindex.analysis.uncertainty.rebuild import _rebuild as _rebuild
from securindex.analysis.uncertainty.rebuild import rebuild_replicate
from securindex.analysis.uncertainty.result import UncertaintyResult
from securindex.analysis.uncertainty.run import (
    estimate_uncertainty,
    run_uncertainty,
    sample_factors,
    uncertainty_factors,
)
from securindex.analysis.uncertainty.run import replicate_progress as replicate_progress
from securindex.analysis.uncertainty.run import row_labels as row_labels
from securindex.analysis.uncertainty.spec import (
    AggregationChoice,
    IndicatorExclusion,
    InputNoise,
    ParameterChoice,
    UncertaintySpec,
    WeightNoise,
    WeightSets,
    load_uncertainty_spec,
)
from securindex.analysis.uncertainty.spec import as_uncertainty_spec as as_uncertainty_spec
from securindex.analysis.uncertainty.summaries import _column_quantiles as _column_quantiles

__all__ = [
    "MAX_REPLICATES",
    "AggregationChoice",
    "IndicatorExclusion",
    "InputNoise",
    "ParameterChoice",
    "RunEstimate",
    "UncertaintyResult",
    "UncertaintySpec",
    "WeightNoise",
    "WeightSets",
    "estimate_uncertainty",
    "load_uncertainty_spec",
    "rebuild_replicate",
    "run_uncertainty",
    "sample_factors",
    "uncertainty_factors",
]

# the engine's building blocks above are imported by the sensitivity analysis; these two
# names by the tests
_poisson_quantile = poisson_quantile
_matrix_mean = matrix_mean
