"""Choice lists of the synthetic Kobo form and the canonical code each choice maps to.

Each list is a tuple of ``(kobo_name, canonical_code, base_weight)``. ``kobo_name`` is the XML
value a "XML values and headers" export writes; ``canonical_code`` is the code of
:mod:`profiling.codelists` the mapping file (``profiling/mappings/demo_households.toml``) turns
it into; ``base_weight`` is the unnormalised share before the settlement / flood modifiers of
:mod:`sample_data.households`. The mapping files and the tests check the two stay in step.

The choice names imitate real questionnaires (``mabati`` for corrugated iron sheets in Kenyan
forms, ``tenant_verbal`` for a tenant without a written agreement...) so that the mapping has
real work to do.
"""

from __future__ import annotations

__all__ = [
    "ASSETS",
    "DOCUMENT",
    "FLOOR",
    "HANDWASH",
    "MIGRATION",
    "RELATION",
    "ROOF",
    "SEX",
    "STRUCTURE_USE",
    "TENURE",
    "TOILET",
    "UNKNOWN_CODES",
    "WALL",
    "WASTE",
    "WATER",
    "YES_NO",
    "Choice",
    "canonical",
    "names",
    "weights",
]

Choice = tuple[str, str, float]

YES_NO: tuple[Choice, ...] = (("yes", "true", 1.0), ("no", "false", 1.0))

SEX: tuple[Choice, ...] = (
    ("f", "female", 0.30),
    ("m", "male", 0.698),
    ("o", "other", 0.002),
)

MIGRATION: tuple[Choice, ...] = (
    ("born_here", "non_migrant", 0.55),
    ("moved_in_country", "internal_migrant", 0.34),
    ("moved_from_abroad", "international_migrant", 0.04),
    ("displaced", "idp", 0.03),
    ("refugee", "refugee", 0.025),
    ("returned", "returnee", 0.015),
)

WALL: tuple[Choice, ...] = (
    ("mabati", "iron_sheets", 0.42),
    ("mud_wattle", "bamboo_mud", 0.22),
    ("mud", "mud", 0.08),
    ("timber", "reused_wood", 0.06),
    ("stone", "stone_lime", 0.07),
    ("bricks", "bricks", 0.04),
    ("blocks", "cement_blocks", 0.07),
    ("polythene", "plastic", 0.025),
    ("cardboard", "cardboard", 0.005),
    ("other", "other", 0.01),
)

ROOF: tuple[Choice, ...] = (
    ("mabati", "iron_sheets", 0.86),
    ("tiles", "tiles", 0.02),
    ("concrete", "cement", 0.02),
    ("thatch", "thatch", 0.01),
    ("polythene", "plastic", 0.04),
    ("asbestos", "cement_fibre", 0.03),
    ("other", "other", 0.02),
)

FLOOR: tuple[Choice, ...] = (
    ("earth", "earth_sand", 0.45),
    ("cement", "cement", 0.49),
    ("tiles", "tiles", 0.02),
    ("wood", "wood_planks", 0.02),
    ("other", "other", 0.02),
)

WATER: tuple[Choice, ...] = (
    ("piped_dwelling", "piped_dwelling", 0.015),
    ("piped_yard", "piped_yard", 0.06),
    ("piped_neighbour", "piped_neighbour", 0.06),
    ("public_tap", "public_tap", 0.27),
    ("kiosk", "water_kiosk", 0.37),
    ("borehole", "borehole", 0.03),
    ("protected_well", "protected_well", 0.015),
    ("unprotected_well", "unprotected_well", 0.015),
    ("protected_spring", "protected_spring", 0.005),
    ("unprotected_spring", "unprotected_spring", 0.005),
    ("rainwater", "rainwater", 0.01),
    ("tanker", "tanker_truck", 0.005),
    ("cart", "cart_small_tank", 0.08),
    ("bottled", "bottled_water", 0.01),
    ("surface", "surface_water", 0.02),
    ("other", "other", 0.01),
)

TOILET: tuple[Choice, ...] = (
    ("flush_sewer", "flush_sewer", 0.05),
    ("flush_septic", "flush_septic", 0.04),
    ("flush_pit", "flush_pit", 0.03),
    ("flush_open", "flush_open", 0.03),
    ("vip", "pit_vip", 0.06),
    ("pit_slab", "pit_slab", 0.42),
    ("pit_open", "pit_no_slab", 0.18),
    ("composting", "composting", 0.01),
    ("cbs", "container_based", 0.04),
    ("bucket", "bucket", 0.02),
    ("hanging", "hanging", 0.02),
    ("none", "open_defecation", 0.05),
    ("other", "other", 0.01),
)

HANDWASH: tuple[Choice, ...] = (
    ("fixed", "fixed", 0.08),
    ("mobile", "mobile", 0.50),
    ("none", "none", 0.37),
    ("not_observed", "not_observed", 0.05),
)

WASTE: tuple[Choice, ...] = (
    ("door_collection", "collected_door", 0.12),
    ("communal_skip", "communal_point", 0.15),
    ("burn", "burned", 0.22),
    ("bury", "buried", 0.02),
    ("dump_open", "dumped_open", 0.36),
    ("dump_river", "dumped_water", 0.08),
    ("compost", "composted", 0.02),
    ("other", "other", 0.03),
)

TENURE: tuple[Choice, ...] = (
    ("tenant_verbal", "informal_rental", 0.56),
    ("tenant_written", "formal_rental", 0.05),
    ("owner_no_docs", "occupancy", 0.17),
    ("owner_perceived", "perceived", 0.05),
    ("squatter", "none", 0.01),
    ("customary", "customary", 0.02),
    ("cooperative", "group_tenure", 0.02),
    ("recognised", "anti_eviction", 0.03),
    ("allotment", "certificate_of_occupancy", 0.04),
    ("lease", "leasehold", 0.01),
    ("title", "registered_freehold", 0.01),
    ("joint_title", "joint_or_common", 0.005),
    ("other", "other", 0.015),
)

DOCUMENT: tuple[Choice, ...] = (
    ("title_deed", "title_deed", 0.0),
    ("lease", "lease", 0.0),
    ("certificate", "certificate", 0.0),
    ("allotment_letter", "allotment_letter", 0.0),
    ("rent_agreement", "rent_agreement", 0.0),
    ("sale_agreement", "sale_agreement", 0.0),
    ("chief_letter", "chief_letter", 0.0),
    ("none", "none", 0.0),
    ("other", "other", 0.0),
)
"""Weights depend on the tenure type: see ``_DOCUMENT_GIVEN_TENURE`` in households."""

ASSETS: tuple[Choice, ...] = (
    ("mobile_phone", "mobile_phone", 0.86),
    ("smartphone", "smartphone", 0.45),
    ("radio", "radio", 0.55),
    ("tv", "tv", 0.40),
    ("fridge", "fridge", 0.08),
    ("gas_cooker", "gas_cooker", 0.25),
    ("bicycle", "bicycle", 0.10),
    ("motorbike", "motorbike", 0.04),
    ("computer", "computer", 0.04),
    ("none", "none", 0.0),
)
"""Select-multiple; each weight is the probability a household owns the asset."""

RELATION: tuple[Choice, ...] = (
    ("head", "head", 0.0),
    ("spouse", "spouse", 0.0),
    ("child", "child", 0.0),
    ("grandchild", "grandchild", 0.0),
    ("parent", "parent", 0.0),
    ("sibling", "sibling", 0.0),
    ("other_relative", "other_relative", 0.0),
    ("non_relative", "non_relative", 0.0),
)
"""Relation to the household head (members repeat); kept as free text in the canonical layer."""

STRUCTURE_USE: tuple[Choice, ...] = (
    ("res", "residential", 0.80),
    ("mix", "mixed", 0.09),
    ("com", "commercial", 0.07),
    ("cf", "community", 0.02),
    ("vac", "empty", 0.02),
)
"""Structure use codes as written in the structures GeoPackage (``use`` attribute)."""

UNKNOWN_CODES: dict[str, str] = {"wash/water_source": "kiosk_private"}
"""Choice names injected as errors: added in a later form version, absent from the mapping."""


def names(choices: tuple[Choice, ...]) -> list[str]:
    """The Kobo choice names of a list, in order."""
    return [c[0] for c in choices]


def canonical(choices: tuple[Choice, ...]) -> dict[str, str]:
    """``{kobo_name: canonical_code}`` of a list."""
    return {c[0]: c[1] for c in choices}


def weights(choices: tuple[Choice, ...]) -> list[float]:
    """The base weights of a list, in order."""
    return [c[2] for c in choices]
