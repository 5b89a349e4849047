"""Access control: every route × role × settlement case, hidden settlements, API keys in logs,
and the audit log of household-level reads.

The site (``_live_server.make_site``) is a private copy of the session's 300-household demo
store with one key per role and these owners: ``fed_a`` owns ``mtoni`` (published) and
``bonde_la_nyota`` (not published); ``fed_b`` owns ``kijiji_kipya`` (not published) and
``mwembe_tatu`` (published); ``machimbo``, ``soko_mpya``, ``gulioni`` and ``reli_kando`` have
no owner (open data). The callers are :data:`WHO`: ``admin``, the two federations (each
"owning" or "foreign" depending on the settlement of a case), ``planner``, ``mel``,
``public`` (no key), ``revoked`` (an admin key revoked at once) and ``malformed``
(``Bearer not-a-key``).

What is checked
    - The matrix (:data:`ACCESS`): for every route of ``create_app(settings).routes`` (method
      and path template; a route missing from the table fails the suite as "a new endpoint
      without an access rule"), each case fills the path parameters (settlement, city,
      collection, feature of a given settlement, job of a given caller) and states the
      status each caller gets. The expectations are written by hand from the README ("Who
      sees what", the HTTP API table and its error list) and the policy in
      ``geo_service/access.py``: 401 without a key or with an invalid one, 403 for a role
      that may not, 404 for what does not exist *or is not visible* (a hidden settlement
      is never revealed by a 403). Documentation pages and the maps' static files are the
      only routes that ignore a key.
    - Hidden settlements in lists and aggregates: no caller finds the name, id or feature ids
      of a settlement hidden from it in any collection, items page (JSON, CSV), extent,
      indicator table, city map or block layer; the city indicator rows count exactly the
      households of the settlements the caller may see; ``/health`` does not count hidden
      rows; a city none of whose settlements is visible does not exist for the caller.
    - Uploads to a foreign settlement are refused before anything is stored (store tables,
      jobs, audit lines, owners and staged files unchanged); the refusal does not tell a
      hidden settlement from one that does not exist; another caller's job is a 404 that
      reads like a job that does not exist.
    - Personal fields reach only admins and the owning federation.
    - API keys are never logged: the app in-process (``caplog`` at DEBUG) and a real uvicorn
      (``--log-level debug``, access log on; ``slow``, as it starts a server of its own: the
      default run checks the log of ``test_load.py``'s server instead) receive keys in
      ``Authorization`` and ``X-API-Key`` (valid, revoked, damaged, wrong scheme); no secret
      (nor its stored SHA-256) appears in the server's output, the captured records, any
      file of the site (store, service database, job folder), the audit log or any
      response. A key sent by mistake in a query string is not echoed, stored or written to
      the server log either.
    - The audit log: every household-level read (items and single features of ``households``,
      ``members``, ``structures`` as GeoJSON or CSV, the detailed settlement map) made by
      each role allowed to make it writes exactly one line with the caller's key id, role
      and organisation, the layer, the settlement(s) read and the time. Denied reads (401,
      403, 404) write no line: the README does not say they should, and the code does not.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import logging
import re
import sqlite3
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx
import pytest
from fastapi.testclient import TestClient  # noqa: TID251 - the service's own test client

from geo_service.api import create_app
from geo_service.servicedb import Role
from tests.reliability._live_server import Site, make_site, start_server

CITY = "Mto Mji"
WHO = ("admin", "fed_a", "fed_b", "planner", "mel", "public", "revoked", "malformed")
"""The callers, in the order of every expectation tuple."""

# ------------------------------------------------------------------------ the expectations
# One status per caller of WHO: admin, fed_a, fed_b, planner, mel, public, revoked, malformed.

ANYONE = (200, 200, 200, 200, 200, 200, 401, 401)
"""Public data: every role; an invalid key is still a 401 ("401 key needed or invalid")."""
IGNORES_KEYS = (200, 200, 200, 200, 200, 200, 200, 200)
"""The documentation pages and static files, which never read a key."""
NOT_FOUND = (404, 404, 404, 404, 404, 404, 401, 401)
STAFF = (200, 200, 200, 200, 403, 401, 401, 401)
"""Household-level layers: admin, federation, planner; MEL 403; no key 401."""
STAFF_NOT_FOUND = (404, 404, 404, 404, 403, 401, 401, 401)
MEL_PLANNER = (200, 403, 403, 200, 200, 401, 401, 401)
MEL_PLANNER_NO_CITY = (404, 403, 403, 404, 404, 401, 401, 401)
MEL_WRITES = (200, 403, 403, 403, 200, 401, 401, 401)
MEL_WRITES_NO_CITY = (404, 403, 403, 403, 404, 401, 401, 401)
PLANNER_ONLY_NO_MODEL = (404, 403, 403, 404, 403, 401, 401, 401)
"""The informality cells: admins and planners (no model is loaded here: 404 for them)."""

VISIBLE = {
    "mtoni": ANYONE,
    "bonde_la_nyota": (200, 200, 404, 404, 404, 404, 401, 401),
    "kijiji_kipya": (200, 404, 200, 404, 404, 404, 401, 401),
    "mwembe_tatu": ANYONE,
    "machimbo": ANYONE,
}
"""Settlement-level data of a settlement: hidden from all but its owner and admins until
published; open data (no owner) visible to all."""

HOUSEHOLD_LEVEL = {
    "mtoni": (200, 200, 404, 200, 403, 401, 401, 401),
    "bonde_la_nyota": (200, 200, 404, 404, 403, 401, 401, 401),
    "kijiji_kipya": (200, 404, 200, 404, 403, 401, 401, 401),
    "mwembe_tatu": (200, 404, 200, 200, 403, 401, 401, 401),
    "machimbo": (200, 404, 404, 200, 403, 401, 401, 401),
}
"""Household-level rows of a settlement: a federation reads only its own settlements (even
published ones of others are 404), planners every visible settlement, MEL never."""

UPLOAD = {
    "mtoni": (202, 202, 404, 403, 403, 401, 401, 401),
    "kijiji_kipya": (202, 202, 202, 403, 403, 401, 401, 401),
    "mwembe_tatu": (202, 404, 202, 403, 403, 401, 401, 401),
    "machimbo": (202, 202, 202, 403, 403, 401, 401, 401),
}
"""POST /uploads naming a settlement: federations and admins; another federation's published
settlement is a 404; another's unpublished one is unknown to the caller, so the upload is
accepted and its job fails validation (``unknown_settlement``), exactly as for a settlement
that does not exist (see :func:`test_upload_does_not_reveal_a_hidden_settlement`);
unowned settlements are open to any federation."""

JOB_OF_FED_A = (200, 200, 404, 404, 404, 401, 401, 401)
JOB_OF_ADMIN = (200, 404, 404, 404, 404, 401, 401, 401)
NO_SUCH_JOB = (404, 404, 404, 404, 404, 401, 401, 401)


@dataclass(frozen=True)
class Fid:
    """Path parameter: the first feature of ``layer`` in ``settlement`` (``None``: a feature
    without a settlement), looked up in the site's store."""

    layer: str
    settlement: str | None


@dataclass(frozen=True)
class JobOf:
    """Path parameter: the id of an upload job created by ``who``."""

    who: str


@dataclass(frozen=True)
class Case:
    """One request of a route and the status each caller of :data:`WHO` gets."""

    expect: tuple[int, ...]
    params: Mapping[str, Any] = field(default_factory=dict)
    query: str = ""
    body: str | None = None
    """``"targets"`` (a JSON list of targets) or ``"upload"`` (an invalid service-point
    GeoJSON naming ``params["settlement"]``: the job fails, nothing is stored)."""


def case(expect: tuple[int, ...], query: str = "", body: str | None = None, **params: Any) -> Case:
    assert len(expect) == len(WHO)
    return Case(expect=expect, params=params, query=query, body=body)


_FRAMEWORK = [case(IGNORES_KEYS)]
_LAYERS = ("settlements", "service_points", "streets", "hazard_zones", "buildings", "projects")
_HH_LAYERS = ("households", "members", "structures")

ACCESS: dict[tuple[str, str], list[Case]] = {
    # -- framework pages: the documentation and the maps' static files ignore keys
    ("GET", "/openapi.json"): _FRAMEWORK,
    ("HEAD", "/openapi.json"): _FRAMEWORK,
    ("GET", "/docs"): _FRAMEWORK,
    ("HEAD", "/docs"): _FRAMEWORK,
    ("GET", "/docs/oauth2-redirect"): _FRAMEWORK,
    ("HEAD", "/docs/oauth2-redirect"): _FRAMEWORK,
    ("GET", "/redoc"): _FRAMEWORK,
    ("HEAD", "/redoc"): _FRAMEWORK,
    ("GET", "/maps/static/{path}"): [case(IGNORES_KEYS, path="leaflet/leaflet.js")],
    # -- service metadata (README: anyone)
    ("GET", "/health"): [case(ANYONE)],
    ("GET", "/"): [case(ANYONE)],
    ("GET", "/conformance"): [case(ANYONE)],
    ("GET", "/indicators"): [case(ANYONE)],
    ("GET", "/cities"): [case(ANYONE)],
    ("GET", "/models"): [case(ANYONE)],
    ("GET", "/models/{name}"): [case(NOT_FOUND, name="informality")],  # not loaded here
    # -- OGC collections
    ("GET", "/collections"): [case(ANYONE)],
    ("GET", "/collections/{collection_id}"): [
        *(case(ANYONE, collection_id=layer) for layer in _LAYERS),
        *(case(STAFF, collection_id=layer) for layer in _HH_LAYERS),
        case(NOT_FOUND, collection_id="nope"),
    ],
    ("GET", "/collections/{collection_id}/items"): [
        *(case(ANYONE, "limit=1", collection_id=layer) for layer in _LAYERS),
        *(case(STAFF, "limit=1", collection_id=layer) for layer in _HH_LAYERS),
        case(STAFF, "limit=5&f=csv", collection_id="households"),
        *(
            case(expect, f"settlement={s}", collection_id="households")
            for s, expect in HOUSEHOLD_LEVEL.items()
        ),
        *(
            case(expect, f"settlement={s}&f=csv", collection_id="structures")
            for s, expect in HOUSEHOLD_LEVEL.items()
        ),
        *(
            case(expect, f"settlement={s}", collection_id="service_points")
            for s, expect in VISIBLE.items()
        ),
        case(VISIBLE["kijiji_kipya"], "settlement=kijiji_kipya", collection_id="projects"),
        case(VISIBLE["bonde_la_nyota"], "settlement=bonde_la_nyota", collection_id="buildings"),
        case(NOT_FOUND, "settlement=atlantis", collection_id="service_points"),
        case(STAFF_NOT_FOUND, "settlement=atlantis", collection_id="households"),
        case(NOT_FOUND, collection_id="nope"),
    ],
    ("GET", "/collections/{collection_id}/items/{feature_id}"): [
        *(
            case(expect, collection_id="households", feature_id=Fid("households", s))
            for s, expect in HOUSEHOLD_LEVEL.items()
        ),
        case(
            HOUSEHOLD_LEVEL["kijiji_kipya"],
            "f=csv",
            collection_id="structures",
            feature_id=Fid("structures", "kijiji_kipya"),
        ),
        case(
            HOUSEHOLD_LEVEL["bonde_la_nyota"],
            collection_id="structures",
            feature_id=Fid("structures", "bonde_la_nyota"),
        ),
        case(STAFF_NOT_FOUND, collection_id="members", feature_id=1),  # no members stored
        case(STAFF_NOT_FOUND, collection_id="households", feature_id=999_999),
        *(
            case(expect, collection_id="service_points", feature_id=Fid("service_points", s))
            for s, expect in VISIBLE.items()
        ),
        case(ANYONE, collection_id="service_points", feature_id=Fid("service_points", None)),
        case(
            VISIBLE["kijiji_kipya"],
            collection_id="settlements",
            feature_id=Fid("settlements", "kijiji_kipya"),
        ),
        case(
            VISIBLE["bonde_la_nyota"],
            collection_id="projects",
            feature_id=Fid("projects", "bonde_la_nyota"),
        ),
    ],
    # -- indicators, profiles, targets
    ("GET", "/cities/{city}/indicators"): [
        case(ANYONE, city=CITY),
        case(ANYONE, "disaggregate=settlement&format=csv", city=CITY),
        case(NOT_FOUND, city="Atlantis"),
    ],
    ("GET", "/settlements/{settlement_id}/profile"): [
        *(case(expect, settlement_id=s) for s, expect in VISIBLE.items()),
        case(ANYONE, settlement_id="gulioni"),  # profile only, no owner
        case(NOT_FOUND, settlement_id="atlantis"),
    ],
    ("GET", "/cities/{city}/targets"): [
        case(MEL_PLANNER, city=CITY),
        case(MEL_PLANNER_NO_CITY, city="Atlantis"),
    ],
    ("PUT", "/cities/{city}/targets"): [
        case(MEL_WRITES, body="targets", city=CITY),
        case(MEL_WRITES_NO_CITY, body="targets", city="Atlantis"),
    ],
    ("GET", "/cities/{city}/progress"): [
        case(MEL_PLANNER, city=CITY),
        case(MEL_PLANNER_NO_CITY, city="Atlantis"),
    ],
    # -- uploads and jobs
    ("POST", "/uploads"): [
        case(expect, body="upload", settlement=s) for s, expect in UPLOAD.items()
    ],
    ("GET", "/jobs/{job_id}"): [
        case(JOB_OF_FED_A, job_id=JobOf("fed_a")),
        case(JOB_OF_ADMIN, job_id=JobOf("admin")),
        case(NO_SUCH_JOB, job_id="0123456789abcdef"),
    ],
    # -- urban form, expansion, models (no model is loaded on this site)
    ("GET", "/cities/{city}/blocks"): [
        case(ANYONE, city=CITY),
        case(VISIBLE["kijiji_kipya"], "settlement=kijiji_kipya", city=CITY),
        case(VISIBLE["bonde_la_nyota"], "settlement=bonde_la_nyota", city=CITY),
        case(NOT_FOUND, city="Atlantis"),
    ],
    ("GET", "/cities/{city}/expansion"): [
        case(ANYONE, city=CITY),
        case(NOT_FOUND, city="Atlantis"),
    ],
    ("GET", "/cities/{city}/expansion/forecast"): [case(NOT_FOUND, city=CITY)],
    ("GET", "/cities/{city}/informality"): [case(PLANNER_ONLY_NO_MODEL, city=CITY)],
    # -- maps
    ("GET", "/maps/cities/{city}"): [case(ANYONE, city=CITY), case(NOT_FOUND, city="Atlantis")],
    ("GET", "/maps/settlements/{settlement_id}"): [
        case(ANYONE, settlement_id="mtoni"),
        case(VISIBLE["kijiji_kipya"], settlement_id="kijiji_kipya"),
        case(VISIBLE["bonde_la_nyota"], settlement_id="bonde_la_nyota"),
        case(NOT_FOUND, settlement_id="atlantis"),
    ],
}
"""(method, path template) -> the cases of that route."""

HIDDEN_FROM: dict[str, frozenset[str]] = {
    "admin": frozenset(),
    "fed_a": frozenset({"kijiji_kipya"}),
    "fed_b": frozenset({"bonde_la_nyota"}),
    "planner": frozenset({"bonde_la_nyota", "kijiji_kipya"}),
    "mel": frozenset({"bonde_la_nyota", "kijiji_kipya"}),
    "public": frozenset({"bonde_la_nyota", "kijiji_kipya"}),
}
"""The settlements that do not exist for each caller (the unpublished ones of others)."""
MARKS = {
    "kijiji_kipya": ("kijiji_kipya", "Kijiji Kipya", "KKP-"),
    "bonde_la_nyota": ("bonde_la_nyota", "Bonde la Nyota", "BLN-"),
}
"""How a settlement shows in a response: id, name, and the prefix of its feature ids
(structures ``KKP-00001``, service points ``WP-KKP-001``)."""

TARGETS = [
    {
        "indicator_id": "sdg_6_1_1_basic_water",
        "group": "",
        "baseline": 0.4,
        "baseline_year": 2024,
        "target": 0.8,
        "target_year": 2030,
    }
]


# ------------------------------------------------------------------------- route discovery


def app_routes(routes: Any) -> set[tuple[str, str]]:
    """Every (method, path template) the application answers, included routers flattened.

    Works with plain route lists and with FastAPI's lazily included routers (whose entries
    expose ``effective_route_contexts()``); a mount is ``GET <mount>/{path}``.
    """
    found: set[tuple[str, str]] = set()
    for route in routes:
        if hasattr(route, "effective_route_contexts"):
            found |= app_routes(route.effective_route_contexts())
            continue
        original = getattr(route, "original_route", route)
        path = getattr(route, "path", "") or getattr(original, "path", "")
        methods = getattr(route, "methods", None) or getattr(original, "methods", None)
        if methods is None:  # a mount (static files, a sub-application)
            found.add(("GET", f"{path.rstrip('/')}/{{path}}"))
            continue
        found |= {(m, path) for m in methods}
    return found


# ---------------------------------------------------------------------------------- the site


@dataclass
class Portal:
    """The module's site behind an in-process client, with the ids the cases refer to."""

    site: Site
    client: TestClient
    fids: dict[tuple[str, str | None], int] = field(default_factory=dict)
    jobs: dict[str, str] = field(default_factory=dict)
    snapshot: dict[str, Any] = field(default_factory=dict)
    """The store as the site was made (nothing in this module stores anything)."""

    def request(self, method: str, url: str, who: str, **kwargs: Any) -> httpx.Response:
        headers = {**self.site.headers(who), **kwargs.pop("headers", {})}
        return self.client.request(method, url, headers=headers, **kwargs)

    def get(self, url: str, who: str, **kwargs: Any) -> httpx.Response:
        return self.request("GET", url, who, **kwargs)

    def audit_lines(self, after: int = 0) -> list[dict[str, Any]]:
        """Audit lines with an id above ``after``, oldest first."""
        return [
            line for line in reversed(self.site.db.audit_log(limit=10_000)) if line["id"] > after
        ]

    def last_audit_id(self) -> int:
        lines = self.site.db.audit_log(limit=1)
        return int(lines[0]["id"]) if lines else 0

    def wait_job(self, job_id: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while True:
            body = self.get(f"/jobs/{job_id}", "admin").json()
            if body["status"] in ("succeeded", "failed"):
                return body
            assert time.monotonic() < deadline, body
            time.sleep(0.05)

    def upload(self, who: str, content: bytes, settlement: str | None = None) -> httpx.Response:
        data = {"layer": "service_points"}
        if settlement is not None:
            data["settlement"] = settlement
        files = {"file": ("points.geojson", content, "application/geo+json")}
        return self.request("POST", "/uploads", who, data=data, files=files)


def points_geojson(settlement: str | None, *, valid: bool = True, n: int = 2) -> bytes:
    """Service points (unique ids) in ``settlement``; ``valid=False`` gives them an unknown
    ``service_type`` so that validation fails and nothing is stored."""
    tag = uuid.uuid4().hex[:8]
    features = [
        {
            "type": "Feature",
            "geometry": {"type": "Point", "coordinates": [37.6335 + i * 1e-5, -1.9060]},
            "properties": {
                "service_id": f"AC-{tag}-{i}",
                "service_type": "water_point" if valid else "spaceship",
                "settlement_id": settlement,
                "functional": True,
            },
        }
        for i in range(n)
    ]
    return json.dumps({"type": "FeatureCollection", "features": features}).encode()


def store_snapshot(store: Path) -> dict[str, Any]:
    """Row counts of every table of the store, and its uploads and raw files."""
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30)
    try:
        tables = [r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")]
        counts = {t: con.execute(f'SELECT count(*) FROM "{t}"').fetchone()[0] for t in tables}
        uploads = con.execute("SELECT * FROM uploads ORDER BY 1").fetchall()
    finally:
        con.close()
    return {"counts": counts, "uploads": uploads}


def _first_fids(store: Path) -> dict[tuple[str, str | None], int]:
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30)
    try:
        fids: dict[tuple[str, str | None], int] = {}
        for layer in ("households", "structures", "service_points", "settlements", "projects"):
            for settlement, fid in con.execute(
                f'SELECT settlement_id, min(fid) FROM "{layer}" GROUP BY settlement_id'
            ):
                fids[(layer, settlement)] = int(fid)
    finally:
        con.close()
    return fids


@pytest.fixture(scope="module")
def portal(
    small_demo: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> Iterator[Portal]:
    site = make_site(small_demo[0], tmp_path_factory.mktemp("access_site"))
    with TestClient(create_app(site.settings)) as client:
        store = site.settings.store_path
        portal = Portal(site, client, fids=_first_fids(store), snapshot=store_snapshot(store))
        for who, settlement in (("fed_a", "mtoni"), ("admin", "machimbo")):
            response = portal.upload(who, points_geojson(settlement, valid=False), settlement)
            assert response.status_code == 202, response.text
            portal.jobs[who] = response.json()["job_id"]
            assert portal.wait_job(portal.jobs[who])["status"] == "failed"
        yield portal


def _url(portal: Portal, template: str, c: Case) -> str:
    values = {}
    for name, given in c.params.items():
        value = given
        if isinstance(given, Fid):
            value = portal.fids[(given.layer, given.settlement)]
        elif isinstance(given, JobOf):
            value = portal.jobs[given.who]
        values[name] = quote(str(value), safe="/") if name == "path" else quote(str(value))
    url = template.format(**values)
    return f"{url}?{c.query}" if c.query else url


def _send(portal: Portal, method: str, template: str, c: Case, who: str) -> httpx.Response:
    url = _url(portal, template, c)
    if c.body == "targets":
        return portal.request(method, url, who, json=TARGETS)
    if c.body == "upload":
        settlement = c.params["settlement"]
        return portal.upload(who, points_geojson(settlement, valid=False), settlement)
    return portal.request(method, url, who)


# ------------------------------------------------------------------------------ the matrix


def test_every_route_has_an_access_rule(portal: Portal) -> None:
    routes = app_routes(portal.client.app.routes)  # the app of create_app(site.settings)
    missing = sorted(routes - set(ACCESS))
    stale = sorted(set(ACCESS) - routes)
    assert not missing, f"new endpoint(s) without an access rule in ACCESS: {missing}"
    assert not stale, f"ACCESS names routes the application no longer has: {stale}"
    assert len(routes) >= 30, sorted(routes)  # the discovery itself works


@pytest.mark.parametrize(
    ("method", "template"), sorted(ACCESS), ids=[f"{m} {t}" for m, t in sorted(ACCESS)]
)
def test_access_matrix(portal: Portal, method: str, template: str) -> None:
    wrong = []
    for c in ACCESS[(method, template)]:
        for who, expected in zip(WHO, c.expect, strict=True):
            response = _send(portal, method, template, c, who)
            if response.status_code != expected:
                wrong.append(
                    f"{method} {_url(portal, template, c)} as {who}: expected {expected}, "
                    f"got {response.status_code} {response.text[:120]!r}"
                )
            elif response.status_code >= 400 and method != "HEAD":
                body = response.json()
                assert response.headers["content-type"] == "application/problem+json"
                assert body["status"] == expected
    assert not wrong, "\n".join(wrong)
    if template == "/uploads":  # every accepted upload fails validation: nothing stored
        for line in portal.audit_lines():
            if line["action"] == "upload":
                portal.wait_job(line["resource"].removeprefix("jobs/"))
        assert store_snapshot(portal.site.settings.store_path) == portal.snapshot


# --------------------------------------------------------------------- hidden settlements


def _marks(text: str, hidden: frozenset[str]) -> list[str]:
    return [mark for s in sorted(hidden) for mark in MARKS[s] if mark in text]


LISTINGS = (
    "/collections",
    *(f"/collections/{layer}" for layer in (*_LAYERS, *_HH_LAYERS)),
    *(
        f"/collections/{layer}/items?limit=10000{fmt}"
        for layer in ("settlements", "service_points", "projects", "households", "structures")
        for fmt in ("", "&f=csv")
    ),
    f"/cities/{quote(CITY)}/indicators?disaggregate=settlement",
    f"/cities/{quote(CITY)}/indicators?disaggregate=tenure&format=csv",
    f"/cities/{quote(CITY)}/blocks",
    f"/maps/cities/{quote(CITY)}",
    "/settlements/mtoni/profile",
    "/maps/settlements/mtoni",
)
"""Lists and aggregates that must not show a hidden settlement."""


@pytest.mark.parametrize("who", sorted(set(HIDDEN_FROM) - {"admin"}))
def test_hidden_settlements_never_appear(portal: Portal, who: str) -> None:
    hidden = HIDDEN_FROM[who]
    leaks = []
    for url in LISTINGS:
        response = portal.get(url, who)
        if response.status_code in (401, 403):  # household-level layers, by the matrix
            continue
        assert response.status_code == 200, (url, response.text[:300])
        found = _marks(response.text, hidden)
        if found:
            at = response.text.find(found[0])
            leaks.append(f"{url}: {found} ...{response.text[max(0, at - 80) : at + 40]!r}")
    assert not leaks, "\n".join(leaks)


def _households_per_settlement(store: Path) -> dict[str, int]:
    con = sqlite3.connect(f"file:{store}?mode=ro", uri=True, timeout=30)
    try:
        rows = con.execute("SELECT settlement_id, count(*) FROM households GROUP BY 1").fetchall()
    finally:
        con.close()
    return {str(s): int(n) for s, n in rows}


def test_city_figures_leave_hidden_settlements_out(portal: Portal) -> None:
    """The city row of an indicator counts exactly the households the caller may see."""
    per_settlement = _households_per_settlement(portal.site.settings.store_path)
    url = f"/cities/{quote(CITY)}/indicators?indicator=sdg_11_1_1_slum_population"
    for who, hidden in HIDDEN_FROM.items():
        rows = portal.get(url, who).json()["rows"]
        visible = sum(n for s, n in per_settlement.items() if s not in hidden)
        assert [(r["group"], r["n_units"]) for r in rows] == [("", visible)], who
        groups = portal.get(f"{url}&disaggregate=settlement", who).json()["rows"]
        shown = {r["group"].removeprefix("settlement_id=") for r in groups}
        assert shown == set(per_settlement) - hidden, who


@pytest.mark.parametrize("who", ["fed_a", "planner", "public"])
def test_items_never_hold_hidden_rows(portal: Portal, who: str) -> None:
    """Unfiltered pages, and a bbox around a hidden settlement, hold no row of it."""
    hidden = HIDDEN_FROM[who]
    for layer in ("households", "structures", "service_points", "settlements", "buildings"):
        response = portal.get(
            f"/collections/{layer}/items?limit=10000&properties=settlement_id", who
        )
        if layer in _HH_LAYERS and who == "public":
            assert response.status_code == 401
            continue
        body = response.json()
        served = {f["properties"]["settlement_id"] for f in body["features"]}
        assert not served & hidden, (layer, served)
        assert body["numberMatched"] >= body["numberReturned"]
    con = sqlite3.connect(f"file:{portal.site.settings.store_path}?mode=ro", uri=True)
    try:
        for settlement in hidden:
            fid = portal.fids[("settlements", settlement)]
            box = con.execute(
                "SELECT minx, miny, maxx, maxy FROM rtree_settlements_geom WHERE id = ?", (fid,)
            ).fetchone()
            bbox = ",".join(f"{v:.6f}" for v in box)
            for layer in ("households", "service_points", "buildings"):
                response = portal.get(
                    f"/collections/{layer}/items?bbox={bbox}&properties=settlement_id&limit=10000",
                    who,
                )
                if response.status_code == 401:
                    continue
                served = {f["properties"]["settlement_id"] for f in response.json()["features"]}
                assert settlement not in served, (layer, who)
    finally:
        con.close()


OWN = {
    "fed_a": frozenset({"mtoni", "bonde_la_nyota"}),
    "fed_b": frozenset({"kijiji_kipya", "mwembe_tatu"}),
}
"""The settlements each federation owns (its whole household-level scope)."""


@pytest.mark.parametrize(
    ("who", "layer"),
    [
        ("public", "settlements"),
        ("fed_a", "settlements"),
        ("public", "service_points"),
        ("fed_a", "households"),
        ("fed_b", "structures"),
        ("planner", "households"),
    ],
)
def test_extents_cover_only_visible_rows(portal: Portal, who: str, layer: str) -> None:
    """A collection's spatial extent is that of the rows the caller may see (``kijiji_kipya``
    is the city's south-eastern corner: counting it would widen the box)."""
    if who.startswith("fed_") and layer in _HH_LAYERS:
        visible = f"settlement_id IN ({', '.join(repr(s) for s in sorted(OWN[who]))})"
    else:
        hidden = ", ".join(repr(s) for s in sorted(HIDDEN_FROM[who]))
        visible = f"(settlement_id IS NULL OR settlement_id NOT IN ({hidden}))"
    con = sqlite3.connect(f"file:{portal.site.settings.store_path}?mode=ro", uri=True)
    try:
        want = con.execute(
            f'SELECT min(r.minx), min(r.miny), max(r.maxx), max(r.maxy) FROM "{layer}" t '
            f'JOIN "rtree_{layer}_geom" r ON r.id = t.fid WHERE {visible}'
        ).fetchone()
    finally:
        con.close()
    got = portal.get(f"/collections/{layer}", who).json()["extent"]["spatial"]["bbox"][0]
    assert got == pytest.approx(want, abs=1e-5), (got, want)


def test_health_does_not_count_hidden_rows(portal: Portal) -> None:
    """``/health`` is public; its row counts must not include the rows of settlements the
    caller may not see (README: hidden settlements are left out of every aggregate)."""
    per_settlement = _households_per_settlement(portal.site.settings.store_path)
    hidden = HIDDEN_FROM["public"]
    visible = sum(n for s, n in per_settlement.items() if s not in hidden)
    counts = portal.get("/health", "public").json().get("layers", {})
    assert counts.get("households") in (None, visible), (
        f"/health tells anyone {counts.get('households')} households; the public may see "
        f"{visible} (the rest are in unpublished settlements)"
    )


def test_a_city_with_nothing_visible_does_not_exist(portal: Portal) -> None:
    """When every settlement of a city is hidden from a caller, the city does not exist for
    it: not listed, and every /cities/{city}/... and its map answer 404 (as the map, blocks
    and expansion routes already do)."""
    db = portal.site.db
    before = db.owners()
    city = quote(CITY)
    try:
        every = portal.get("/collections/settlements/items", "admin").json()["features"]
        for settlement in every:
            sid = settlement["properties"]["settlement_id"]
            db.assign_settlement(sid, "fed_b")
            db.set_published(sid, False, by="test")
        wrong = []
        for who in ("fed_a", "planner", "mel", "public"):
            listed = [c["city"] for c in portal.get("/cities", who).json()]
            if CITY in listed:
                wrong.append(f"/cities lists {CITY!r} to {who}")
            for url in (
                f"/cities/{city}/indicators",
                f"/cities/{city}/indicators?format=csv",
                f"/cities/{city}/blocks",
                f"/cities/{city}/expansion",
                f"/maps/cities/{city}",
            ):
                status = portal.get(url, who).status_code
                if status != 404:
                    wrong.append(f"{url} as {who}: {status}")
        admin = portal.get(f"/cities/{city}/indicators", "admin")
        assert admin.status_code == 200
    finally:
        for settlement, (org, published) in before.items():
            db.assign_settlement(settlement, org)
            db.set_published(settlement, published, by="test")
        con = sqlite3.connect(portal.site.settings.service_db)
        try:
            con.execute(
                "DELETE FROM settlement_owners WHERE settlement_id NOT IN ({})".format(
                    ",".join("?" * len(before))
                ),
                tuple(before),
            )
            con.commit()
        finally:
            con.close()
    assert db.owners() == before
    assert not wrong, "\n".join(wrong)


# ----------------------------------------------------------------------------------- uploads


def _staged(site: Site) -> list[Path]:
    work = site.settings.work_dir
    return [p for p in work.rglob("*") if p.is_file()] if work and work.exists() else []


def _jobs_of(site: Site, who: str) -> int:
    con = sqlite3.connect(site.settings.service_db)
    try:
        row = con.execute(
            "SELECT count(*) FROM jobs WHERE key_id = ?", (site.key_ids[who],)
        ).fetchone()
    finally:
        con.close()
    return int(row[0])


def test_upload_to_a_foreign_settlement_stores_nothing(portal: Portal) -> None:
    """A valid file for another federation's settlement (hidden or published) is refused
    before anything is stored: a 404 that records nothing (today), or a job that fails (if
    the refusal moves into the job to read like an unknown settlement); a file whose rows
    name one fails its job and stores nothing (no claim either)."""
    site = portal.site
    store = site.settings.store_path
    before = store_snapshot(store)
    owners = site.db.owners()
    for settlement in ("kijiji_kipya", "mwembe_tatu"):
        jobs = _jobs_of(site, "fed_a")
        audit = portal.last_audit_id()
        response = portal.upload("fed_a", points_geojson(settlement), settlement)
        assert response.status_code in (404, 202), response.text
        if response.status_code == 404:
            assert _jobs_of(site, "fed_a") == jobs
            assert portal.audit_lines(after=audit) == []
        else:
            assert portal.wait_job(response.json()["job_id"])["status"] == "failed"
        assert store_snapshot(store) == before
        assert site.db.owners() == owners
        assert _staged(site) == []

    audit = portal.last_audit_id()
    response = portal.upload("fed_a", points_geojson("mwembe_tatu"))  # rows name it
    assert response.status_code == 202, response.text
    job = portal.wait_job(response.json()["job_id"])
    assert job["status"] == "failed" and job["result"] is None, job
    assert store_snapshot(store) == before
    assert site.db.owners() == owners
    assert _staged(site) == []
    lines = portal.audit_lines(after=audit)
    assert [(line["action"], line["key_id"]) for line in lines] == [
        ("upload", site.key_ids["fed_a"])
    ]


def _outcome(portal: Portal, who: str, settlement: str, *, in_form: bool) -> str:
    """What the caller learns from uploading a valid file naming ``settlement`` (the id
    replaced by ``<id>``)."""
    response = portal.upload(who, points_geojson(settlement), settlement if in_form else None)
    text = f"HTTP {response.status_code}"
    if response.status_code == 202:
        job = portal.wait_job(response.json()["job_id"])
        rules = sorted({p["rule"] for p in (job["report"] or {}).get("problems", [])})
        text += f"; job {job['status']}: {job['error']} {rules}"
    else:
        text += f": {response.json()['detail']}"
    return text.replace(settlement, "<id>")


def test_upload_does_not_reveal_a_hidden_settlement(portal: Portal) -> None:
    """An upload naming a settlement hidden from the caller must read exactly like one
    naming a settlement that does not exist (README: a settlement that is not visible does
    not exist for the caller)."""
    before = store_snapshot(portal.site.settings.store_path)
    wrong = []
    for in_form in (True, False):
        hidden = _outcome(portal, "fed_a", "kijiji_kipya", in_form=in_form)
        unknown = _outcome(portal, "fed_a", "no_such_place", in_form=in_form)
        if hidden != unknown:
            where = "form field" if in_form else "rows only"
            wrong.append(f"{where}: hidden -> {hidden!r}; unknown -> {unknown!r}")
    assert store_snapshot(portal.site.settings.store_path) == before
    assert not wrong, "\n".join(wrong)


def test_another_callers_job_reads_like_no_job(portal: Portal) -> None:
    job = portal.jobs["fed_a"]
    for who in ("fed_b", "planner", "mel"):
        theirs = portal.get(f"/jobs/{job}", who)
        none = portal.get("/jobs/ffffffffffffffff", who)
        assert theirs.status_code == none.status_code == 404
        assert theirs.json()["detail"].replace(job, "<id>") == none.json()["detail"].replace(
            "ffffffffffffffff", "<id>"
        )


# ---------------------------------------------------------------------------- personal data


PERSONAL = ("head_name", "phone", "national_id")
"""The personal fields of households (README: names, phone numbers, ID numbers)."""


def test_personal_fields_reach_only_admins_and_the_owner(portal: Portal) -> None:
    cases = {
        ("admin", "kijiji_kipya"): True,
        ("fed_a", "mtoni"): True,
        ("fed_a", "bonde_la_nyota"): True,
        ("fed_b", "kijiji_kipya"): True,
        ("planner", "mtoni"): False,
        ("planner", "machimbo"): False,
    }
    for (who, settlement), allowed in cases.items():
        for fmt in ("", "&f=csv"):
            response = portal.get(
                f"/collections/households/items?settlement={settlement}&limit=5{fmt}", who
            )
            assert response.status_code == 200
            text = response.text
            present = [p for p in PERSONAL if re.search(rf'(^|[",]){p}(["=,]|$)', text, re.M)]
            assert bool(present) == allowed, (who, settlement, fmt, present)
            assert ("attributes" in text) == allowed, (who, settlement, fmt)
        if not allowed:
            refused = portal.get(
                f"/collections/households/items?settlement={settlement}&properties=phone", who
            )
            assert refused.status_code == 400


# -------------------------------------------------------------------------- keys in logs


def _damaged(site: Site) -> str:
    """``fed_a``'s key with its last three characters changed."""
    return site.keys["fed_a"][:-3] + "xyz"


def _secrets(site: Site) -> dict[str, str]:
    """Each key's secret part (``gs_<key_id>_<secret>``), by caller, and the damaged key's."""
    secrets = {who: token.split("_", 2)[2] for who, token in site.keys.items()}
    return {**secrets, "damaged": _damaged(site).split("_", 2)[2]}


def _files_with(root: Path, secret: str) -> list[str]:
    needle = secret.encode()
    return [str(p) for p in root.rglob("*") if p.is_file() and needle in p.read_bytes()]


def _key_requests(site: Site, query_key: str) -> list[tuple[str, str, dict[str, str], Any]]:
    """(method, url, headers, upload?) of the requests carrying keys in every way."""
    keys = site.keys
    fed, planner, mel, revoked = keys["fed_a"], keys["planner"], keys["mel"], keys["revoked"]
    damaged = _damaged(site)
    hh, sp = "/collections/households", "/collections/service_points/items?limit=1"
    return [
        ("GET", f"{hh}/items?limit=3", {"Authorization": f"Bearer {planner}"}, None),
        ("GET", f"{hh}/items/1", {"X-API-Key": fed}, None),
        ("GET", f"{hh}/items?limit=2&f=csv", {"authorization": f"bearer {keys['admin']}"}, None),
        ("GET", hh, {"Authorization": f"Bearer {mel}"}, None),
        ("GET", sp, {"Authorization": f"Bearer {revoked}"}, None),
        ("GET", sp, {"Authorization": f"Bearer {damaged}"}, None),
        ("GET", sp, {"Authorization": f"Basic {fed}"}, None),
        ("GET", sp, {"Authorization": f"Token {planner}"}, None),
        ("GET", "/cities", {"X-API-Key": revoked}, None),
        ("GET", "/jobs/0123456789abcdef", {"X-API-Key": mel}, None),
        ("POST", "/uploads", {"Authorization": f"Bearer {fed}", "Idempotency-Key": "k1"}, "mtoni"),
        ("POST", "/uploads", {"Authorization": f"Bearer {planner}"}, "mtoni"),
        # a key sent by mistake in the query string (the API never reads it there)
        ("GET", f"{sp}&api_key={query_key}", {}, None),
        ("GET", f"/models?api_key={query_key}", {}, None),
        ("GET", f"/conformance?key={query_key}&token={query_key}", {}, None),
    ]


def _send_key_requests(send: Any, site: Site, query_key: str) -> list[tuple[str, httpx.Response]]:
    out = []
    for method, url, headers, settlement in _key_requests(site, query_key):
        if settlement is not None:
            content = points_geojson(settlement, valid=False)
            files = {"file": ("p.geojson", content, "application/geo+json")}
            data = {"layer": "service_points", "settlement": settlement}
            response = send(method, url, headers=headers, files=files, data=data)
        else:
            response = send(method, url, headers=headers)
        assert response.status_code < 500, (url, response.text)
        out.append((url, response))
    return out


def _response_text(response: httpx.Response) -> str:
    return response.text + "\n" + "\n".join(f"{k}: {v}" for k, v in response.headers.items())


def _leaks(secrets: Mapping[str, str], texts: Mapping[str, str]) -> list[str]:
    return [
        f"{who}'s secret in {where}"
        for who, secret in secrets.items()
        for where, text in texts.items()
        if secret in text
    ]


SLOW_SERVER = pytest.mark.slow
"""The real-server log checks start a uvicorn of their own (about 10 s): ``make test-all``.
The default run still checks a real server's log: ``test_load.py`` runs its server at
``--log-level debug`` and looks for the keys its client sent."""


@pytest.fixture(scope="module")
def logged_server(
    small_demo: tuple[Path, Path], tmp_path_factory: pytest.TempPathFactory
) -> dict[str, Any]:
    """A real server at ``--log-level debug`` (access log on) that received keys in every
    way; its log, the responses and the site, after it stopped."""
    site = make_site(small_demo[0], tmp_path_factory.mktemp("keys_site"))
    query_key = site.db.create_key(Role.planner, label="sent in a query string")[1]
    server = start_server(site, log_level="debug")
    try:
        with httpx.Client(base_url=server.url, timeout=60) as client:
            responses = _send_key_requests(client.request, site, query_key)
            for url, response in responses:
                if url == "/uploads" and response.status_code == 202:
                    job = response.json()["job_id"]
                    deadline = time.monotonic() + 60
                    while client.get(f"/jobs/{job}", headers=site.headers("admin")).json()[
                        "status"
                    ] not in ("succeeded", "failed"):
                        assert time.monotonic() < deadline
                        time.sleep(0.1)
    finally:
        server.stop()
    return {
        "site": site,
        "log": server.log_text(),
        "responses": responses,
        "query_key": query_key,
    }


@SLOW_SERVER
def test_keys_in_headers_never_logged_by_the_server(logged_server: dict[str, Any]) -> None:
    site: Site = logged_server["site"]
    log = logged_server["log"]
    assert "GET /collections/households/items" in log  # the access log is on
    secrets = _secrets(site)
    texts = {"server output": log}
    texts |= {f"response to {url}": _response_text(r) for url, r in logged_server["responses"]}
    audit = site.db.audit_log(limit=10_000)
    texts["audit log"] = repr(audit)
    assert _leaks(secrets, texts) == []
    hashes = {who: hashlib.sha256(secret.encode()).hexdigest() for who, secret in secrets.items()}
    assert _leaks(hashes, texts) == []  # not even the stored hash
    for who, secret in secrets.items():
        assert _files_with(site.root, secret) == [], who
    for token in site.keys.values():
        assert _files_with(site.root, token) == []


@SLOW_SERVER
def test_key_in_a_query_string_is_neither_echoed_nor_logged(
    logged_server: dict[str, Any],
) -> None:
    """The API reads keys only from headers; a key put in a URL by mistake must not be
    echoed, stored or written to the server's log (its access log included)."""
    query_secret = logged_server["query_key"].split("_", 2)[2]
    texts = {f"response to {url}": _response_text(r) for url, r in logged_server["responses"]}
    texts["audit log"] = repr(logged_server["site"].db.audit_log(limit=10_000))
    assert _leaks({"query-string key": query_secret}, texts) == []
    site: Site = logged_server["site"]
    stored = [f for f in _files_with(site.root, query_secret) if not f.endswith(".log")]
    assert stored == []
    lines = [line for line in logged_server["log"].splitlines() if query_secret in line]
    assert lines == [], "the server log holds the key sent in a query string:\n" + "\n".join(
        lines[:3]
    )


def test_keys_never_logged_in_process(portal: Portal, caplog: pytest.LogCaptureFixture) -> None:
    """The app in-process with every logger at DEBUG: no secret in any record."""
    caplog.set_level(logging.DEBUG)
    site = portal.site
    query_key = site.db.create_key(Role.mel, label="in-process query string")[1]
    responses = _send_key_requests(portal.client.request, site, query_key)
    for url, response in responses:
        if url == "/uploads" and response.status_code == 202:
            portal.wait_job(response.json()["job_id"])

    def text(records: list[logging.LogRecord]) -> str:
        return "\n".join(
            f"{r.name} {r.levelname} {r.getMessage()} {r.args!r} {r.exc_text or ''}"
            for r in records
        )

    # the capture works (the test client's request lines at least), at DEBUG for every logger
    assert caplog.records
    assert logging.getLogger().getEffectiveLevel() == logging.DEBUG
    texts = {"captured log records": text(caplog.records)}
    texts |= {f"response to {url}": _response_text(r) for url, r in responses}
    assert _leaks(_secrets(site), texts) == []
    # the key put in a URL: the test client itself logs the URLs it sends (httpx, INFO);
    # every other record, the service's, must not hold it
    service = [r for r in caplog.records if not r.name.startswith(("httpx", "httpcore"))]
    texts["captured log records"] = text(service)
    assert _leaks({"query": query_key.split("_", 2)[2]}, texts) == []


# ------------------------------------------------------------------------------- the audit


@dataclass(frozen=True)
class Read:
    """A household-level read: its url for a settlement and the layer(s) it reads."""

    name: str
    url: str
    layers: tuple[str, ...]


READS = (
    Read("items", "/collections/households/items?settlement={s}&limit=20", ("households",)),
    Read("items csv", "/collections/structures/items?settlement={s}&f=csv", ("structures",)),
    Read("items unfiltered", "/collections/households/items?limit=5", ("households",)),
    Read("items bbox", "/collections/structures/items?bbox={bbox}&limit=5", ("structures",)),
    Read("members", "/collections/members/items", ("members",)),
    Read("feature", "/collections/households/items/{fid}", ("households",)),
    Read("feature csv", "/collections/structures/items/{sfid}?f=csv", ("structures",)),
    Read("settlement map", "/maps/settlements/{s}", ("households",)),
)
READERS = {
    "admin": "kijiji_kipya",
    "fed_a": "bonde_la_nyota",
    "fed_b": "kijiji_kipya",
    "planner": "mtoni",
}
"""Who reads, and the settlement each reads (its own for a federation)."""


def _audited_settlements(line: dict[str, Any]) -> set[str]:
    detail = line.get("detail") or {}
    found: set[str] = set()
    for key in ("settlements", "settlement", "settlement_id"):
        value = detail.get(key)
        if isinstance(value, str):
            found |= set(value.split(","))
        elif isinstance(value, list):
            found |= {str(v) for v in value}
    match = re.fullmatch(r"maps/settlements/(.+)", line["resource"])
    if match:
        found.add(match.group(1))
    return found


def _served_settlements(response: httpx.Response, read: Read, settlement: str) -> set[str]:
    """The settlements whose rows the response holds (from its content)."""
    if read.name == "settlement map":
        return {settlement}
    if response.headers["content-type"].startswith("text/csv"):
        return {row["settlement_id"] for row in csv.DictReader(io.StringIO(response.text))}
    body = response.json()
    features = body.get("features", [body] if body.get("type") == "Feature" else [])
    return {f["properties"]["settlement_id"] for f in features}


@pytest.mark.parametrize("read", READS, ids=lambda r: r.name)
def test_household_level_reads_are_audited(portal: Portal, read: Read) -> None:
    site = portal.site
    con = sqlite3.connect(f"file:{site.settings.store_path}?mode=ro", uri=True)
    try:
        problems = []
        for who, settlement in READERS.items():
            fid = portal.fids[("households", settlement)]
            sfid = portal.fids[("structures", settlement)]
            box = con.execute(
                "SELECT minx, miny, maxx, maxy FROM rtree_settlements_geom WHERE id = ?",
                (portal.fids[("settlements", settlement)],),
            ).fetchone()
            url = read.url.format(
                s=settlement, fid=fid, sfid=sfid, bbox=",".join(f"{v:.6f}" for v in box)
            )
            before = portal.last_audit_id()
            start = datetime.now(UTC)
            response = portal.get(url, who)
            end = datetime.now(UTC)
            assert response.status_code == 200, (who, url, response.text[:200])
            lines = portal.audit_lines(after=before)
            if len(lines) != 1:
                problems.append(f"{who} {url}: {len(lines)} audit lines")
                continue
            line = lines[0]
            at = datetime.fromisoformat(line["at"])
            assert start.replace(microsecond=0) <= at <= end, (line["at"], start, end)
            role = "federation" if who.startswith("fed_") else who
            org = who if role == "federation" else None
            got = (line["key_id"], line["role"], line["action"])
            assert got == (site.key_ids[who], role, "read"), line
            if role == "federation":
                assert line["org"] == org, line
            text = f"{line['resource']} {line.get('detail')}"
            assert all(layer in text for layer in read.layers), line
            served = _served_settlements(response, read, settlement)
            audited = _audited_settlements(line)
            if not served <= audited:
                problems.append(
                    f"{who} {url}: rows of {sorted(served)} served, the audit line names "
                    f"{sorted(audited)}: {line['resource']} {line['detail']}"
                )
    finally:
        con.close()
    assert not problems, "\n".join(problems)


def test_denied_and_aggregate_reads_write_no_audit_line(portal: Portal) -> None:
    """Refused household-level reads (401, 403, 404) and aggregate pages write nothing
    (the README promises a line per household-level *read*; a refusal reads nothing)."""
    fid_a = portal.fids[("households", "mtoni")]
    denied = [
        ("/collections/households/items", "mel", 403),
        ("/collections/households/items", "public", 401),
        ("/collections/households/items", "revoked", 401),
        ("/collections/households/items", "malformed", 401),
        (f"/collections/households/items/{fid_a}", "fed_b", 404),
        ("/collections/households/items?settlement=kijiji_kipya", "fed_a", 404),
        ("/collections/structures/items?settlement=bonde_la_nyota", "planner", 404),
        ("/maps/settlements/kijiji_kipya", "planner", 404),
        ("/maps/settlements/mtoni", "public", 200),  # hexagons, no household position
        ("/maps/settlements/mtoni", "mel", 200),
        ("/settlements/mtoni/profile", "planner", 200),
        (f"/cities/{quote(CITY)}/indicators?disaggregate=settlement", "fed_a", 200),
    ]
    before = portal.last_audit_id()
    for url, who, status in denied:
        assert portal.get(url, who).status_code == status, (url, who)
    assert portal.audit_lines(after=before) == []
