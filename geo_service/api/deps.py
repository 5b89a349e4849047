"""Shared objects of the application and the FastAPI dependencies that hand them out."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Annotated

from fastapi import Depends, Header, HTTPException, Request, status

from geo_service.access import PUBLIC, Principal, SettlementScope, visible_settlements
from geo_service.jobs import JobRunner
from geo_service.model_service import ModelShelf
from geo_service.servicedb import Role, ServiceDB
from geo_service.settings import Settings
from geo_service.storage import Store, open_store

__all__ = [
    "Caller",
    "Services",
    "audit",
    "get_principal",
    "get_services",
    "require",
    "settlement_scope",
]


@dataclass
class Services:
    """What every request may need: settings, the data store, the service database, the
    background job runner, the trained models and the hooks run after each stored upload."""

    settings: Settings
    store: Store
    db: ServiceDB
    jobs: JobRunner
    models: ModelShelf = field(default_factory=ModelShelf)
    """The trained models loaded at start (``Settings.models_folder``)."""
    after_upload: list[Callable[[Services, list[str]], None]] = field(default_factory=list)
    """Called in a follow-up job (never on a request thread) with the settlement ids an upload
    touched, after it was stored (e.g. the indicator recompute)."""
    warm_up_job: str | None = None
    """The job computing every city into the indicator cache at start, if one was queued."""

    @classmethod
    def open(cls, settings: Settings) -> Services:
        """Open the store, the service database and the job runner named by ``settings``."""
        store = open_store(settings)
        db = ServiceDB(settings.service_db, busy_timeout_ms=settings.busy_timeout_ms)
        jobs = JobRunner(db, settings.job_workers)
        models = ModelShelf.load(settings.models_folder)
        return cls(settings=settings, store=store, db=db, jobs=jobs, models=models)

    def close(self) -> None:
        """Let running jobs finish (queued ones are failed), then close the store."""
        self.jobs.shutdown(wait=True)
        self.store.close()


def get_services(request: Request) -> Services:
    """The application's :class:`Services`."""
    services: Services = request.app.state.services
    return services


_UNAUTHORIZED = {"WWW-Authenticate": 'Bearer realm="geo-service"'}


def get_principal(
    request: Request,
    authorization: Annotated[str | None, Header(description="`Bearer <api key>`")] = None,
    x_api_key: Annotated[str | None, Header(alias="X-API-Key", description="API key")] = None,
) -> Principal:
    """The caller: from ``Authorization: Bearer <key>`` or ``X-API-Key``; anonymous callers
    are :data:`geo_service.access.PUBLIC`. A key that is malformed, unknown or revoked is a
    401 (never silently anonymous)."""
    token = x_api_key
    if authorization:
        scheme, _, value = authorization.partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED,
                "Authorization must be 'Bearer <api key>'",
                headers=_UNAUTHORIZED,
            )
        token = value.strip()
    if not token:
        return PUBLIC
    key = get_services(request).db.authenticate(token)
    if key is None:
        raise HTTPException(
            status.HTTP_401_UNAUTHORIZED, "invalid or revoked API key", headers=_UNAUTHORIZED
        )
    return Principal(role=key.role, org=key.org, key_id=key.key_id)


Caller = Annotated[Principal, Depends(get_principal)]
"""Dependency: the calling :class:`Principal` (public when no key)."""


def require(*roles: Role) -> Callable[[Principal], Principal]:
    """Dependency allowing only ``roles`` (admins always): 401 without a key, 403 otherwise."""
    allowed = frozenset(roles) | {Role.admin}

    def check(principal: Caller) -> Principal:
        if principal.role in allowed:
            return principal
        if principal.role is Role.public:
            raise HTTPException(
                status.HTTP_401_UNAUTHORIZED, "an API key is needed", headers=_UNAUTHORIZED
            )
        raise HTTPException(
            status.HTTP_403_FORBIDDEN,
            f"role {principal.role.value!r} may not do this "
            f"(allowed: {', '.join(sorted(r.value for r in allowed))})",
        )

    return check


def settlement_scope(
    services: Services, principal: Principal, *, household_level: bool
) -> SettlementScope:
    """The settlements whose rows ``principal`` may see (owners read per request: a
    publication takes effect at once)."""
    owners = services.db.owners()
    return visible_settlements(principal, owners, household_level=household_level)


def audit(
    services: Services,
    principal: Principal,
    action: str,
    resource: str,
    detail: dict[str, object] | None = None,
) -> None:
    """Write one line to the audit log (uploads, household-level reads, key and publication
    changes)."""
    services.db.audit(
        key_id=principal.key_id,
        role=principal.role,
        org=principal.org,
        action=action,
        resource=resource,
        detail=detail,
    )
