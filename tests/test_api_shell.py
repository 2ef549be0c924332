"""API shell: OpenAPI document, docs page, problem+json errors, pagination."""

from __future__ import annotations

from openapi_spec_validator import validate


def test_openapi_document_validates_as_openapi_3(client):
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200
    spec = response.get_json()
    assert spec["openapi"].startswith("3.")
    validate(spec)
    assert "/api/v1/auth/tokens" in spec["paths"]
    assert "bearerAuth" in spec["components"]["securitySchemes"]


def test_docs_page_and_its_assets_are_served_locally(client):
    page = client.get("/api/v1/docs")
    assert page.status_code == 200
    assert b"/api/v1/docs/static/" in page.data
    asset = client.get("/api/v1/docs/static/swagger-ui-bundle.js")
    assert asset.status_code == 200
    asset.close()


def test_unknown_api_path_is_problem_json_404(client):
    response = client.get("/api/v1/nothing-here")
    assert response.status_code == 404
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == 404 and body["title"] == "Not Found"


def test_pagination_shape_and_limits(api_as):
    root = api_as("system_admin", "DM")
    page = root.get("/api/v1/departments?page=2&per_page=10").get_json()
    assert page["total"] == 25 and page["page"] == 2 and page["per_page"] == 10
    assert len(page["items"]) == 10
    too_big = root.get("/api/v1/departments?per_page=100000")
    assert too_big.status_code == 422
    assert "per_page" in too_big.get_json()["errors"]


def test_api_responses_carry_a_request_id(client):
    response = client.get("/api/v1/openapi.json", headers={"X-Request-Id": "abc123"})
    assert response.headers["X-Request-Id"] == "abc123"


def test_json_keeps_the_schema_field_order_and_arabic_as_utf8(api_as):
    root = api_as("system_admin", "POLICE")
    response = root.get("/api/v1/departments?per_page=1")
    body = response.get_data(as_text=True)
    # UTF-8 letters, not \u escapes (a third of the bytes).
    assert "مطارات دبي" in body and "\\u" not in body  # the first by code: AIRPORTS
    item = response.get_json()["items"][0]
    assert list(item)[:4] == ["id", "code", "name_en", "name_ar"]  # DepartmentSchema's order
    assert list(response.get_json()) == ["items", "total", "page", "per_page"]


def test_an_argument_schema_class_is_built_once_not_per_request(app):
    from marshmallow import Schema, fields

    from grp.api import Blueprint
    from grp.auth.permissions import public

    built = []

    class CountingQuerySchema(Schema):
        n = fields.Integer(required=True)

        def __init__(self, *args, **kwargs):
            built.append(self)
            super().__init__(*args, **kwargs)

    blp = Blueprint("counting_test", __name__, url_prefix="/api/v1/_test")

    @blp.route("/echo")
    @blp.arguments(CountingQuerySchema, location="query")
    @public
    def echo(query):
        return {"n": query["n"]}

    app.register_blueprint(blp)
    client = app.test_client()
    assert [client.get(f"/api/v1/_test/echo?n={n}").get_json() for n in (1, 2)] == [
        {"n": 1},
        {"n": 2},
    ]
    bad = client.get("/api/v1/_test/echo?n=x")
    assert bad.status_code == 422 and "n" in bad.get_json()["errors"]
    assert len(built) == 1


def test_a_reusable_querys_pages_are_a_fresh_querys(departments, db_session):
    import sqlalchemy as sa

    from grp import api
    from grp.api import paginate
    from grp.tenancy import department_context, reusable
    from grp.testing.probe import TenancyProbe

    label = TenancyProbe.label
    with department_context(db_session, departments["POLICE"].id):
        db_session.add_all(TenancyProbe(label=f"row {n}") for n in range(7))
        db_session.flush()
        kept = reusable(sa.select(label).where(label >= sa.bindparam("start")).order_by(label))
        for start in ("row 2", "row 5"):
            fresh = sa.select(label).where(label >= start).order_by(label)
            for narrow in (False, True):
                for page in (1, 2, 3, 9):
                    expected = paginate(fresh, page, 2, narrow=narrow)
                    got = paginate(kept, page, 2, narrow=narrow, params={"start": start})
                    assert got == expected, (start, narrow, page)
        assert paginate(kept, 2, 2, params={"start": "row 2"}) == {
            "items": ["row 4", "row 5"],
            "total": 5,
            "page": 2,
            "per_page": 2,
        }
        # Its page statements are built once (the limit and offset bound), then kept.
        built = api._PAGE_STATEMENTS[kept]
        paginate(kept, 3, 5, narrow=True, params={"start": "row 5"})
        assert api._PAGE_STATEMENTS[kept] is built
        db_session.rollback()
