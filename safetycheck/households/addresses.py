"""Match the address a worker types at check-in to a known household.

Warning markers and agreed controls (joint visit only, ...) hang off households, so a check-in at
"12 high st ls14ap" must find the household entered as "12 High Street, Leeds LS1 4AP". Workers
type fast on phones; this module turns both into the same key.

The key, when a UK postcode is found, is ``"<POSTCODE>|<number and street>"``: the postcode pins
the area (so the town can be left out) and the number and street tell doors apart (12 and 14
High Street, Flat 2 and Flat 3 at number 12, never match). Without a postcode the key is the
whole normalised text. Normalising means upper case, accents and punctuation removed,
whitespace collapsed, common abbreviations expanded (RD -> ROAD, APT -> FLAT, ...), ST read as
SAINT before a name ("12 St Johns Rd") and as STREET after one, "No. 12" -> "12", "12 a" ->
"12A" and "02" -> "2".

Limits, honestly:
- Only what was typed is compared: no gazetteer (no AddressBase/PAF lookup), so a wrong or
  missing postcode, or a misspelt street ("Hihg St"), does not match. Callers should offer
  near candidates for a person to confirm rather than trust a miss: a missed match hides a
  warning marker.
- The street ends at a street word (STREET, ROAD, LANE, ...) after the house number. Where there
  is none ("12 Rose Cottages Leeds"), a town typed without a comma stays part of the key, so
  it does not match "12 Rose Cottages, Leeds". A house name without a number is kept whole up
  to its comma ("The Park House, Leeds"); typed without commas, a street word after its second
  word ends it ("The Old Park Lodge" is cut to "THE OLD PARK").
- Word order matters: "12 High St, Flat 2" and "Flat 2, 12 High St" differ, as do "2/12 High St"
  and "Flat 2, 12 High St".
- Postcodes are the geographic UK ones plus GIR 0AA; BFPO and overseas territories are not.
  The pattern checks the shape, not that the postcode exists. A bare postcode has an empty
  first line, so it matches only another bare postcode.
- Letters outside Latin script are dropped (accents are removed first: "Église" -> "EGLISE").
"""

from __future__ import annotations

import re
import unicodedata
from dataclasses import dataclass

# UK postcode letters by position (Royal Mail): the first letter is never Q, V or X; the second
# never I, J or Z; the third (A9A) and fourth (AA9A) come from short lists; the inward letters
# never include C, I, K, M, O or V. This is what stops words and numbers passing as postcodes.
_FIRST = "[A-PR-UWYZ]"
_SECOND = "[A-HK-Y]"
_THIRD = "[A-HJKPS-UW]"
_FOURTH = "[ABEHMNPRV-Y]"
_INWARD = "[0-9][ABD-HJLNP-UW-Z]{2}"
_OUTWARD = (
    f"{_FIRST}[0-9][0-9]?|{_FIRST}[0-9]{_THIRD}|{_FIRST}{_SECOND}[0-9][0-9]?|{_FIRST}{_SECOND}[0-9]{_FOURTH}"
)
_POSTCODE_RE = re.compile(
    rf"(?<![A-Z0-9])(?:(?P<outward>{_OUTWARD})\s*(?P<inward>{_INWARD})|GIR\s*0AA)(?![A-Z0-9])",
    re.IGNORECASE,
)

_ABBREVIATIONS = {
    "RD": "ROAD",
    "STR": "STREET",
    "AVE": "AVENUE",
    "AV": "AVENUE",
    "AVEN": "AVENUE",
    "LN": "LANE",
    "DR": "DRIVE",
    "DRV": "DRIVE",
    "CT": "COURT",
    "CRT": "COURT",
    "PL": "PLACE",
    "CRES": "CRESCENT",
    "CRESC": "CRESCENT",
    "CRS": "CRESCENT",
    "CL": "CLOSE",
    "GDNS": "GARDENS",
    "GDN": "GARDEN",
    "GR": "GROVE",
    "GRO": "GROVE",
    "GRV": "GROVE",
    "SQ": "SQUARE",
    "TER": "TERRACE",
    "TERR": "TERRACE",
    "TCE": "TERRACE",
    "PK": "PARK",
    "PDE": "PARADE",
    "WK": "WALK",
    "HL": "HILL",
    "HTS": "HEIGHTS",
    "GRN": "GREEN",
    "BLVD": "BOULEVARD",
    "MT": "MOUNT",
    "EST": "ESTATE",
    "HSE": "HOUSE",
    "BLDG": "BUILDING",
    "BLDGS": "BUILDINGS",
    "COTT": "COTTAGE",
    "COTTS": "COTTAGES",
    "UPR": "UPPER",
    "LWR": "LOWER",
    "GT": "GREAT",
    "APARTMENT": "FLAT",
    "APT": "FLAT",
    "APPT": "FLAT",
    "FLT": "FLAT",
}
# Words that end a street name; the key keeps the address up to the first of them.
_STREET_TYPES = frozenset(
    "STREET ROAD AVENUE LANE DRIVE COURT PLACE CRESCENT CLOSE GARDENS GROVE SQUARE TERRACE PARK "
    "PARADE WALK HILL HEIGHTS GREEN BOULEVARD WAY MEWS ROW RISE VIEW GATE VALE WHARF YARD "
    "CIRCUS ESPLANADE".split()
)
_APOSTROPHES = re.compile("['\u2018\u2019`]")
_SEGMENT_BREAKS = re.compile(r"[,;\n\r]+")
_NOT_ALNUM = re.compile(r"[\W_]+")


@dataclass(frozen=True)
class NormalisedAddress:
    key: str  # compare these to match a check-in to a household
    postcode: str | None  # "SW1A 1AA" form
    first_line: str  # normalised number and street, e.g. "FLAT 2 12 HIGH STREET"
    display: str  # what was typed, tidied, with the postcode in standard form


def extract_postcode(text: str) -> str | None:
    """Find a UK postcode in free text (any case or spacing) and return it as "SW1A 1AA"."""
    match = _last_postcode(text)
    return None if match is None else _format_postcode(match)


def normalise_address(text: str) -> NormalisedAddress:
    """Turn a typed address into a matching key and tidy display forms."""
    if not text.strip():
        raise ValueError("address is blank")
    match = _last_postcode(text)
    postcode = None
    rest = shown = text
    if match is not None:
        postcode = _format_postcode(match)
        rest = text[: match.start()] + " " + text[match.end() :]
        shown = text[: match.start()] + postcode + text[match.end() :]
    # Lines typed on separate lines read as comma-separated parts.
    lines = (" ".join(line.split()).strip(" ,") for line in shown.splitlines())
    display = ", ".join(line for line in lines if line)
    segments = _canonical_segments(rest)
    first_line = " ".join(_number_and_street(segments))
    if postcode is None:
        key = " ".join(token for segment in segments for token in segment)
    else:
        key = f"{postcode}|{first_line}"
    return NormalisedAddress(key=key, postcode=postcode, first_line=first_line, display=display)


def _last_postcode(text: str) -> re.Match[str] | None:
    # The postcode ends a UK address, so the last candidate is the likeliest.
    matches = list(_POSTCODE_RE.finditer(text))
    return matches[-1] if matches else None


def _format_postcode(match: re.Match[str]) -> str:
    if match["outward"] is None:
        return "GIR 0AA"
    return f"{match['outward'].upper()} {match['inward'].upper()}"


def _canonical_segments(text: str) -> list[list[str]]:
    """Split at commas and canonicalise each segment's words."""
    ascii_text = unicodedata.normalize("NFKD", text).encode("ascii", "ignore").decode()
    ascii_text = _APOSTROPHES.sub("", ascii_text).upper()
    segments = []
    for raw in _SEGMENT_BREAKS.split(ascii_text):
        tokens = _canonical_tokens(_NOT_ALNUM.sub(" ", raw).split())
        if tokens:
            segments.append(tokens)
    return segments


def _canonical_tokens(words: list[str]) -> list[str]:
    tokens: list[str] = []
    for i, word in enumerate(words):
        following = words[i + 1] if i + 1 < len(words) else None
        if word.isdigit():
            word = word.lstrip("0") or "0"
        if word in ("NO", "NUMBER") and following is not None and following[0].isdigit():
            continue  # "No. 12" is 12
        if word == "ST":
            # Before a name ("12 St Johns Rd", "St Marys Court") it is SAINT; after one, STREET.
            starts_name = not tokens or _has_digit(tokens[-1])
            word = "SAINT" if starts_name and following is not None else "STREET"
        word = _ABBREVIATIONS.get(word, word)
        if len(word) == 1 and word.isalpha() and tokens and tokens[-1].isdigit():
            tokens[-1] += word  # "12 a" is 12A
            continue
        tokens.append(word)
    return tokens


def _number_and_street(segments: list[list[str]]) -> list[str]:
    """Keep the address up to its street, dropping the town that follows."""
    tokens = [token for segment in segments for token in segment]
    if not tokens:
        return []
    segment_of = [n for n, segment in enumerate(segments) for _ in segment]
    starts = {sum(len(s) for s in segments[:n]) for n in range(len(segments))}
    numbered = [i for i, token in enumerate(tokens) if _has_digit(token)]
    if numbered:
        # The street follows the last number (the house, after any flat), with at least one
        # name word between: in the number's segment or, for "12, High Street", the next one.
        last_number = numbered[-1]
        search = {segment_of[last_number]}
        if last_number + 1 in starts:
            search.add(segment_of[last_number] + 1)
        first_candidate = last_number + 2
        fallback = max(j for j in range(len(tokens)) if segment_of[j] in search)
    elif len(segments) > 1:
        # A house name before a comma is kept whole ("The Park House"); a street may follow.
        search = set(range(1, len(segments)))
        first_candidate = len(segments[0])
        fallback = len(segments[0]) - 1
    else:
        # No number, no commas: a street type needs two words before it to end the street
        # ("Rose Cottage Mill Lane Leeds"), not to be part of a name ("The Park House").
        search = {0}
        first_candidate = 2
        fallback = len(tokens) - 1
    end = fallback
    for j in range(first_candidate, len(tokens)):
        if segment_of[j] not in search:
            break
        if tokens[j] in _STREET_TYPES and j not in starts:
            end = j
            break
    # "Park Road", "Court Lane": a street type may be part of the name.
    while end + 1 < len(tokens) and end + 1 not in starts and tokens[end + 1] in _STREET_TYPES:
        end += 1
    return tokens[: end + 1]


def _has_digit(token: str) -> bool:
    return any(ch.isdigit() for ch in token)
