"""Reading a page as a person would: its text, its buttons' names, its error summary."""

from __future__ import annotations

import re
from typing import Any


def text(response: Any) -> str:
    return response.get_data(as_text=True)


def buttons(response: Any) -> list[str]:
    """The names of every button on the page, as a person (or Playwright) finds them."""
    found = re.findall(r"<button[^>]*>\s*(.*?)\s*</button>", text(response), re.S)
    return [re.sub(r"\s+", " ", b) for b in found]


def error_summary(response: Any) -> str:
    match = re.search(r'class="govuk-error-summary".*?</div>\s*</div>', text(response), re.S)
    assert match, "no error summary on the page"
    return re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", match.group(0)))
