"""Code lists of the canonical schema, each with its source.

A code list maps a canonical code to its label and the class it belongs to (improved or not,
durable or not, secure or not). Analyses read the classes from here, never from ad hoc string
tests, so a definition changes in one place.

References
----------
.. [JMP2018] WHO/UNICEF Joint Monitoring Programme, *Core questions on drinking water,
   sanitation and hygiene for household surveys: 2018 update*, and the JMP service ladders
   (https://washdata.org/monitoring/methods). Improved drinking-water sources and improved
   sanitation facilities are those "that by nature of their design and construction have the
   potential to deliver safe water / hygienically separate excreta from human contact".
.. [GLTN2012] UN-Habitat / Global Land Tool Network, *Handling land: innovative tools for land
   governance and secure tenure* (2012), the continuum of land rights: from perceived and
   customary tenure through occupancy and anti-eviction rights to leasehold and registered
   freehold.
.. [STDM] GLTN Social Tenure Domain Model (ISO 19152 LADM profile) and Cadasta Foundation
   platform tenure relationship types (``FH`` freehold, ``LH`` leasehold, ``OC`` occupancy with
   no documented rights, ``TN`` tenancy / documented sub-lease, ``CU`` customary rights...).
.. [DHS] The DHS Program, *Guide to DHS Statistics* (2018), §2.4 housing characteristics:
   natural, rudimentary and finished floor, wall and roof materials.
.. [UNH2018] UN-Habitat, *SDG Indicator 11.1.1 training module: adequate housing and slum
   upgrading* (2018): durable housing is "a permanent and adequate structure in a non-hazardous
   location", judged from finished wall, roof and floor materials.
.. [KYC] Slum Dwellers International, *Know Your City* settlement profiling questionnaire.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

__all__ = [
    "DRINKING_WATER",
    "EVICTION_THREAT",
    "HANDWASHING",
    "HAZARD_TYPES",
    "HEAD_SEX",
    "LEGAL_STATUS",
    "MATERIALS",
    "MIGRATION_STATUS",
    "PROJECT_STATUS",
    "PROJECT_TYPES",
    "SANITATION",
    "SERVICE_TYPES",
    "STREET_CLASSES",
    "STRUCTURE_USE",
    "TENURE_DOCUMENTS",
    "TENURE_TYPES",
    "WASTE_DISPOSAL",
    "Code",
    "codes",
]


@dataclass(frozen=True, slots=True)
class Code:
    """One allowed value of a coded field.

    Attributes
    ----------
    code : str
        The canonical code stored in the database.
    label : str
        English label.
    group : str
        The class the code belongs to in the reference classification (e.g. ``improved``,
        ``unimproved``, ``surface_water`` for water; ``finished`` for materials).
    aliases : tuple of str
        Other standard codes for the same thing (e.g. Cadasta's ``FH``), accepted by mappings.
    """

    code: str
    label: str
    group: str = ""
    aliases: tuple[str, ...] = ()


def _table(*items: Code) -> Mapping[str, Code]:
    return MappingProxyType({c.code: c for c in items})


def codes(table: Mapping[str, Code]) -> frozenset[str]:
    """The set of canonical codes of a code list."""
    return frozenset(table)


# -- Water, sanitation, hygiene [JMP2018] ------------------------------------------------------

DRINKING_WATER = _table(
    Code("piped_dwelling", "Piped water into dwelling", "improved"),
    Code("piped_yard", "Piped water to yard / plot", "improved"),
    Code("piped_neighbour", "Piped water to neighbour", "improved"),
    Code("public_tap", "Public tap / standpipe", "improved"),
    Code("water_kiosk", "Water kiosk (piped supply)", "improved"),
    Code("borehole", "Tube well / borehole", "improved"),
    Code("protected_well", "Protected dug well", "improved"),
    Code("unprotected_well", "Unprotected dug well", "unimproved"),
    Code("protected_spring", "Protected spring", "improved"),
    Code("unprotected_spring", "Unprotected spring", "unimproved"),
    Code("rainwater", "Rainwater collection", "improved"),
    Code("tanker_truck", "Tanker truck", "improved"),
    Code("cart_small_tank", "Cart with small tank / drum / vendor", "improved"),
    Code("bottled_water", "Bottled water", "improved"),
    Code("sachet_water", "Sachet water", "improved"),
    Code("surface_water", "Surface water (river, dam, lake, pond, stream, canal)", "surface_water"),
    Code("other", "Other", "unknown"),
)
"""Main source of drinking water (JMP core question W1). Groups: improved / unimproved /
surface_water; 'limited' vs 'basic' further depends on collection time (≤ 30 min round trip)."""

SANITATION = _table(
    Code("flush_sewer", "Flush / pour flush to piped sewer system", "improved"),
    Code("flush_septic", "Flush / pour flush to septic tank", "improved"),
    Code("flush_pit", "Flush / pour flush to pit latrine", "improved"),
    Code("flush_unknown", "Flush / pour flush, don't know where", "improved"),
    Code("flush_open", "Flush / pour flush to open drain or elsewhere", "unimproved"),
    Code("pit_vip", "Ventilated improved pit latrine (VIP)", "improved"),
    Code("pit_slab", "Pit latrine with slab", "improved"),
    Code("pit_no_slab", "Pit latrine without slab / open pit", "unimproved"),
    Code("composting", "Composting toilet", "improved"),
    Code("container_based", "Container-based sanitation", "improved"),
    Code("bucket", "Bucket", "unimproved"),
    Code("hanging", "Hanging toilet / hanging latrine", "unimproved"),
    Code("open_defecation", "No facility / bush / field / flying toilet", "open_defecation"),
    Code("other", "Other", "unknown"),
)
"""Type of sanitation facility (JMP core question S1). Improved facilities shared with other
households count as 'limited' on the JMP ladder."""

HANDWASHING = _table(
    Code("fixed", "Fixed facility observed (sink / tap) in dwelling, yard or plot", "facility"),
    Code("mobile", "Mobile object observed (bucket / jug / kettle)", "facility"),
    Code("none", "No handwashing place in dwelling, yard or plot", "none"),
    Code("not_observed", "Not observed (no permission / other reason)", "unknown"),
)
"""Place for handwashing (JMP core question H1); 'basic' needs water and soap present."""

WASTE_DISPOSAL = _table(
    Code(
        "collected_door", "Collected from the dwelling by a formal or informal service", "collected"
    ),
    Code("communal_point", "Taken to a communal skip / collection point", "collected"),
    Code("burned", "Burned", "uncollected"),
    Code("buried", "Buried", "uncollected"),
    Code("dumped_open", "Dumped in the open / street / vacant plot", "uncollected"),
    Code("dumped_water", "Dumped into a drain, river or the sea", "uncollected"),
    Code("composted", "Composted / recycled at home", "uncollected"),
    Code("other", "Other", "unknown"),
)
"""Household solid-waste disposal (UN-Habitat Waste Wise Cities Tool, SDG 11.6.1 household
step): 'collected' counts toward regular collection when collection is at least weekly."""

# -- Land tenure [GLTN2012], [STDM] -------------------------------------------------------------

TENURE_TYPES = _table(
    Code("none", "No rights: pavement dweller, squatting with active eviction", "insecure"),
    Code("perceived", "Perceived tenure, de facto, no documents", "insecure"),
    Code("customary", "Customary rights", "intermediate", ("CU",)),
    Code("occupancy", "Occupancy / adverse possession, no documented rights", "insecure", ("OC",)),
    Code("informal_rental", "Informal rental without written agreement", "insecure"),
    Code("anti_eviction", "Recognised occupation / anti-eviction protection", "intermediate"),
    Code("group_tenure", "Group or cooperative tenure", "intermediate"),
    Code(
        "formal_rental", "Rental with written agreement / documented sub-lease", "secure", ("TN",)
    ),
    Code("certificate_of_occupancy", "Certificate of occupancy / allotment letter", "secure"),
    Code("leasehold", "Registered leasehold", "secure", ("LH", "LL")),
    Code("registered_freehold", "Registered freehold / title", "secure", ("FH",)),
    Code(
        "joint_or_common", "Joint tenancy / tenancy in common (registered)", "secure", ("JT", "TC")
    ),
    Code("other", "Other", "unknown"),
)
"""Position on the continuum of land rights, ordered from least to most formal. The group
says how SDG 1.4.2's *documented* security reads it; perceived security is asked separately."""

TENURE_DOCUMENTS = _table(
    Code("title_deed", "Title deed", "legally_recognised"),
    Code("lease", "Registered lease", "legally_recognised"),
    Code("certificate", "Certificate of occupancy / customary certificate", "legally_recognised"),
    Code("allotment_letter", "Allotment letter from local authority", "legally_recognised"),
    Code("rent_agreement", "Written rental agreement", "legally_recognised"),
    Code("sale_agreement", "Informal sale agreement / receipt", "other_document"),
    Code("chief_letter", "Letter from chief / elder", "other_document"),
    Code("none", "No document", "none"),
    Code("other", "Other", "unknown"),
)
"""Documentation of tenure (SDG 1.4.2 metadata: 'legally recognised documentation')."""

# -- Housing [DHS], [UNH2018] ----------------------------------------------------------------

MATERIALS = _table(
    # walls
    Code("no_walls", "No walls", "natural"),
    Code("mud", "Mud / dirt / mud and sticks", "natural"),
    Code("cane_palm", "Cane / palm / trunks", "natural"),
    Code("bamboo_mud", "Bamboo with mud / wattle and daub", "rudimentary"),
    Code("stone_mud", "Stone with mud", "rudimentary"),
    Code("uncovered_adobe", "Uncovered adobe / unburnt brick", "rudimentary"),
    Code("plywood", "Plywood", "rudimentary"),
    Code("cardboard", "Cardboard / paper", "rudimentary"),
    Code("plastic", "Plastic sheets / tarpaulin", "rudimentary"),
    Code("reused_wood", "Reused wood / off-cuts", "rudimentary"),
    Code("rustic_metal", "Rustic / reused metal sheets (DHS: rudimentary)", "rudimentary"),
    Code("iron_sheets", "Corrugated iron / metal sheets in good condition", "finished"),
    Code("cement", "Cement / concrete", "finished"),
    Code("stone_lime", "Stone with lime or cement", "finished"),
    Code("bricks", "Fired bricks", "finished"),
    Code("cement_blocks", "Cement blocks", "finished"),
    Code("covered_adobe", "Covered (plastered) adobe", "finished"),
    Code("wood_planks", "Wood planks / shingles", "finished"),
    # roofs and floors
    Code("no_roof", "No roof", "natural"),
    Code("thatch", "Thatch / palm leaf / grass", "natural"),
    Code("earth_sand", "Earth / sand / dung (floor)", "natural"),
    Code("rustic_mat", "Rustic mat", "rudimentary"),
    Code("cement_fibre", "Cement fibre / asbestos sheets", "finished"),
    Code("tiles", "Ceramic / clay tiles", "finished"),
    Code("vinyl", "Vinyl / asphalt strips / parquet (floor)", "finished"),
    Code("other", "Other", "unknown"),
)
"""Wall, roof and floor materials with the DHS class: ``finished`` counts as durable in the
11.1.1 durable-housing deprivation; ``natural`` and ``rudimentary`` do not."""

STRUCTURE_USE = _table(
    Code("residential", "Residential"),
    Code("commercial", "Business / shop"),
    Code("mixed", "Residential and business"),
    Code("community", "Community facility: school, clinic, church, hall"),
    Code("empty", "Empty / under construction"),
    Code("other", "Other"),
)

# -- People ---------------------------------------------------------------------------------

HEAD_SEX = _table(
    Code("female", "Female"),
    Code("male", "Male"),
    Code("other", "Other / prefers not to say"),
)

MIGRATION_STATUS = _table(
    Code("non_migrant", "Born in this city / lived here ≥ 5 years", "host"),
    Code("internal_migrant", "Moved from elsewhere in the country within 5 years", "migrant"),
    Code("international_migrant", "Moved from another country", "migrant"),
    Code("idp", "Internally displaced person", "displaced"),
    Code("refugee", "Refugee / asylum seeker", "displaced"),
    Code("returnee", "Returnee", "displaced"),
)

# -- Settlements [KYC] ------------------------------------------------------------------------

LEGAL_STATUS = _table(
    Code("legal", "Declared / recognised legal settlement", "recognised"),
    Code("partly_legal", "Parts recognised / in regularisation", "partial"),
    Code("not_legal", "Not recognised (informal)", "unrecognised"),
    Code("unknown", "Unknown"),
)

EVICTION_THREAT = _table(
    Code("none", "No threat known", "none"),
    Code("rumoured", "Rumours / perceived threat", "low"),
    Code("notice", "Eviction notice served or court case", "high"),
    Code("ongoing", "Eviction under way or partly evicted", "high"),
    Code("unknown", "Unknown"),
)

# -- Services, streets, hazards, projects -----------------------------------------------------

SERVICE_TYPES = _table(
    Code("water_point", "Water point (tap, kiosk, borehole, well)"),
    Code("toilet", "Toilet / latrine block"),
    Code("waste_point", "Waste skip / collection point / dump site"),
    Code("health", "Health facility"),
    Code("school", "School"),
    Code("transit_stop", "Public transport stop (SDG 11.2.1)"),
    Code("open_space", "Public open space (SDG 11.7.1)"),
)

STREET_CLASSES = _table(
    Code("primary", "Primary / arterial road", "motorable"),
    Code("secondary", "Secondary road", "motorable"),
    Code("tertiary", "Tertiary / collector road", "motorable"),
    Code("residential", "Residential / unclassified street", "motorable"),
    Code("service", "Service / access lane", "motorable"),
    Code("track", "Track (unpaved, vehicles possible)", "motorable"),
    Code("footpath", "Footpath / alley / pedestrian way", "pedestrian"),
    Code("steps", "Steps", "pedestrian"),
    Code("bridge_foot", "Footbridge", "pedestrian"),
)

HAZARD_TYPES = _table(
    Code("flood", "Flooding (riverine, pluvial, coastal)"),
    Code("erosion", "Gully erosion"),
    Code("landslide", "Landslide / unstable slope"),
    Code("fire", "Fire"),
    Code("industrial", "Industrial pollution / dump site"),
    Code("infrastructure", "Rail, power line or pipeline reserve"),
    Code("other", "Other"),
)

PROJECT_TYPES = _table(
    Code("water", "Water supply"),
    Code("sanitation", "Sanitation / toilets"),
    Code("drainage", "Drainage / flood protection"),
    Code("street", "Street, footpath or footbridge"),
    Code("waste", "Solid waste"),
    Code("electricity", "Electricity / street lighting"),
    Code("housing", "Housing improvement"),
    Code("community_facility", "Community facility"),
    Code("other", "Other"),
)

PROJECT_STATUS = _table(
    Code("planned", "Planned"),
    Code("ongoing", "Under way"),
    Code("completed", "Completed"),
    Code("cancelled", "Cancelled"),
)
