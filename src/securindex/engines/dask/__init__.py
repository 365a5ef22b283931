"""The Dask engine: the same framework YAML, computed on a dask.dataframe.

A framework is built in the same order as :func:`securindex.pipeline.run_pipeline`
(screen → impute → treat → normalise → weight → aggregate), but over a partitioned,
lazily read panel, on a ``dask.distributed`` cluster (or dask's local threads). Each step is
split the way the OECD/JRC "learn first, apply second" rule allows:

* **learn** — statistics over *all* rows, computed as exact tree reductions of per-partition
  summaries (map → combine → finish, like dask's own ``groupby.agg``):
  counts, sums, min/max and the central moments up to the 4th (merged with the pairwise
  formulas of Pébay [3]_, so the mean, standard deviation, skewness and kurtosis equal the
  pandas engine's to rounding), the k most extreme distinct values of each column with
  their counts (what winsorising needs), and group-by sums for group means;
* **apply** — the registry's own functions per partition, re-applying what was learnt
  (normalisers take ``learnt=``), and aggregation row-wise per partition.

Methods that need an exact global *sort* — median imputation, the rank normalisers
(``rank``, ``percentile_rank``, ``borda``) and the ranks of the scores within each
period — gather one column at a time (its non-missing values, 8 bytes per row) on the
client, sort it there, and broadcast the sorted array to the workers, which rank their
partition by binary search. This is exact; it needs O(n_rows) memory per column on the
client and on each worker (80 MB per indicator for 10⁷ rows).

Formulas with ``lag`` or ``mean_over`` need each entity's whole history in one partition:
the panel is shuffled by entity first (unless it is already partitioned by entity), and
periods are numbered over the whole panel, so gaps are handled exactly as in pandas. The
entity-local imputers (``locf``, ``nocb``, ``locf_nocb``, ``linear``) use the same
partitioning.

What runs on partitions is read from each method's registry record (:func:`supported`
lists them); a framework using anything else is refused before any data is read, with a
:class:`~securindex.errors.SpecError` naming the method, the engine and the reason.

Layout (one concept per module)
-------------------------------
* :mod:`~securindex.engines.dask.cluster` — dask itself: the lazy import, the client or
  scheduler, tree reductions, graph keys shared by every task;
* :mod:`~securindex.engines.dask.reading` — the panel as a lazily read dask DataFrame;
* :mod:`~securindex.engines.dask.support` — what runs on partitions, from the registries;
* :mod:`~securindex.engines.dask.indicators` — the catalogue's formulas per partition;
* :mod:`~securindex.engines.dask.partitions` — the plan applied to one partition (screen,
  impute, treat, normalise, aggregate, audit rows, ranks);
* :mod:`~securindex.engines.dask.learning` — the learning passes: per-partition summaries
  merged by tree reduction, one pass per stage;
* :mod:`~securindex.engines.dask.result` — :class:`DaskIndexResult` and its outputs;
* :mod:`~securindex.engines.dask.build` — :func:`compute_dask`, the driver;
* :mod:`~securindex.engines.dask.incidents` — incident files counted as a distributed
  group-by.

References
----------
.. [1] OECD/JRC (2008). *Handbook on Constructing Composite Indicators*, Part I, Steps 3–6.
   doi:10.1787/9789264043466-en
.. [2] Dask Development Team (2016). Dask: Library for dynamic task scheduling.
   https://dask.org
.. [3] Pébay, P. (2008). Formulas for robust, one-pass parallel computation of covariances
   and arbitrary-order statistical moments. Sandia Report SAND2008-6212.
   doi:10.2172/1028931
"""

from __future__ import annotations

from securindex.engines.dask.build import compute_dask
from securindex.engines.dask.cluster import DASK_HINT
from securindex.engines.dask.incidents import incidents_to_panel_dask
from securindex.engines.dask.learning import treatment_of_columns
from securindex.engines.dask.partitions import treat_apply
from securindex.engines.dask.reading import DaskPanel, read_panel_dask
from securindex.engines.dask.result import DaskIndexResult
from securindex.engines.dask.support import check_supported, supported
from securindex.methods._statistics import column_moments, merge_summaries, moment_shape, summarise

__all__ = [
    "DASK_HINT",
    "DaskIndexResult",
    "DaskPanel",
    "check_supported",
    "compute_dask",
    "incidents_to_panel_dask",
    "read_panel_dask",
    "supported",
]

# names the engine's tests address (the mergeable summaries live with the methods)
_summarise = summarise
_merge_summaries = merge_summaries
_column_moments = column_moments
_shape = moment_shape
_plan_columns = treatment_of_columns
_treat_apply = treat_apply
