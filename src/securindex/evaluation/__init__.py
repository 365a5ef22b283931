"""Evaluation of crime-prevention initiatives and monitoring against baselines and targets.

Monitoring (:mod:`~securindex.evaluation.progress`)
    :func:`change_from_baseline`, :func:`compound_annual_growth_rate`,
    :func:`percent_of_target`, :func:`progress_to_target`, :func:`progress_to_targets`,
    :func:`target_trajectory`.
Place-based effects (:mod:`~securindex.evaluation.before_after`,
:mod:`~securindex.evaluation.displacement`, :mod:`~securindex.evaluation.initiative`)
    :func:`relative_effect_size`, :func:`rate_ratio_test`, :func:`pre_post_comparison`,
    :func:`weighted_displacement_quotient`, :func:`weighted_displacement_difference`,
    :func:`harm_weighted_count`, and :func:`evaluate_initiative` for a whole initiative
    from a tidy panel.
Panel designs (:mod:`~securindex.evaluation.panel`, needs ``securindex[stats]``)
    :func:`difference_in_differences`, :func:`pre_trend_test`, :func:`placebo_test`,
    :func:`interrupted_time_series`.
Staggered roll-outs (:mod:`~securindex.evaluation.treatment`, :mod:`~securindex.evaluation.staggered`, :mod:`~securindex.evaluation.event_study`)
    :func:`treatment_timing`, :func:`callaway_santanna`, :func:`staggered_did` (Callaway–
    Sant'Anna, Sun–Abraham, Gardner's did2s, TWFE for comparison) and :func:`twfe_weights`.
Is the change real? (:mod:`~securindex.evaluation.uncertainty`)
    :func:`change_uncertainty`, :func:`bootstrap_replicates`, :func:`bootstrap_change`.
Specification (:mod:`~securindex.evaluation.spec`)
    :class:`EvaluationSpec` (the ``evaluation:`` YAML block), :func:`parse_evaluation`,
    :func:`maryland_sms_level`.
Plots (:mod:`~securindex.evaluation.plots`, needs ``securindex[report]``)
    :func:`plot_trajectory`, :func:`plot_before_after`, :func:`plot_interrupted_time_series`.

Importing this package does no I/O and imports neither statsmodels nor matplotlib.
"""

from securindex.evaluation._common import (
    EvaluationResult,
    Polarity,
    WeightedCount,
    harm_weighted_count,
)
from securindex.evaluation.before_after import (
    PrePostComparison,
    RateRatioTest,
    RelativeEffectSize,
    pre_post_comparison,
    rate_ratio_test,
    relative_effect_size,
)
from securindex.evaluation.dispersion import Dispersion, estimate_dispersion
from securindex.evaluation.displacement import (
    WeightedDisplacementDifference,
    WeightedDisplacementQuotient,
    weighted_displacement_difference,
    weighted_displacement_quotient,
)
from securindex.evaluation.event_study import (
    STAGGERED_ESTIMATORS,
    StaggeredEstimator,
    TWFEWeights,
    register_staggered_estimator,
    staggered_did,
    twfe_weights,
)
from securindex.evaluation.initiative import (
    InitiativeEvaluation,
    evaluate_initiative,
    evaluate_initiative_spec,
)
from securindex.evaluation.job import EvaluationJob, EvaluationOutcome, load_job, run_evaluation
from securindex.evaluation.panel import (
    Coefficient,
    DifferenceInDifferences,
    InterruptedTimeSeries,
    PreTrendTest,
    difference_in_differences,
    interrupted_time_series,
    placebo_test,
    pre_trend_test,
)
from securindex.evaluation.plots import (
    plot_before_after,
    plot_event_study,
    plot_interrupted_time_series,
    plot_synthetic_control,
    plot_trajectory,
)
from securindex.evaluation.progress import (
    TargetProgress,
    change_from_baseline,
    compound_annual_growth_rate,
    percent_of_target,
    progress_to_target,
    progress_to_targets,
    target_trajectory,
)
from securindex.evaluation.spec import (
    BenchmarkBaseline,
    DesignSpec,
    EconomicCost,
    EmmieEntry,
    EmmieRecord,
    EvaluationSpec,
    InitiativeSpec,
    PeriodBaseline,
    ReferenceBaseline,
    SMSLevel,
    TargetSpec,
    maryland_sms_level,
    parse_evaluation,
)
from securindex.evaluation.staggered import StaggeredDiD, callaway_santanna
from securindex.evaluation.synthetic import SyntheticControl, synthetic_control
from securindex.evaluation.treatment import TreatmentTiming, treatment_timing
from securindex.evaluation.uncertainty import (
    bootstrap_change,
    bootstrap_replicates,
    change_uncertainty,
)

__all__ = [
    "STAGGERED_ESTIMATORS",
    "BenchmarkBaseline",
    "Coefficient",
    "DesignSpec",
    "DifferenceInDifferences",
    "Dispersion",
    "EconomicCost",
    "EmmieEntry",
    "EmmieRecord",
    "EvaluationJob",
    "EvaluationOutcome",
    "EvaluationResult",
    "EvaluationSpec",
    "InitiativeEvaluation",
    "InitiativeSpec",
    "InterruptedTimeSeries",
    "PeriodBaseline",
    "Polarity",
    "PrePostComparison",
    "PreTrendTest",
    "RateRatioTest",
    "ReferenceBaseline",
    "RelativeEffectSize",
    "SMSLevel",
    "StaggeredDiD",
    "StaggeredEstimator",
    "SyntheticControl",
    "TWFEWeights",
    "TargetProgress",
    "TargetSpec",
    "TreatmentTiming",
    "WeightedCount",
    "WeightedDisplacementDifference",
    "WeightedDisplacementQuotient",
    "bootstrap_change",
    "bootstrap_replicates",
    "callaway_santanna",
    "change_from_baseline",
    "change_uncertainty",
    "compound_annual_growth_rate",
    "difference_in_differences",
    "estimate_dispersion",
    "evaluate_initiative",
    "evaluate_initiative_spec",
    "harm_weighted_count",
    "interrupted_time_series",
    "load_job",
    "maryland_sms_level",
    "parse_evaluation",
    "percent_of_target",
    "placebo_test",
    "plot_before_after",
    "plot_event_study",
    "plot_interrupted_time_series",
    "plot_synthetic_control",
    "plot_trajectory",
    "pre_post_comparison",
    "pre_trend_test",
    "progress_to_target",
    "progress_to_targets",
    "rate_ratio_test",
    "register_staggered_estimator",
    "relative_effect_size",
    "run_evaluation",
    "staggered_did",
    "synthetic_control",
    "target_trajectory",
    "treatment_timing",
    "twfe_weights",
    "weighted_displacement_difference",
    "weighted_displacement_quotient",
]
