"""Checks Persona applies to attribute values (422 when they fail)."""

from __future__ import annotations

import re
from datetime import date
from typing import Any

from persona_mcp.sandbox.errors import invalid_attribute

_EMAIL = re.compile(r"^[^@\s]+@[^@\s]+\.[A-Za-z]{2,}$")

_COUNTRY_CODES_TEXT = """
AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN BO BQ
BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ DE DJ DK DM
DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL GM GN GP GQ GR GS
GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM JO JP KE KG KH KI KM KN
KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME MF MG MH MK ML MM MN MO MP MQ
MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP NR NU NZ OM PA PE PF PG PH PK PL PM
PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD SE SG SH SI SJ SK SL SM SN SO SR SS ST SV
SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI
VN VU WF WS YE YT ZA ZM ZW
"""

#: ISO 3166-1 alpha-2 codes.
COUNTRY_CODES = frozenset(_COUNTRY_CODES_TEXT.split())


def check_email(attribute: str, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or not _EMAIL.match(value)):
        raise invalid_attribute(attribute, f"data.attributes.{attribute} is not a valid email address")


def check_country(attribute: str, value: Any) -> None:
    if value is not None and (not isinstance(value, str) or value.upper() not in COUNTRY_CODES):
        raise invalid_attribute(
            attribute, f"data.attributes.{attribute} is not a valid ISO 3166-1 alpha-2 code"
        )


def check_date(attribute: str, value: Any) -> None:
    if value is None:
        return
    try:
        date.fromisoformat(value)
    except (TypeError, ValueError) as exc:
        raise invalid_attribute(
            attribute, f"data.attributes.{attribute} must be a date (YYYY-MM-DD)"
        ) from exc


def check_string(attribute: str, value: Any) -> None:
    if value is not None and not isinstance(value, str):
        raise invalid_attribute(attribute, f"data.attributes.{attribute} must be a string")


def check_tags(attribute: str, value: Any) -> None:
    if value is not None and (not isinstance(value, list) or not all(isinstance(t, str) for t in value)):
        raise invalid_attribute(attribute, f"data.attributes.{attribute} must be an array of strings")
