"""Incident records → the (entity, period) panel that indicators are computed over.

Police and city data often come as one row per recorded incident (a date, an offence code,
an area id or a point), while indicators need counts per area and period. A declarative
``from_incidents:`` block (in a data-dictionary YAML file, or :class:`IncidentSpec` in
Python) says how to turn the first into the second:

.. code-block:: yaml

    from_incidents:
      source: incidents/*.parquet        # files or globs, relative to this file
      date: occurred_at                  # column holding the date (ISO 8601 by default)
      grain: month                       # year | quarter | month | week (ISO, Monday)
      periods: {start: 2015-01, end: 2024-12}
      area: lsoa_code                    # or points: {x: lon, y: lat, crs: "EPSG:4326"}
      areas: {file: areas.csv, id: lsoa_code,
              variables: {population: {column: pop, unit: inhabitant}}}
      offence: offence_code
      variables:
        burglaries: {codes: ["28*", "29*", "30*"]}     # fnmatch patterns of codes
        harm: {weights: {"28*": 438, "105": 365}, unit: day}   # harm-weighted sum
      filters:
        - {column: status, not_in: [cancelled]}

The output is a :class:`~securindex.dataset.Panel` on the full grid *areas × periods*: an
area with no incident in a period has a zero count (areas come from the declared list or
polygons, not only from the incidents seen), and a :class:`IncidentReport` that accounts
for every record read: each one is either counted or excluded for exactly one stated
reason (date outside the declared periods, unknown offence code, point outside every
polygon, …), so nothing is silently lost.

Everything is vectorised: ids and codes are factorised once (hash tables over the rows,
then Python work only over the few distinct values), periods are integer arithmetic on
``datetime64``, and counts are ``numpy.bincount`` over (area, period) cell codes. Files are
processed one at a time (or one partition at a time on Dask, see
:mod:`securindex.engines.dask`) and their partial counts summed, so memory holds one file
plus the (areas × periods) grid.

References
----------
.. [1] Sherman, L., Neyroud, P. W. and Neyroud, E. (2016). The Cambridge Crime Harm Index:
   measuring total harm from crime based on sentencing guidelines. *Policing*, 10(3),
   171–183. doi:10.1093/police/paw003 (harm weights per offence)
.. [2] OECD/JRC (2008). *Handbook on Constructing Composite Indicators*, Part I, Step 2
   (data selection and documentation of the data). doi:10.1787/9789264043466-en
"""

from __future__ import annotations

from securindex.incidents.counting import REASONS
from securindex.incidents.panel import incidents_to_panel
from securindex.incidents.periods import GRAINS, parse_period, period_codes, period_labels
from securindex.incidents.report import IncidentPanel, IncidentReport
from securindex.incidents.spec import (
    AreaSource,
    AreaVariable,
    IncidentFilter,
    IncidentSpec,
    OffenceVariable,
    PeriodRange,
    Points,
    read_incident_dictionary,
)

__all__ = [
    "GRAINS",
    "REASONS",
    "AreaSource",
    "AreaVariable",
    "IncidentFilter",
    "IncidentPanel",
    "IncidentReport",
    "IncidentSpec",
    "OffenceVariable",
    "PeriodRange",
    "Points",
    "incidents_to_panel",
    "parse_period",
    "period_codes",
    "period_labels",
    "read_incident_dictionary",
]
