"""Nationalities: ISO 3166-1 alpha-2 codes, the GCC, and country names in either language."""

from __future__ import annotations

from functools import cache

from babel import Locale

UAE = "AE"
#: Gulf Cooperation Council members other than the UAE (DOMAIN.md: their home pension scheme).
GCC = frozenset({"SA", "KW", "QA", "BH", "OM"})

#: The 249 officially assigned ISO 3166-1 alpha-2 codes (no reserved or user-assigned ones).
_ISO_CODES = (
    "AD AE AF AG AI AL AM AO AQ AR AS AT AU AW AX AZ BA BB BD BE BF BG BH BI BJ BL BM BN "
    "BO BQ BR BS BT BV BW BY BZ CA CC CD CF CG CH CI CK CL CM CN CO CR CU CV CW CX CY CZ "
    "DE DJ DK DM DO DZ EC EE EG EH ER ES ET FI FJ FK FM FO FR GA GB GD GE GF GG GH GI GL "
    "GM GN GP GQ GR GS GT GU GW GY HK HM HN HR HT HU ID IE IL IM IN IO IQ IR IS IT JE JM "
    "JO JP KE KG KH KI KM KN KP KR KW KY KZ LA LB LC LI LK LR LS LT LU LV LY MA MC MD ME "
    "MF MG MH MK ML MM MN MO MP MQ MR MS MT MU MV MW MX MY MZ NA NC NE NF NG NI NL NO NP "
    "NR NU NZ OM PA PE PF PG PH PK PL PM PN PR PS PT PW PY QA RE RO RS RU RW SA SB SC SD "
    "SE SG SH SI SJ SK SL SM SN SO SR SS ST SV SX SY SZ TC TD TF TG TH TJ TK TL TM TN TO "
    "TR TT TV TW TZ UA UG UM US UY UZ VA VC VE VG VI VN VU WF WS YE YT ZA ZM ZW"
)
ISO_COUNTRY_CODES = frozenset(_ISO_CODES.split())


def is_country_code(code: str) -> bool:
    """Tell whether `code` is an ISO 3166-1 alpha-2 country code (upper case)."""
    return code in ISO_COUNTRY_CODES


def nationality_category(code: str) -> str:
    """Return "uae", "gcc" or "other" for an ISO country code."""
    if code == UAE:
        return "uae"
    return "gcc" if code in GCC else "other"


@cache
def country_names(language: str) -> tuple[tuple[str, str], ...]:
    """Return (code, name) of every country in `language`, sorted by name; the UAE first."""
    territories = Locale.parse("ar" if language == "ar" else "en").territories
    names = sorted(
        ((code, territories.get(code, code)) for code in ISO_COUNTRY_CODES if code != UAE),
        key=lambda pair: pair[1],
    )
    return ((UAE, territories.get(UAE, UAE)), *names)


def country_name(code: str | None, language: str = "en") -> str:
    """Return the name of country `code` in `language` (the code itself if unknown)."""
    if not code:
        return ""
    return Locale.parse("ar" if language == "ar" else "en").territories.get(code, code)
