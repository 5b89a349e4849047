"""Every role against every endpoint: the access matrix, as one table.

Roles: ``admin``; ``fed_a`` (owns mtoni, published, and bonde_la_nyota, unpublished); ``fed_b``
(owns kijiji_kipya, unpublished); ``planner``; ``mel``; ``public`` (no key). 401 means "a key
is needed", 403 "your role may not", 404 "does not exist for you" (a settlement that is not
visible is never revealed).
"""

from __future__ import annotations

import pytest

from tests.service.api.conftest import Api

WHO = ("admin", "fed_a", "fed_b", "planner", "mel", "public")
CITY = "/cities/Mto%20Mji"

# path -> expected status for admin, fed_a, fed_b, planner, mel, public
MATRIX: dict[str, tuple[int, ...]] = {
    "/health": (200, 200, 200, 200, 200, 200),
    "/": (200, 200, 200, 200, 200, 200),
    "/conformance": (200, 200, 200, 200, 200, 200),
    "/collections": (200, 200, 200, 200, 200, 200),
    "/collections/settlements/items": (200, 200, 200, 200, 200, 200),
    "/collections/service_points/items": (200, 200, 200, 200, 200, 200),
    "/collections/households": (200, 200, 200, 200, 403, 401),
    "/collections/households/items": (200, 200, 200, 200, 403, 401),
    "/collections/members/items": (200, 200, 200, 200, 403, 401),
    "/collections/structures/items": (200, 200, 200, 200, 403, 401),
    "/collections/households/items?settlement=mtoni": (200, 200, 404, 200, 403, 401),
    "/collections/households/items?settlement=bonde_la_nyota": (200, 200, 404, 404, 403, 401),
    "/collections/households/items?settlement=kijiji_kipya": (200, 404, 200, 404, 403, 401),
    "/collections/nope": (404, 404, 404, 404, 404, 404),
    "/indicators": (200, 200, 200, 200, 200, 200),
    "/cities": (200, 200, 200, 200, 200, 200),
    f"{CITY}/indicators": (200, 200, 200, 200, 200, 200),
    "/cities/Atlantis/indicators": (404, 404, 404, 404, 404, 404),
    "/settlements/mtoni/profile": (200, 200, 200, 200, 200, 200),
    "/settlements/bonde_la_nyota/profile": (200, 200, 404, 404, 404, 404),
    "/settlements/kijiji_kipya/profile": (200, 404, 200, 404, 404, 404),
    "/settlements/machimbo/profile": (200, 200, 200, 200, 200, 200),
    f"{CITY}/targets": (200, 403, 403, 200, 200, 401),
    f"{CITY}/progress": (200, 403, 403, 200, 200, 401),
    "/jobs/0123456789abcdef": (404, 404, 404, 404, 404, 401),
}


@pytest.mark.parametrize("path", sorted(MATRIX))
def test_get_matrix(api: Api, path: str) -> None:
    got = tuple(api.get(path, who).status_code for who in WHO)
    assert got == MATRIX[path], dict(zip(WHO, got, strict=True))


def test_errors_are_problem_json(api: Api) -> None:
    for path, who in (("/collections/households/items", "public"), ("/collections/nope", "mel")):
        response = api.get(path, who)
        assert response.headers["content-type"] == "application/problem+json"
        assert response.json()["status"] == response.status_code


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


def test_write_matrix(api: Api) -> None:
    # PUT targets: mel and admin only
    put = {
        who: api.client.put(f"{CITY}/targets", json=TARGETS, headers=api.headers(who)).status_code
        for who in WHO
    }
    assert put == {
        "admin": 200, "fed_a": 403, "fed_b": 403, "planner": 403, "mel": 200, "public": 401,
    }  # fmt: skip
    # POST /uploads: federations and admin; an empty form is refused, never 5xx
    post = {who: api.client.post("/uploads", headers=api.headers(who)).status_code for who in WHO}
    assert post["public"] == 401 and post["planner"] == 403 and post["mel"] == 403
    assert all(400 <= post[w] < 500 for w in ("admin", "fed_a", "fed_b"))
