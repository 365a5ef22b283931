"""Statistical coherence, uncertainty and sensitivity analysis of composite indices.

The OECD/JRC Handbook's step 4 (multivariate analysis: is the structure coherent?) and
step 7 (uncertainty and sensitivity analysis: how robust are the ranks?):

* :mod:`~securindex.analysis.coherence` — statistics, availability, correlations within
  and across levels with flags, Cronbach's alpha, PCA, unit profiles (:func:`coherence_report`);
* :mod:`~securindex.analysis.uncertainty` — the declarative ``uncertainty:`` block
  (:class:`UncertaintySpec`) and the vectorised Monte-Carlo engine
  (:func:`run_uncertainty`);
* :mod:`~securindex.analysis.importance` — weights optimised to target importances,
  components left out one at a time, two builds compared (COINr's ``get_opt_weights``,
  ``remove_elements``, ``compare_coins``);
* :mod:`~securindex.analysis.sensitivity` — Sobol indices with SALib
  (:func:`run_sensitivity`; optional extra ``securindex[sensitivity]``);
* :mod:`~securindex.analysis.plots` — rank intervals, Sobol bars, correlation heat maps
  (matplotlib; extra ``securindex[report]``).

Nothing is imported until used: each name loads its module on first access, and SALib
and matplotlib load on the first call that needs them.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from securindex._lazy import lazy_exports

if TYPE_CHECKING:
    from securindex.analysis.coherence import (
        CoherenceReport,
        PCAResult,
        availability,
        coherence_report,
        correlation_flags,
        correlations,
        cronbach_alpha,
        describe,
        levels,
        node_correlations,
        pca,
        unit_profiles,
    )
    from securindex.analysis.importance import (
        WeightOptimisation,
        compare_results,
        leave_one_out,
        optimise_weights,
    )
    from securindex.analysis.plots import plot_correlation, plot_rank_intervals, plot_sobol
    from securindex.analysis.sensitivity import SobolResult, run_sensitivity, sobol_indices
    from securindex.analysis.uncertainty import (
        AggregationChoice,
        IndicatorExclusion,
        InputNoise,
        ParameterChoice,
        UncertaintyResult,
        UncertaintySpec,
        WeightNoise,
        WeightSets,
        load_uncertainty_spec,
        rebuild_replicate,
        run_uncertainty,
        sample_factors,
        uncertainty_factors,
    )

_EXPORTS = {
    "AggregationChoice": "securindex.analysis.uncertainty",
    "CoherenceReport": "securindex.analysis.coherence",
    "IndicatorExclusion": "securindex.analysis.uncertainty",
    "InputNoise": "securindex.analysis.uncertainty",
    "PCAResult": "securindex.analysis.coherence",
    "ParameterChoice": "securindex.analysis.uncertainty",
    "SobolResult": "securindex.analysis.sensitivity",
    "UncertaintyResult": "securindex.analysis.uncertainty",
    "UncertaintySpec": "securindex.analysis.uncertainty",
    "WeightNoise": "securindex.analysis.uncertainty",
    "WeightOptimisation": "securindex.analysis.importance",
    "WeightSets": "securindex.analysis.uncertainty",
    "availability": "securindex.analysis.coherence",
    "coherence_report": "securindex.analysis.coherence",
    "compare_results": "securindex.analysis.importance",
    "correlation_flags": "securindex.analysis.coherence",
    "correlations": "securindex.analysis.coherence",
    "cronbach_alpha": "securindex.analysis.coherence",
    "describe": "securindex.analysis.coherence",
    "leave_one_out": "securindex.analysis.importance",
    "levels": "securindex.analysis.coherence",
    "load_uncertainty_spec": "securindex.analysis.uncertainty",
    "node_correlations": "securindex.analysis.coherence",
    "optimise_weights": "securindex.analysis.importance",
    "pca": "securindex.analysis.coherence",
    "plot_correlation": "securindex.analysis.plots",
    "plot_rank_intervals": "securindex.analysis.plots",
    "plot_sobol": "securindex.analysis.plots",
    "rebuild_replicate": "securindex.analysis.uncertainty",
    "run_sensitivity": "securindex.analysis.sensitivity",
    "run_uncertainty": "securindex.analysis.uncertainty",
    "sample_factors": "securindex.analysis.uncertainty",
    "sobol_indices": "securindex.analysis.sensitivity",
    "uncertainty_factors": "securindex.analysis.uncertainty",
    "unit_profiles": "securindex.analysis.coherence",
}

__getattr__, __dir__ = lazy_exports(__name__, _EXPORTS)

__all__ = [
    "AggregationChoice",
    "CoherenceReport",
    "IndicatorExclusion",
    "InputNoise",
    "PCAResult",
    "ParameterChoice",
    "SobolResult",
    "UncertaintyResult",
    "UncertaintySpec",
    "WeightNoise",
    "WeightOptimisation",
    "WeightSets",
    "availability",
    "coherence_report",
    "compare_results",
    "correlation_flags",
    "correlations",
    "cronbach_alpha",
    "describe",
    "leave_one_out",
    "levels",
    "load_uncertainty_spec",
    "node_correlations",
    "optimise_weights",
    "pca",
    "plot_correlation",
    "plot_rank_intervals",
    "plot_sobol",
    "rebuild_replicate",
    "run_sensitivity",
    "run_uncertainty",
    "sample_factors",
    "sobol_indices",
    "uncertainty_factors",
    "unit_profiles",
]
