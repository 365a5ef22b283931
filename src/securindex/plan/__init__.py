"""The plan: a framework compiled once for every engine, and the node rules they share.

:func:`compile_plan` turns a validated :class:`~securindex.framework.Framework` into an
immutable :class:`Plan` (no data). The in-memory pipeline, the Monte-Carlo engine and the
Dask engine all run a plan with the same method kernels (the registries' typed records)
and the same node rules (:mod:`securindex.plan.rules`: missing-data policy, not scored at
zero, benefit of the doubt, node formulas, ranks within periods, audit rows).
"""

from securindex.plan.compiled import (
    NODE_KIND_FORMULA,
    NODE_KIND_FRONTIER,
    NODE_KIND_WEIGHTED,
    ColumnGroup,
    NodePlan,
    NormaliseGroup,
    Plan,
    StepPlan,
    compile_plan,
)
from securindex.plan.rules import (
    AUDIT_COLUMNS,
    NODE_RULES,
    REASONS,
    AuditRows,
    NodeRule,
    NodeScore,
    Unscored,
    audit_frame,
    audit_join,
    audit_rows,
    audit_table,
    column_audit,
    node_weights,
    rank_within_periods,
    register_node_rule,
    score_node,
)

__all__ = [
    "AUDIT_COLUMNS",
    "NODE_KIND_FORMULA",
    "NODE_KIND_FRONTIER",
    "NODE_KIND_WEIGHTED",
    "NODE_RULES",
    "REASONS",
    "AuditRows",
    "ColumnGroup",
    "NodePlan",
    "NodeRule",
    "NodeScore",
    "NormaliseGroup",
    "Plan",
    "StepPlan",
    "Unscored",
    "audit_frame",
    "audit_join",
    "audit_rows",
    "audit_table",
    "column_audit",
    "compile_plan",
    "node_weights",
    "rank_within_periods",
    "register_node_rule",
    "score_node",
]
