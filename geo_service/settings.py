"""Service settings, read from ``GEO_SERVICE_*`` environment variables (pydantic-settings).

Nothing is built at import time: call :func:`get_settings` (cached) or build
``Settings(...)`` yourself in tests.
"""

from __future__ import annotations

from functools import lru_cache
from pathlib import Path

from pydantic import Field, SecretStr, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

__all__ = ["Settings", "get_settings"]


class Settings(BaseSettings):
    """Settings of the store, the ingestion limits and the job folder.

    Every field is set by the environment variable ``GEO_SERVICE_<FIELD>`` (case-insensitive),
    e.g. ``GEO_SERVICE_STORE_PATH=/srv/city.gpkg``.
    """

    model_config = SettingsConfigDict(env_prefix="GEO_SERVICE_", extra="ignore")

    store_path: Path = Field(
        Path("data/geo_service.gpkg"), description="The embedded GeoPackage store file."
    )
    database_url: SecretStr | None = Field(
        None,
        description="`postgresql://user:password@host:5432/dbname`: store the data in PostGIS "
        "instead of the GeoPackage file (the password is never logged).",
    )
    database_schema: str = Field(
        "geo_service",
        pattern=r"^[a-z_][a-z0-9_]*$",
        description="PostgreSQL schema holding the PostGIS store's tables.",
    )
    work_dir: Path | None = Field(
        None,
        description="Private folder for staged uploads (default: `jobs/` beside the store).",
    )
    max_upload_mb: float = Field(200.0, gt=0, description="Largest accepted upload (MB).")
    max_features: int = Field(2_000_000, gt=0, description="Most features / rows per upload.")
    max_vertices: int = Field(100_000, gt=0, description="Most vertices in one feature.")
    zip_max_ratio: float = Field(100.0, gt=1, description="Largest zip expansion ratio.")
    max_gps_accuracy_m: float = Field(
        20.0, gt=0, description="GPS accuracy (m) beyond which a point is reported."
    )
    busy_timeout_ms: int = Field(
        30_000,
        ge=0,
        description="How long a writer waits for another one (ms): SQLite busy timeout, "
        "PostgreSQL lock timeout.",
    )
    service_db_path: Path | None = Field(
        None,
        description="Service database: API keys, audit log, jobs, targets "
        "(default: `<store>.service.sqlite` beside the store).",
    )
    host: str = Field("127.0.0.1", description="Address `geo-service serve` listens on.")
    port: int = Field(8000, ge=1, le=65535, description="Port `geo-service serve` listens on.")
    max_page_size: int = Field(
        10_000, gt=0, description="Largest `limit` of an OGC items page (features)."
    )
    small_cell_k: int = Field(
        5, ge=1, description="Cells built from fewer households are suppressed in public outputs."
    )
    job_workers: int = Field(1, ge=1, description="Background job threads (uploads, recomputes).")
    warm_cache_on_start: bool = Field(
        True,
        description="At start, compute every city's indicators in a background job, so that "
        "the first request after a restart is answered from the cache.",
    )
    models_dir: Path | None = Field(
        None,
        description="Folder of trained models (`<name>.skops` + `<name>.json`) loaded at start "
        "(default: `models/` beside the store).",
    )
    informality_threshold: float = Field(
        0.5, gt=0, lt=1, description="Probability from which a grid cell is flagged informal-like."
    )

    @field_validator("database_url")
    @classmethod
    def _postgresql_url(cls, value: SecretStr | None) -> SecretStr | None:
        if value is None or not value.get_secret_value():
            return None
        if not value.get_secret_value().startswith(("postgresql://", "postgres://")):
            raise ValueError("must be a postgresql:// URL")
        return value

    @model_validator(mode="after")
    def _default_work_dir(self) -> Settings:
        if self.work_dir is None:
            self.work_dir = self.store_path.parent / "jobs"
        return self

    @property
    def store_location(self) -> str:
        """The store in words, without secrets: the GeoPackage file or the PostGIS schema."""
        if self.database_url is None:
            return str(self.store_path)
        from geo_service.storage.postgis import redact_url  # noqa: PLC0415 - psycopg on demand

        return f"{redact_url(self.database_url.get_secret_value())} (schema {self.database_schema})"

    @property
    def service_db(self) -> Path:
        """The service database path (``service_db_path`` or its default)."""
        if self.service_db_path is not None:
            return self.service_db_path
        return self.store_path.with_name(self.store_path.stem + ".service.sqlite")

    @property
    def models_folder(self) -> Path:
        """The models folder (``models_dir`` or its default)."""
        return self.models_dir if self.models_dir is not None else self.store_path.parent / "models"

    @property
    def max_upload_bytes(self) -> int:
        """``max_upload_mb`` in bytes."""
        return int(self.max_upload_mb * 1024 * 1024)


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once from the environment."""
    return Settings()
