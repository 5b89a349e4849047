"""Canonical layers: their fields, types, allowed codes and what is required.

Every reader maps a source (a Kobo form, a Shapefile, ...) onto one of these layers through a
declared mapping (:mod:`profiling.ingest.mapping`); validation checks frames against them
(:mod:`profiling.validate`); the store creates one table per layer from them.

Vector layers are stored in EPSG:4326 (lon/lat, RFC 7946 axis order). Every stored record also
carries the provenance columns of :data:`PROVENANCE_FIELDS`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Literal

from profiling import codelists as cl

__all__ = [
    "LAYERS",
    "PROVENANCE_FIELDS",
    "RASTER_KINDS",
    "Field",
    "LayerSchema",
    "RasterKind",
    "layer_schema",
]

DType = Literal["str", "int", "float", "bool", "date", "codes"]
"""Field types. ``codes`` is a select_multiple: a space-separated list of codes."""

GeometryType = Literal["Point", "Polygon", "LineString", "Any"]


@dataclass(frozen=True, slots=True)
class Field:
    """One column of a canonical layer.

    Attributes
    ----------
    name : str
        Canonical column name (snake_case, units as suffix: ``_m``, ``_min``, ``_ha``).
    dtype : {"str", "int", "float", "bool", "date", "codes"}
        Stored type.
    description : str
        What it means, with its unit.
    required : bool
        A row without a value is an error.
    codes : frozenset of str or None
        Allowed values for a coded field (``str`` or ``codes``); ``None`` means free values.
    minimum, maximum : float or None
        Plausible range for numbers; outside it is a warning.
    personal : bool
        A personal identifier (name, phone, ID number): kept apart from analysis layers and
        never served to roles that must not see it.
    """

    name: str
    dtype: DType
    description: str
    required: bool = False
    codes: frozenset[str] | None = None
    minimum: float | None = None
    maximum: float | None = None
    personal: bool = False


@dataclass(frozen=True, slots=True)
class LayerSchema:
    """A canonical layer: its name, geometry, key and fields."""

    name: str
    description: str
    geometry: GeometryType | None
    key: str
    fields: tuple[Field, ...]
    geometry_required: bool = True
    parent: str | None = None  # layer whose key this layer references (members -> households)

    def field(self, name: str) -> Field:
        """The field called ``name`` (KeyError when unknown)."""
        for f in self.fields:
            if f.name == name:
                return f
        raise KeyError(f"layer {self.name!r} has no field {name!r}")

    @property
    def names(self) -> tuple[str, ...]:
        """Field names in declared order."""
        return tuple(f.name for f in self.fields)

    @property
    def required(self) -> tuple[str, ...]:
        """Names of required fields."""
        return tuple(f.name for f in self.fields if f.required)


@dataclass(frozen=True, slots=True)
class RasterKind:
    """A kind of raster layer the service accepts (GeoTIFF)."""

    name: str
    description: str
    unit: str
    dtypes: frozenset[str] = field(
        default_factory=lambda: frozenset(
            {"uint8", "int16", "uint16", "int32", "float32", "float64"}
        )
    )


# -- Helpers to declare fields tersely ---------------------------------------------------------


def _s(name: str, desc: str, **kw: object) -> Field:
    return Field(name, "str", desc, **kw)  # type: ignore[arg-type]


def _i(name: str, desc: str, **kw: object) -> Field:
    return Field(name, "int", desc, minimum=kw.pop("minimum", 0), **kw)  # type: ignore[arg-type]


def _f(name: str, desc: str, **kw: object) -> Field:
    return Field(name, "float", desc, **kw)  # type: ignore[arg-type]


def _b(name: str, desc: str, **kw: object) -> Field:
    return Field(name, "bool", desc, **kw)  # type: ignore[arg-type]


def _c(name: str, desc: str, table: object, **kw: object) -> Field:
    return Field(name, "str", desc, codes=cl.codes(table), **kw)  # type: ignore[arg-type]


def _d(name: str, desc: str, **kw: object) -> Field:
    return Field(name, "date", desc, **kw)  # type: ignore[arg-type]


_SETTLEMENT_REF = _s("settlement_id", "Settlement the record belongs to", required=True)

SETTLEMENTS = LayerSchema(
    "settlements",
    "Informal settlements (slums) with their boundary and, where no household enumeration "
    "exists, the Know Your City style profile counts collected by the federation.",
    "Polygon",
    "settlement_id",
    (
        _s("settlement_id", "Stable settlement identifier", required=True),
        _s("name", "Settlement name"),
        _s("city", "City"),
        _s("country", "Country, ISO 3166-1 alpha-3"),
        _f(
            "area_ha",
            "Area reported by the profile (ha); the geometry's area is computed",
            minimum=0,
        ),
        _i("structures", "Number of structures (profile count)"),
        _i("households", "Number of households (profile count)"),
        _i("population", "Number of people (profile count)"),
        _i("taps_total", "Water taps in or serving the settlement"),
        _i("taps_working", "Water taps working on the profile date"),
        _i("toilet_seats_total", "Toilet seats in or serving the settlement"),
        _i("toilet_seats_working", "Toilet seats working on the profile date"),
        _c("legal_status", "Legal status of the settlement", cl.LEGAL_STATUS),
        _c("eviction_threat", "Eviction threat", cl.EVICTION_THREAT),
        _f(
            "garbage_collections_per_week",
            "Solid-waste collections per week",
            minimum=0,
            maximum=21,
        ),
        _i("year_established", "Year the settlement was established", minimum=1800, maximum=2100),
        _d("profile_date", "Date the profile counts were collected"),
    ),
    geometry_required=False,
)

STRUCTURES = LayerSchema(
    "structures",
    "Buildings / structures: footprint polygon (or a point), use, materials and the counts "
    "enumerated per structure.",
    "Any",
    "structure_id",
    (
        _s("structure_id", "Stable structure identifier (e.g. the painted number)", required=True),
        _SETTLEMENT_REF,
        _c("use", "Main use of the structure", cl.STRUCTURE_USE),
        _i("households", "Households living in the structure"),
        _i("population", "People living in the structure"),
        _i("rooms", "Rooms in the structure"),
        _i("storeys", "Storeys above ground", minimum=1, maximum=60),
        _i("businesses", "Business units"),
        _i("owner_households", "Owner-occupier households"),
        _i("households_water", "Households supplied with water in the structure"),
        _i("households_toilet", "Households with a toilet"),
        _i("households_electricity", "Households supplied with electricity"),
        _c("wall_material", "Main wall material", cl.MATERIALS),
        _c("roof_material", "Main roof material", cl.MATERIALS),
        _c("floor_material", "Main floor material", cl.MATERIALS),
        _f("rent_per_room_month", "Mean monthly rent per room (local currency)", minimum=0),
        _s("currency", "ISO 4217 currency of rents"),
        _d("enumerated_on", "Date of enumeration"),
    ),
)

HOUSEHOLDS = LayerSchema(
    "households",
    "Enumerated households: one row per household, a GPS point, the questionnaire answers "
    "mapped onto JMP, tenure and housing code lists.",
    "Point",
    "household_id",
    (
        _s("household_id", "Household identifier (the submission uuid when none)", required=True),
        _s("submission_uuid", "Kobo `_uuid` / ODK instanceID of the submission"),
        _SETTLEMENT_REF,
        _s("structure_id", "Structure the household lives in"),
        _d("enumerated_on", "Date of the interview"),
        _f("gps_accuracy_m", "GPS accuracy reported by the device (m)", minimum=0),
        _s("head_name", "Name of the household head", personal=True),
        _s("phone", "Phone number", personal=True),
        _s("national_id", "ID document number", personal=True),
        _c("head_sex", "Sex of the household head", cl.HEAD_SEX),
        _i("head_age", "Age of the household head (years)", minimum=10, maximum=110),
        _i(
            "household_size",
            "Usual members of the household (people); forms without it give a members roster",
            minimum=1,
            maximum=40,
        ),
        _i("adults", "Members aged 18 or more"),
        _i("children", "Members under 18"),
        _i("females", "Female members"),
        _i("males", "Male members"),
        _c(
            "migration_status",
            "Migration / displacement status of the household",
            cl.MIGRATION_STATUS,
        ),
        _i(
            "sleeping_rooms",
            "Rooms used for sleeping (UN-Habitat: overcrowded > 3 per room)",
            maximum=30,
        ),
        _c("wall_material", "Main wall material", cl.MATERIALS),
        _c("roof_material", "Main roof material", cl.MATERIALS),
        _c("floor_material", "Main floor material", cl.MATERIALS),
        _c("water_source", "Main source of drinking water (JMP W1)", cl.DRINKING_WATER),
        _f(
            "water_trip_min",
            "Round trip to collect water incl. queuing (min; JMP W2)",
            minimum=0,
            maximum=1440,
        ),
        _f("water_queue_min", "Time queuing at the water point (min)", minimum=0, maximum=1440),
        _b("water_available", "Water available when needed in the last month (JMP W4)"),
        _c("sanitation", "Type of sanitation facility (JMP S1)", cl.SANITATION),
        _b("toilet_shared", "Facility shared with other households (JMP S3)"),
        _i("toilet_sharing_households", "Households sharing the facility"),
        _i("toilet_users", "Household members who use the facility"),
        _c("handwashing", "Place for handwashing (JMP H1)", cl.HANDWASHING),
        _b("handwashing_water", "Water present at the handwashing place (JMP H2)"),
        _b("handwashing_soap", "Soap or detergent present (JMP H3)"),
        _c("waste_disposal", "Usual disposal of household solid waste", cl.WASTE_DISPOSAL),
        _f("waste_collections_per_week", "Solid-waste collections per week", minimum=0, maximum=21),
        _c("tenure_type", "Position on the continuum of land rights", cl.TENURE_TYPES),
        _c("tenure_document", "Documentation of tenure (SDG 1.4.2)", cl.TENURE_DOCUMENTS),
        _b("tenure_secure_perceived", "Household does not fear losing its home (SDG 1.4.2)"),
        _b("eviction_threat", "Household has been threatened with eviction"),
        _f("rent_month", "Monthly rent paid (local currency)", minimum=0),
        _b("electricity", "Household has electricity"),
        Field("assets", "codes", "Assets owned (space-separated codes)"),
    ),
    geometry_required=False,  # survey exports may omit GPS: counted, not mapped
)

MEMBERS = LayerSchema(
    "members",
    "Optional roster of household members (a repeat group): sex and age give the "
    "disaggregations of people-based indicators.",
    None,
    "member_id",
    (
        _s("member_id", "Member identifier (submission key + repeat index)", required=True),
        _s("household_id", "Household the member belongs to", required=True),
        _SETTLEMENT_REF,
        _s("name", "Member name", personal=True),
        _c("sex", "Sex", cl.HEAD_SEX),
        _i("age", "Age (years)", maximum=120),
        _s("relation_to_head", "Relation to the household head"),
        _b("disability", "Has a disability (Washington Group short set)"),
        _b("in_school", "Currently attends school"),
        _b("employed", "Worked in the last 7 days"),
    ),
    geometry_required=False,
    parent="households",
)

SERVICE_POINTS = LayerSchema(
    "service_points",
    "Service points: water points, toilets, waste points, clinics, schools, transit stops "
    "and open spaces, functional or not.",
    "Point",
    "service_id",
    (
        _s("service_id", "Service point identifier", required=True),
        _c("service_type", "Type of service", cl.SERVICE_TYPES, required=True),
        _s("subtype", "Finer type (e.g. the JMP water source or sanitation code)"),
        _s("name", "Name"),
        _s("settlement_id", "Settlement served, when known"),
        _b("functional", "Working on the survey date"),
        _i("taps_total", "Taps (water points)"),
        _i("taps_working", "Working taps"),
        _i("seats_total", "Toilet seats / cubicles"),
        _i("seats_working", "Working toilet seats"),
        _b("fee", "A fee is charged per use"),
        _f("cost_per_use", "Cost per use / per 20 l jerrican (local currency)", minimum=0),
        _s("operator", "Operator: utility, CBO, private vendor..."),
        _f("capacity_m3", "Capacity of a waste skip or tank (m³)", minimum=0),
        _d("surveyed_on", "Survey date"),
    ),
)

STREETS = LayerSchema(
    "streets",
    "Street and footpath network as lines, used for access along streets and blocks.",
    "LineString",
    "street_id",
    (
        _s("street_id", "Street segment identifier", required=True),
        _c("street_class", "Class of street or path", cl.STREET_CLASSES),
        _s("name", "Street name"),
        _s("surface", "Surface (paved, unpaved, ...)"),
        _f("width_m", "Width (m)", minimum=0, maximum=100),
        _b("motorable", "Passable by vehicles (fire trucks, garbage trucks)"),
    ),
)

HAZARD_ZONES = LayerSchema(
    "hazard_zones",
    "Vector hazard zones: flood extents, erosion gullies, landslide areas.",
    "Polygon",
    "hazard_id",
    (
        _s("hazard_id", "Hazard zone identifier", required=True),
        _c("hazard_type", "Type of hazard", cl.HAZARD_TYPES, required=True),
        _s("hazard_level", "Level or class as given by the source (e.g. high)"),
        _f("depth_m", "Representative flood depth (m)", minimum=0),
        _s("source", "Who mapped it"),
        _d("observed_on", "Date observed or modelled"),
    ),
)

BUILDINGS = LayerSchema(
    "buildings",
    "Building footprints of the whole city from open datasets (OpenStreetMap, Google Open "
    "Buildings, Microsoft, Overture) or a survey; no household data. Input of block street "
    "access and the informality model.",
    "Polygon",
    "building_id",
    (
        _s(
            "building_id",
            "Building identifier (e.g. the OSM id or the dataset's id)",
            required=True,
        ),
        _s("source", "Dataset the footprint comes from: osm, google, microsoft, overture, survey"),
        _s("building", "OSM building tag or use (yes, house, residential, commercial, ...)"),
        _i("levels", "Storeys above ground (OSM building:levels)", minimum=1, maximum=200),
        _f("height_m", "Height (m)", minimum=0, maximum=1000),
        _f("confidence", "Detection confidence, 0-1 (Google Open Buildings)", minimum=0, maximum=1),
        _s(
            "settlement_id",
            "Settlement the building lies in, when known (survey footprints); its rows are "
            "then shown only to those who may see the settlement",
        ),
    ),
)

BUILT_UP = LayerSchema(
    "built_up",
    "Built-up area per epoch (one polygon layer per epoch, or a first-built-epoch raster "
    "registered as a raster of kind built_up_epoch).",
    "Polygon",
    "built_up_id",
    (
        _s("built_up_id", "Identifier", required=True),
        _i("epoch", "Year of the epoch", required=True, minimum=1900, maximum=2100),
        _s("source", "Source (survey, GHSL, WSF...)"),
    ),
)

PROJECTS = LayerSchema(
    "projects",
    "Community infrastructure projects (Cities Alliance Tier III) with their catchment.",
    "Any",
    "project_id",
    (
        _s("project_id", "Project identifier", required=True),
        _s("name", "Project name", required=True),
        _c("project_type", "Type of project", cl.PROJECT_TYPES, required=True),
        _c("status", "Status", cl.PROJECT_STATUS),
        _s("settlement_id", "Settlement where it is built"),
        _d("start_date", "Start date"),
        _d("end_date", "Completion date"),
        _f("budget_usd", "Budget (USD)", minimum=0),
        _f(
            "catchment_m",
            "Catchment radius around the project (m) when no polygon is given",
            minimum=0,
        ),
        _i("beneficiaries_reported", "Direct beneficiaries reported by the implementer"),
    ),
    geometry_required=False,
)

LAYERS: dict[str, LayerSchema] = {
    s.name: s
    for s in (
        SETTLEMENTS,
        STRUCTURES,
        HOUSEHOLDS,
        MEMBERS,
        SERVICE_POINTS,
        STREETS,
        HAZARD_ZONES,
        BUILDINGS,
        BUILT_UP,
        PROJECTS,
    )
}
"""Every canonical vector / table layer, by name."""

PROVENANCE_FIELDS: tuple[Field, ...] = (
    Field("upload_id", "int", "Upload that brought the record", required=True),
    Field("round", "str", "Enumeration round: a dated snapshot of a settlement (ISO date)"),
    Field("source_sha256", "str", "SHA-256 of the uploaded file", required=True),
    Field("source_row", "int", "1-based data row in the source file"),
    Field("attributes", "str", "JSON of source columns the mapping did not map (kept, not lost)"),
)
"""Columns the store adds to every record."""

RASTER_KINDS: dict[str, RasterKind] = {
    k.name: k
    for k in (
        RasterKind("flood_depth", "Modelled or observed flood depth", "m"),
        RasterKind("hazard_index", "Other hazard intensity or relative proneness class", "class"),
        RasterKind("elevation", "Terrain elevation (DEM)", "m"),
        RasterKind("built_up_epoch", "Year each cell was first built up (GHSL-style)", "year"),
        RasterKind("population", "Population per cell", "people"),
    )
}
"""Kinds of GeoTIFF layers accepted."""


def layer_schema(name: str) -> LayerSchema:
    """The canonical layer called ``name``.

    Raises
    ------
    KeyError
        With the list of known layers when ``name`` is unknown.
    """
    try:
        return LAYERS[name]
    except KeyError:
        raise KeyError(f"unknown layer {name!r}; known layers: {', '.join(LAYERS)}") from None
