"""Who may read what: the access policy, as data (no web framework here).

Roles (:class:`geo_service.servicedb.Role`):

============  ===================================================================================
role          may
============  ===================================================================================
admin         everything
federation    upload; read household-level layers (with personal fields) of its **own**
              settlements; everything public
planner       read every layer of visible settlements, household-level without personal fields
mel           indicators, targets; the public layers
public        (no key) settlement- and city-level aggregates of published settlements, small
              cells suppressed; the public layers
============  ===================================================================================

*Visible settlements*: a federation owns the settlements it uploads (or an admin assigns), and
a settlement appears to anyone but its owner and admins only once published
(:meth:`geo_service.servicedb.ServiceDB.set_published`); settlements with no owner record (open
data loaded by an admin) are visible. A settlement that is not visible does not exist for the
caller (404, never 403: its existence is not revealed).

Personal fields (``personal=True`` in :mod:`profiling.schema`: names, phone numbers, ID
numbers) reach only admins and the owning federation; household-level layers (with exact
household coordinates) never reach MEL or public callers.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from types import MappingProxyType

from geo_service.servicedb import Role
from profiling.schema import LAYERS

__all__ = [
    "HOUSEHOLD_LEVEL_LAYERS",
    "LAYER_ROLES",
    "PUBLIC",
    "Principal",
    "SettlementScope",
    "can_read_layer",
    "personal_allowed",
    "visible_settlements",
]

HOUSEHOLD_LEVEL_LAYERS: frozenset[str] = frozenset({"households", "members", "structures"})
"""Layers with one row per household, person or dwelling: reads are audited."""

_ALL = frozenset(Role)
_STAFF = frozenset({Role.admin, Role.federation, Role.planner})

LAYER_ROLES: Mapping[str, frozenset[Role]] = MappingProxyType(
    {name: (_STAFF if name in HOUSEHOLD_LEVEL_LAYERS else _ALL) for name in LAYERS}
)
"""Layer → the roles that may read it at all (rows are then filtered by settlement)."""


@dataclass(frozen=True)
class Principal:
    """The caller of a request."""

    role: Role
    org: str | None = None
    key_id: str | None = None

    @property
    def is_admin(self) -> bool:
        """An admin sees and may do everything."""
        return self.role is Role.admin


PUBLIC = Principal(Role.public)
"""The anonymous caller."""


def can_read_layer(principal: Principal, layer: str) -> bool:
    """Whether the role may read ``layer`` at all."""
    return principal.role in LAYER_ROLES.get(layer, frozenset())


def personal_allowed(principal: Principal, settlement_owner: str | None) -> bool:
    """Personal fields: admins, and the federation owning the settlement."""
    if principal.is_admin:
        return True
    return principal.role is Role.federation and settlement_owner == principal.org


@dataclass(frozen=True)
class SettlementScope:
    """Which rows (by ``settlement_id``) a caller may see.

    ``only`` set: just the rows of these settlements. Otherwise every row except those of
    the ``hidden`` settlements (rows without a settlement, e.g. streets, are visible).
    """

    only: frozenset[str] | None = None
    hidden: frozenset[str] = frozenset()

    def allows(self, settlement_id: str | None) -> bool:
        """Whether rows of ``settlement_id`` are visible."""
        if self.only is not None:
            return settlement_id in self.only
        return settlement_id not in self.hidden


def visible_settlements(
    principal: Principal, owners: Mapping[str, tuple[str, bool]], *, household_level: bool
) -> SettlementScope:
    """The settlements whose rows the caller may see (see the module docstring).

    Parameters
    ----------
    principal : Principal
    owners : mapping
        Settlement id → (owning organisation, published), from
        :meth:`geo_service.servicedb.ServiceDB.owners`.
    household_level : bool
        Reading a household-level layer: a federation then sees only its own settlements.

    Examples
    --------
    >>> owners = {"A": ("fed1", False), "B": ("fed2", True), "C": ("fed2", False)}
    >>> sorted(visible_settlements(Principal(Role.planner), owners, household_level=True).hidden)
    ['A', 'C']
    >>> fed = Principal(Role.federation, org="fed1")
    >>> visible_settlements(fed, owners, household_level=True).only
    frozenset({'A'})
    """
    if principal.is_admin:
        return SettlementScope()
    if principal.role is Role.federation:
        if household_level:
            return SettlementScope(
                only=frozenset(s for s, (org, _) in owners.items() if org == principal.org)
            )
        return SettlementScope(
            hidden=frozenset(
                s for s, (org, pub) in owners.items() if org != principal.org and not pub
            )
        )
    return SettlementScope(hidden=frozenset(s for s, (_, pub) in owners.items() if not pub))
