"""Household deprivations: JMP service ladders, waste collection and the five UN-Habitat
deprivations behind SDG 11.1.1 (slum households).

Every function is pure: a canonical ``households`` frame in, a new Series or DataFrame indexed
like it out. Classes are read from the code lists' ``group`` (:mod:`profiling.codelists`),
never from ad hoc string tests. A column absent from the frame is an answer not collected.

Missing answers
---------------
Rule, everywhere: a missing answer (or the ``other`` code, whose class is unknown) makes the
result *unknown* — the ladder category ``unknown`` or a boolean ``<NA>`` — unless the answers
that are known already decide it (e.g. a mud wall makes housing non-durable whatever the
roof). Unknowns are never counted as deprived nor as not deprived; :func:`deprivation_report`
counts them per deprivation.

References
----------
.. [JMP2017] WHO/UNICEF JMP, *Progress on drinking water, sanitation and hygiene: 2017 update
   and SDG baselines* — service ladders: drinking water (safely managed, basic, limited,
   unimproved, surface water), sanitation (safely managed, basic, limited, unimproved, open
   defecation), hygiene (basic, limited, no facility).
.. [JMP2018] WHO/UNICEF JMP, *Core questions on drinking water, sanitation and hygiene for
   household surveys: 2018 update* (W1 source, W2 round-trip collection time incl. queuing,
   W4 sufficiency, S1 facility, S3/S4 sharing incl. own household, H1-H3 handwashing).
.. [M111] UN-Habitat, *SDG indicator 11.1.1 metadata* and *training module: adequate housing
   and slum upgrading* (2018): a slum household lacks one or more of improved water, improved
   sanitation, sufficient living area (not more than 3 persons per habitable room), durable
   housing (permanent structure in a non-hazardous location), secure tenure.
.. [WWC] UN-Habitat, *Waste Wise Cities Tool* (2021), SDG 11.6.1 step 1: household waste
   collected by a formal or informal service, regularly.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from profiling import codelists as cl
from profiling._columns import as_bool, as_number, as_text, code_group, in_groups
from profiling.schema import layer_schema
from profiling.tenure import SecureTenureRule, secure_tenure

__all__ = [
    "DEPRIVATIONS",
    "HANDWASHING_LADDER",
    "ON_PREMISES_WATER",
    "SANITATION_LADDER",
    "WATER_LADDER",
    "deprivation_report",
    "deprivations",
    "handwashing_ladder",
    "overcrowded",
    "sanitation_ladder",
    "waste_collected",
    "water_ladder",
]

WATER_LADDER: tuple[str, ...] = (
    "safely_managed",
    "basic",
    "limited",
    "unimproved",
    "surface_water",
    "unknown",
)
"""Categories of :func:`water_ladder`, best first [JMP2017]_."""

SANITATION_LADDER: tuple[str, ...] = (
    "basic",
    "limited",
    "unimproved",
    "open_defecation",
    "unknown",
)
"""Categories of :func:`sanitation_ladder`, best first. *Safely managed* is not reported:
it needs excreta-management data (emptying, treatment) the household survey does not hold."""

HANDWASHING_LADDER: tuple[str, ...] = ("basic", "limited", "no_facility", "unknown")
"""Categories of :func:`handwashing_ladder`, best first."""

DEPRIVATIONS: tuple[str, ...] = (
    "improved_water_deprived",
    "improved_sanitation_deprived",
    "overcrowded",
    "non_durable_housing",
    "insecure_tenure",
)
"""The five UN-Habitat household deprivations (SDG 11.1.1) as columns of :func:`deprivations`."""

ON_PREMISES_WATER: frozenset[str] = frozenset({"piped_dwelling", "piped_yard"})
"""``DRINKING_WATER`` codes located on premises (JMP: in the dwelling, yard or plot): no
collection trip, and the only sources that can be *safely managed* here."""

if not ON_PREMISES_WATER.issubset(cl.codes(cl.DRINKING_WATER)):  # pragma: no cover
    raise ImportError("ON_PREMISES_WATER names codes missing from DRINKING_WATER")

_TRIP_MAX_MIN = layer_schema("households").field("water_trip_min").maximum


def _mask(series: pd.Series) -> np.ndarray:
    """``True`` where a nullable boolean is known ``True``."""
    return series.fillna(False).to_numpy(dtype=bool)


def _categorical(
    values: np.ndarray, index: pd.Index, categories: tuple[str, ...], name: str
) -> pd.Series:
    """Categorical from an array of labels, built from integer codes (a few labels, a
    million rows: one vectorised comparison per label)."""
    codes = np.full(len(values), -1, dtype=np.int8)
    for k, label in enumerate(categories):
        codes[values == label] = k
    cat = pd.Categorical.from_codes(codes, dtype=pd.CategoricalDtype(list(categories)))
    return pd.Series(cat, index=index, name=name)


# -- JMP ladders -----------------------------------------------------------------------------


def water_ladder(
    households: pd.DataFrame,
    *,
    max_trip_min: float = 30,
    queue_included: bool = True,
    report_safely_managed: bool = True,
) -> pd.Series:
    """JMP drinking-water service level of each household (SDG 6.1.1 ladder).

    Rules, in order [JMP2017]_ [JMP2018]_:

    1. ``water_source`` missing, ``other`` or outside the code list → ``unknown``.
    2. Group ``surface_water`` → ``surface_water``; group ``unimproved`` → ``unimproved``.
    3. Improved and on premises (:data:`ON_PREMISES_WATER`) with ``water_available`` True →
       ``safely_managed``. This is an **upper bound**: safely managed also requires water
       free from faecal (E. coli) and priority chemical contamination, which household
       profiling does not test. On premises with availability False or unknown → ``basic``
       (no collection trip).
    4. Other improved sources: round trip ``water_trip_min`` (min, incl. queuing, JMP W2)
       ≤ ``max_trip_min`` → ``basic``; > ``max_trip_min`` → ``limited``. When the trip
       question excluded queuing (``queue_included=False``) ``water_queue_min`` is added; a
       missing queue time then only decides ``limited`` (the trip alone is too long), else
       ``unknown``. Trip times missing, negative or above the schema's plausible maximum
       (1440 min, e.g. a 999/9999 "don't know" code) → ``unknown``.

    Parameters
    ----------
    households : pandas.DataFrame
        Canonical households (``water_source``, ``water_trip_min``, ``water_queue_min``,
        ``water_available``).
    max_trip_min : float, keyword-only
        Round-trip threshold in minutes between basic and limited (JMP: 30).
    queue_included : bool, keyword-only
        ``water_trip_min`` already includes queuing (the schema's meaning).
    report_safely_managed : bool, keyword-only
        ``False`` reports the ``safely_managed`` households as ``basic``.

    Returns
    -------
    pandas.Series
        Categorical with categories :data:`WATER_LADDER`, named ``water_ladder``.

    Examples
    --------
    >>> hh = pd.DataFrame({"water_source": ["piped_dwelling", "public_tap", "public_tap",
    ...                                     "unprotected_well", None],
    ...                    "water_trip_min": [None, 30, 31, None, None],
    ...                    "water_available": [True, None, None, None, None]})
    >>> water_ladder(hh).tolist()
    ['safely_managed', 'basic', 'limited', 'unimproved', 'unknown']
    """
    groups = code_group(households, "water_source", cl.DRINKING_WATER)
    source = as_text(households, "water_source")
    trip = as_number(households, "water_trip_min")
    trip = trip.where((trip >= 0) & (trip <= (_TRIP_MAX_MIN or np.inf)), pd.NA)
    too_long_alone = _mask(trip > max_trip_min)
    if not queue_included:
        trip = trip + as_number(households, "water_queue_min")
    improved = (groups == "improved").to_numpy(dtype=bool)
    on_premises = source.isin(ON_PREMISES_WATER).to_numpy(dtype=bool) & improved
    available = _mask(as_bool(households, "water_available"))
    top = "safely_managed" if report_safely_managed else "basic"
    out = np.select(
        [
            groups.isna().to_numpy(dtype=bool),
            (groups == "surface_water").to_numpy(dtype=bool),
            (groups == "unimproved").to_numpy(dtype=bool),
            on_premises & available,
            on_premises,
            improved & _mask(trip <= max_trip_min),
            improved & (_mask(trip > max_trip_min) | too_long_alone),
        ],
        ["unknown", "surface_water", "unimproved", top, "basic", "basic", "limited"],
        default="unknown",
    )
    return _categorical(out, households.index, WATER_LADDER, "water_ladder")


def _shared(households: pd.DataFrame) -> pd.Series:
    """Facility shared with other households: ``toilet_shared``, else
    ``toilet_sharing_households`` ≥ 2 (JMP S4 counts the household itself)."""
    count = as_number(households, "toilet_sharing_households")
    from_count = pd.Series((count >= 2).to_numpy(), index=households.index, dtype="boolean").where(
        count.notna(), pd.NA
    )
    return as_bool(households, "toilet_shared").fillna(from_count)


def sanitation_ladder(households: pd.DataFrame) -> pd.Series:
    """JMP sanitation service level of each household (SDG 6.2.1 ladder).

    Rules [JMP2017]_ [JMP2018]_:

    * ``sanitation`` missing / ``other`` / outside the list → ``unknown``;
    * group ``open_defecation`` → ``open_defecation``; group ``unimproved`` → ``unimproved``;
    * improved and not shared → ``basic``; improved and shared → ``limited``; improved with
      sharing unknown → ``unknown``. Shared is ``toilet_shared`` or, when missing,
      ``toilet_sharing_households`` ≥ 2 (the count includes the household itself, JMP S4).

    *Safely managed* is never reported: it needs the fate of excreta (safe emptying,
    treatment), which a household profile does not collect; ``basic`` is the top level here
    and is an upper bound for safely managed + basic.

    Parameters
    ----------
    households : pandas.DataFrame
        Canonical households (``sanitation``, ``toilet_shared``, ``toilet_sharing_households``).

    Returns
    -------
    pandas.Series
        Categorical with categories :data:`SANITATION_LADDER`, named ``sanitation_ladder``.

    Examples
    --------
    >>> hh = pd.DataFrame({"sanitation": ["pit_slab", "pit_slab", "bucket", "open_defecation"],
    ...                    "toilet_shared": [False, True, None, None]})
    >>> sanitation_ladder(hh).tolist()
    ['basic', 'limited', 'unimproved', 'open_defecation']
    """
    groups = code_group(households, "sanitation", cl.SANITATION)
    shared = _shared(households)
    improved = (groups == "improved").to_numpy(dtype=bool)
    out = np.select(
        [
            (groups == "open_defecation").to_numpy(dtype=bool),
            (groups == "unimproved").to_numpy(dtype=bool),
            improved & _mask(shared == False),  # noqa: E712 (nullable comparison)
            improved & _mask(shared),
        ],
        ["open_defecation", "unimproved", "basic", "limited"],
        default="unknown",
    )
    return _categorical(out, households.index, SANITATION_LADDER, "sanitation_ladder")


def handwashing_ladder(households: pd.DataFrame) -> pd.Series:
    """JMP hygiene service level of each household (SDG 6.2.1 hygiene ladder).

    Rules [JMP2017]_ [JMP2018]_: ``handwashing`` in group ``none`` → ``no_facility``; a
    facility (group ``facility``, fixed or mobile) with water and soap present → ``basic``;
    a facility lacking water or soap (either known ``False``) → ``limited``; a facility with
    water / soap not recorded, ``not_observed`` or a missing answer → ``unknown``.

    Parameters
    ----------
    households : pandas.DataFrame
        Canonical households (``handwashing``, ``handwashing_water``, ``handwashing_soap``).

    Returns
    -------
    pandas.Series
        Categorical with categories :data:`HANDWASHING_LADDER`, named ``handwashing_ladder``.

    Examples
    --------
    >>> hh = pd.DataFrame({"handwashing": ["fixed", "mobile", "none", "not_observed"],
    ...                    "handwashing_water": [True, True, None, None],
    ...                    "handwashing_soap": [True, False, None, None]})
    >>> handwashing_ladder(hh).tolist()
    ['basic', 'limited', 'no_facility', 'unknown']
    """
    groups = code_group(households, "handwashing", cl.HANDWASHING)
    facility = (groups == "facility").to_numpy(dtype=bool)
    water = as_bool(households, "handwashing_water")
    soap = as_bool(households, "handwashing_soap")
    out = np.select(
        [
            (groups == "none").to_numpy(dtype=bool),
            facility & _mask(water & soap),
            facility & _mask(~water | ~soap),
        ],
        ["no_facility", "basic", "limited"],
        default="unknown",
    )
    return _categorical(out, households.index, HANDWASHING_LADDER, "handwashing_ladder")


def waste_collected(households: pd.DataFrame, *, min_per_week: float = 1) -> pd.Series:
    """Household solid waste regularly collected (SDG 11.6.1 household step, [WWC]_).

    Rule: ``waste_disposal`` in group ``collected`` (door-to-door or communal point) and
    ``waste_collections_per_week`` ≥ ``min_per_week`` → ``True``; group ``uncollected``
    (burned, buried, dumped, composted) or collected less often → ``False``; collected with
    frequency unknown, ``other`` or missing → ``<NA>``.

    Parameters
    ----------
    households : pandas.DataFrame
        Canonical households (``waste_disposal``, ``waste_collections_per_week``).
    min_per_week : float, keyword-only
        Collections per week that count as regular (default 1: weekly).

    Returns
    -------
    pandas.Series
        Nullable boolean named ``waste_collected``.

    Examples
    --------
    >>> hh = pd.DataFrame({"waste_disposal": ["collected_door", "communal_point", "burned"],
    ...                    "waste_collections_per_week": [2, None, None]})
    >>> waste_collected(hh).tolist()
    [True, <NA>, False]
    """
    collected = in_groups(code_group(households, "waste_disposal", cl.WASTE_DISPOSAL), "collected")
    regular = as_number(households, "waste_collections_per_week") >= min_per_week
    return (collected & regular.astype("boolean")).rename("waste_collected")


# -- The five UN-Habitat deprivations (SDG 11.1.1) ---------------------------------------------


def overcrowded(households: pd.DataFrame, *, crowding_threshold: float = 3) -> pd.Series:
    """Insufficient living area: persons per habitable room above ``crowding_threshold``.

    Rule [M111]_: ``household_size / sleeping_rooms > crowding_threshold`` (3 by default, so
    exactly 3 persons per room is *not* overcrowded; 2 is the stricter alternative). A
    household with people and 0 rooms is overcrowded; a missing size or room count →
    ``<NA>``.

    Parameters
    ----------
    households : pandas.DataFrame
        Canonical households (``household_size`` people, ``sleeping_rooms`` rooms).
    crowding_threshold : float, keyword-only
        Persons per room above which a household is overcrowded.

    Returns
    -------
    pandas.Series
        Nullable boolean named ``overcrowded``.

    Examples
    --------
    >>> hh = pd.DataFrame({"household_size": [6, 7, 3, None], "sleeping_rooms": [2, 2, 0, 1]})
    >>> overcrowded(hh).tolist()
    [False, True, True, <NA>]
    """
    size = as_number(households, "household_size")
    rooms = as_number(households, "sleeping_rooms")
    # size > threshold * rooms avoids dividing by zero rooms (then: any person is too many).
    out = pd.Series(
        (size > rooms * crowding_threshold).to_numpy(), index=households.index, dtype="boolean"
    )
    return out.where(size.notna() & rooms.notna(), pd.NA).rename("overcrowded")


def _non_durable(households: pd.DataFrame, hazardous: pd.Series | None) -> pd.Series:
    known_flags = []
    for column in ("wall_material", "roof_material", "floor_material"):
        groups = code_group(households, column, cl.MATERIALS)
        known_flags.append(in_groups(groups, "natural", "rudimentary"))
    out = known_flags[0] | known_flags[1] | known_flags[2]
    if hazardous is not None:
        out = out | hazardous
    return out


def deprivations(
    households: pd.DataFrame,
    *,
    crowding_threshold: float = 3,
    hazardous_location: pd.Series | None = None,
    max_sharing_households: int | None = 2,
    water_requires_basic: bool = False,
    max_trip_min: float = 30,
    tenure_rule: SecureTenureRule = "documented_or_formal",
) -> pd.DataFrame:
    """The five UN-Habitat household deprivations and the slum-household flag (SDG 11.1.1).

    Rules [M111]_ (each column nullable boolean; ``<NA>`` when its inputs cannot decide):

    ``improved_water_deprived``
        ``water_source`` in group ``unimproved`` or ``surface_water``. With
        ``water_requires_basic`` an improved source beyond ``max_trip_min`` (JMP *limited*)
        is deprived too, and an improved off-premises source with unknown trip is ``<NA>``.
    ``improved_sanitation_deprived``
        ``sanitation`` in group ``unimproved`` or ``open_defecation``, or an improved facility
        shared by more than ``max_sharing_households`` households (counted with
        ``toilet_sharing_households``, which includes the household itself). Not shared →
        not deprived. Shared with the count missing → ``<NA>``. ``max_sharing_households=None``
        makes any sharing a deprivation (JMP: shared = limited).
    ``overcrowded``
        :func:`overcrowded`: persons per habitable room > ``crowding_threshold``.
    ``non_durable_housing``
        Any of wall, roof, floor material in DHS group ``natural`` or ``rudimentary``, or
        ``hazardous_location`` True. Not deprived only when all three materials are
        ``finished`` (and, when ``hazardous_location`` is given, it is ``False``). Without
        ``hazardous_location`` the location is not assessed (say so when reporting).
    ``insecure_tenure``
        Not :func:`profiling.tenure.secure_tenure` under ``tenure_rule``.

    Then ``deprivation_count`` (known deprivations, 0..5), ``deprivations_unknown``
    (components that are ``<NA>``, 0..5) and ``slum_household``: ``True`` if any deprivation
    is known ``True``; ``False`` only when all five are known and none is deprived; ``<NA>``
    otherwise. The count of known deprivations is a lower bound when some are unknown.

    Parameters
    ----------
    households : pandas.DataFrame
        Canonical households.
    crowding_threshold : float, keyword-only
        Persons per habitable room above which a household is overcrowded (3; 2 alternative).
    hazardous_location : pandas.Series of bool, optional, keyword-only
        Per household, aligned on the index (e.g. :func:`profiling.hazard.hazardous_location`);
        labels missing from it are ``<NA>``. ``<NA>`` (no hazard data at that place) leaves a
        household with finished materials *unknown* on durability, never "durable": pass
        ``hazardous_location.fillna(False)`` to state that uncovered places are safe.
    max_sharing_households : int or None, keyword-only
        A shared improved facility is acceptable up to this many households (UN-Habitat: 2).
    water_requires_basic : bool, keyword-only
        Also count JMP *limited* water (trip > ``max_trip_min``) as deprived.
    max_trip_min : float, keyword-only
        Round-trip minutes for ``water_requires_basic``.
    tenure_rule : str, keyword-only
        Rule of :func:`profiling.tenure.secure_tenure`.

    Returns
    -------
    pandas.DataFrame
        Indexed like ``households``: the five :data:`DEPRIVATIONS` columns (``boolean``),
        ``deprivation_count`` and ``deprivations_unknown`` (``int64``), ``slum_household``
        (``boolean``).

    Examples
    --------
    >>> hh = pd.DataFrame({"water_source": ["public_tap"], "water_trip_min": [10],
    ...     "sanitation": ["pit_slab"], "toilet_shared": [True],
    ...     "toilet_sharing_households": [3], "household_size": [4], "sleeping_rooms": [2],
    ...     "wall_material": ["cement"], "roof_material": ["iron_sheets"],
    ...     "floor_material": ["cement"], "tenure_type": ["leasehold"],
    ...     "tenure_document": ["lease"]})
    >>> d = deprivations(hh)
    >>> cols = ["improved_sanitation_deprived", "deprivation_count", "slum_household"]
    >>> [str(v) for v in d.loc[0, cols]]
    ['True', '1', 'True']
    """
    index = households.index
    water_groups = code_group(households, "water_source", cl.DRINKING_WATER)
    water = in_groups(water_groups, "unimproved", "surface_water")
    if water_requires_basic:
        ladder = water_ladder(households, max_trip_min=max_trip_min)
        limited = pd.Series((ladder == "limited").to_numpy(), index=index, dtype="boolean")
        undecided = (water_groups == "improved").to_numpy(dtype=bool) & (
            ladder == "unknown"
        ).to_numpy(dtype=bool)
        water = (water | limited).mask(undecided, pd.NA)

    san_groups = code_group(households, "sanitation", cl.SANITATION)
    unimproved_san = in_groups(san_groups, "unimproved", "open_defecation")
    shared = _shared(households)
    count = as_number(households, "toilet_sharing_households")
    if max_sharing_households is None:
        too_shared = shared
    else:
        over = pd.Series(
            (count > max_sharing_households).to_numpy(), index=index, dtype="boolean"
        ).where(count.notna(), pd.NA)
        # not shared → False; shared → decided by the count (unknown count → <NA>)
        too_shared = over.mask(_mask(shared == False), False)  # noqa: E712
    # Kleene OR: an improved facility (False) is decided by its sharing alone; a facility
    # shared by too many households is deprived whatever its type.
    sanitation = unimproved_san | too_shared

    hazardous = None
    if hazardous_location is not None:
        hazardous = hazardous_location.reindex(index).astype("boolean")
    table = pd.DataFrame(
        {
            "improved_water_deprived": water.astype("boolean"),
            "improved_sanitation_deprived": sanitation.astype("boolean"),
            "overcrowded": overcrowded(households, crowding_threshold=crowding_threshold),
            "non_durable_housing": _non_durable(households, hazardous).astype("boolean"),
            "insecure_tenure": ~secure_tenure(households, rule=tenure_rule),
        },
        index=index,
    )
    flags = table[list(DEPRIVATIONS)]
    table["deprivation_count"] = flags.fillna(False).astype(int).sum(axis=1).astype("int64")
    table["deprivations_unknown"] = flags.isna().sum(axis=1).astype("int64")
    slum = pd.Series(pd.NA, index=index, dtype="boolean")
    slum = slum.mask(table["deprivations_unknown"].to_numpy() == 0, False)
    slum = slum.mask(table["deprivation_count"].to_numpy() > 0, True)
    table["slum_household"] = slum
    return table


def deprivation_report(table: pd.DataFrame) -> pd.DataFrame:
    """How many households are deprived, not deprived and *unknown* for each deprivation.

    Parameters
    ----------
    table : pandas.DataFrame
        The result of :func:`deprivations`.

    Returns
    -------
    pandas.DataFrame
        One row per deprivation in :data:`DEPRIVATIONS` plus ``slum_household``; columns
        ``deprived``, ``not_deprived``, ``unknown`` (household counts) and
        ``deprived_share_of_known`` (0..1, ``NaN`` when nothing is known). Report
        ``unknown`` beside every rate: the rule never counts an unknown either way.

    Examples
    --------
    >>> t = pd.DataFrame({c: pd.array([True, None], dtype="boolean")
    ...                   for c in (*DEPRIVATIONS, "slum_household")})
    >>> deprivation_report(t).loc["overcrowded"].tolist()
    [1.0, 0.0, 1.0, 1.0]
    """
    rows = {}
    for column in (*DEPRIVATIONS, "slum_household"):
        values = table[column].astype("boolean")
        deprived = int(values.fillna(False).sum())
        known = int(values.notna().sum())
        rows[column] = {
            "deprived": float(deprived),
            "not_deprived": float(known - deprived),
            "unknown": float(len(values) - known),
            "deprived_share_of_known": deprived / known if known else np.nan,
        }
    out = pd.DataFrame.from_dict(rows, orient="index")
    out.index.name = "deprivation"
    return out
