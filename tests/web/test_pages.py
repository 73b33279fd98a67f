"""What every page shares: the CSP, content-hashed static files, HTML error pages (JSON stays
JSON for the API), and no inline code the CSP would refuse."""

from __future__ import annotations

import re

import pytest
from flask import Flask

from safetycheck.paths import PACKAGE_DIR
from safetycheck.web.assets import file_hash
from tests.assertions import assert_error

PAGES = ["/admin", "/admin/users", "/admin/users/new", "/admin/teams", "/admin/numbers", "/admin/policy"]


def test_pages_carry_a_csp_without_unsafe_inline(web_as, org, web) -> None:
    for response in [web.get("/login"), *(web_as(org.admin).get(url) for url in PAGES)]:
        policy = response.headers["Content-Security-Policy"]
        assert "unsafe-inline" not in policy
        assert "unsafe-eval" not in policy
        assert "script-src 'self' 'nonce-" in policy
        assert response.headers["Cache-Control"] == "no-store"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_no_inline_code_but_the_nonced_snippet(web_as, org, web) -> None:
    admin = web_as(org.admin)
    for response in [web.get("/login"), *(admin.get(url) for url in PAGES)]:
        html = response.get_data(as_text=True)
        nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"]).group(1)
        for tag in re.findall(r"<script\b[^>]*>", html):
            assert "src=" in tag or f'nonce="{nonce}"' in tag, tag
        assert not re.search(r"\son[a-z]+\s*=", html), "an on*= handler"
        assert not re.search(r"\sstyle\s*=", html), "a style attribute"


def test_static_files_have_a_content_hash_and_a_long_cache(web) -> None:
    page = web.get("/login").get_data(as_text=True)
    css = re.search(r'href="(/static/vendor/govuk-frontend/govuk-frontend.min.css\?v=([0-9a-f]{12}))"', page)
    assert css, "the stylesheet URL carries its hash"
    assert css.group(2) == file_hash("vendor/govuk-frontend/govuk-frontend.min.css")
    hashed = web.get(css.group(1))
    assert hashed.status_code == 200
    assert "no-cache" not in hashed.headers["Cache-Control"]
    assert "Vary" not in hashed.headers  # the same file for everyone
    assert "immutable" in hashed.headers["Cache-Control"]
    assert "max-age=31536000" in hashed.headers["Cache-Control"]
    stale = web.get("/static/vendor/govuk-frontend/govuk-frontend.min.css?v=000000000000")
    assert "no-cache" in stale.headers["Cache-Control"]
    assert web.get("/static/../__init__.py").status_code == 404
    assert web.get("/static/%2e%2e/__init__.py").status_code == 404
    assert web.get("/static/nothing.css").status_code == 404


def test_the_vendored_files_are_recorded_with_their_licences() -> None:
    import json

    from safetycheck.web.assets import STATIC_DIR

    record = json.loads((STATIC_DIR / "vendor" / "VENDORED.json").read_text())
    libraries = {lib["name"]: lib for lib in record["libraries"]}
    assert libraries["govuk-frontend"]["version"] == "6.3.0"  # what govuk-frontend-jinja 4.1.0 targets
    for lib in libraries.values():
        folder = STATIC_DIR / "vendor" / lib["folder"]
        assert (folder / lib["licence_file"]).read_text().strip()
        for name in lib["files"]:
            assert (folder / name).stat().st_size > 1000
    assert "GDS Transport" not in (STATIC_DIR / "vendor/govuk-frontend/govuk-frontend.min.css").read_text()


def test_a_browser_gets_html_error_pages_and_the_api_keeps_json(web, client) -> None:
    missing = web.get("/nowhere")
    assert missing.status_code == 404
    assert missing.mimetype == "text/html"
    assert "Page not found" in missing.get_data(as_text=True)
    assert "Content-Security-Policy" in missing.headers
    assert_error(web.get("/api/v1/visits/1"), 401)
    assert_error(client.get("/nowhere"), 404)  # a script, not a browser
    assert_error(client.post("/twilio/sms", data={}), 403)


def test_wrong_method_on_a_page_is_an_html_405(web) -> None:
    response = web.client.put("/login", headers={"Accept": "text/html"})
    assert response.status_code == 405
    assert response.mimetype == "text/html"
    assert "GET" in response.headers["Allow"]


def test_an_error_inside_a_page_is_the_html_500_page(base_config, clock) -> None:
    from safetycheck import create_app

    app: Flask = create_app({**base_config, "TESTING": False}, clock=clock)

    @app.get("/boom-page", endpoint="web.boom")
    def boom() -> str:
        raise RuntimeError("kaboom")

    response = app.test_client().get("/boom-page")
    assert response.status_code == 500
    assert "Sorry, there is a problem with the service" in response.get_data(as_text=True)


def test_htmx_requests_are_told_to_sign_in_with_hx_redirect(web) -> None:
    response = web.client.get("/admin/users", headers={"HX-Request": "true"})
    assert response.status_code == 401
    assert response.headers["HX-Redirect"] == "/login?next=/admin/users"


@pytest.mark.parametrize("who", ["admin", "manager"])
def test_every_page_has_sign_out_and_the_signed_in_name(web_as, org, who) -> None:
    user = getattr(org, who)
    page = web_as(user).get({"admin": "/admin", "manager": "/board"}[who]).get_data(as_text=True)
    assert ">Sign out</button>" in page
    assert user.name in page
    assert 'action="/logout"' in page


@pytest.mark.parametrize(
    ("who", "links"),
    [
        ("admin", ["/board", "/register", "/register/summary", "/markers", "/admin"]),
        ("manager", ["/board", "/register", "/register/summary", "/markers"]),
        ("lead", ["/board", "/register", "/register/summary", "/markers"]),
        ("practitioner", ["/app"]),
    ],
)
def test_the_navigation_offers_every_page_the_role_may_open(web_as, org, who, links) -> None:
    user = {"admin": org.admin, "manager": org.manager, "lead": org.lead, "practitioner": org.practitioner}[
        who
    ]
    client = web_as(user)
    html = client.get(links[0]).get_data(as_text=True)
    nav = re.search(
        r'<nav[^>]*sc-service-navigation.*?</nav>|<nav[^>]*aria-label="Pages".*?</nav>', html, re.S
    )
    assert nav, "no service navigation"
    assert re.findall(r'class="govuk-service-navigation__link" href="([^"]+)"', nav.group(0)) == links
    for link in links:
        assert client.get(link).status_code == 200, link


def test_every_stylesheet_of_ours_has_balanced_braces() -> None:
    """A rule left open swallows every rule after it (a merge once dropped one closing brace)."""
    sheets = sorted((PACKAGE_DIR / "web" / "static" / "css").glob("*.css"))
    assert sheets
    for sheet in sheets:
        text = re.sub(r"/\*.*?\*/", "", sheet.read_text(), flags=re.S)
        text = re.sub(r'"(?:\\.|[^"\\])*"|\'(?:\\.|[^\'\\])*\'', '""', text)
        depth = 0
        for char in text:
            depth += {"{": 1, "}": -1}.get(char, 0)
            assert depth >= 0, f"{sheet.name}: a closing brace without its rule"
        assert depth == 0, f"{sheet.name}: {depth} rule(s) left open"
