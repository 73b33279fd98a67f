"""Edge tests share the page test client of tests/web."""

from tests.web.conftest import web, web_as  # noqa: F401
