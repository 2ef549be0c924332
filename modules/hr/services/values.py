"""Reading typed values from forms, JSON and import files, with a message per bad field.

Import files give text (CSV) or cells (XLSX: numbers, datetimes); the API gives
JSON types; forms give Python types. These helpers accept all of them, so the
same rules check every entry path.
"""

from __future__ import annotations

import re
from datetime import date, datetime
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from grp.money import CENT, MoneyError, to_decimal
from modules.hr.i18n import _

#: Dates (hire, expiry, "in force today") are Dubai's calendar days, whatever the server's zone.
LOCAL_ZONE = ZoneInfo("Asia/Dubai")

_DMY = re.compile(r"^([0-9]{1,2})/([0-9]{1,2})/([0-9]{4})$")
_INTEGER = re.compile(r"^[0-9]+$")


class Invalid(ValueError):
    """A value cannot be read; the message is for the person who typed it."""


class FieldErrors(dict[str, list[str]]):
    """Messages per field, in the order found."""

    def add(self, name: str, message: str) -> None:
        self.setdefault(name, []).append(message)


def blank(value: Any) -> bool:
    """Tell whether a value counts as not given (None or only spaces)."""
    return value is None or (isinstance(value, str) and not value.strip())


def as_text(value: Any) -> str | None:
    """Return stripped text, or None when blank."""
    if blank(value):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)  # a spreadsheet turned "1234" into 1234.0
    return str(value).strip()


def as_date(value: Any) -> date | None:
    """Return a date from a date, a datetime, `YYYY-MM-DD` or `DD/MM/YYYY`; None when blank."""
    if blank(value):
        return None
    if isinstance(value, datetime):
        return value.date()
    if isinstance(value, date):
        return value
    text = str(value).strip()
    try:
        if match := _DMY.match(text):
            day, month, year = (int(part) for part in match.groups())
            return date(year, month, day)
        if len(text) == 10:
            return date.fromisoformat(text)
        return datetime.fromisoformat(text).date()  # "2024-01-31 00:00:00" from some exports
    except ValueError as exc:
        raise Invalid(_("Enter a date as YYYY-MM-DD.")) from exc


def as_int(value: Any) -> int | None:
    """Return a whole number from an int, a whole float or digits; None when blank."""
    if blank(value):
        return None
    if isinstance(value, bool):
        raise Invalid(_("Enter a whole number."))
    if isinstance(value, int):
        return value
    if isinstance(value, float) and value.is_integer():
        return int(value)
    text = str(value).strip()
    if _INTEGER.match(text):
        return int(text)
    raise Invalid(_("Enter a whole number."))


def as_money(value: Any) -> Decimal | None:
    """Return an exact amount with at most two decimals; None when blank.

    Spreadsheet numbers arrive as floats; they are read through their shortest
    text form (`repr`), never by binary value, and refused beyond two decimals.
    """
    if blank(value):
        return None
    if isinstance(value, float):
        value = repr(value)
    if isinstance(value, str):
        value = value.strip().replace(",", "")
    try:
        amount = to_decimal(value)
    except MoneyError as exc:
        raise Invalid(_("Enter an amount such as 12500.00.")) from exc
    if amount != amount.quantize(CENT):
        raise Invalid(_("Use at most two decimals (fils)."))
    return amount.quantize(CENT)


def format_money(amount: Decimal) -> str:
    """Write an amount as `12,345.67` (the form used in messages)."""
    return f"{amount:,.2f}"


def add_years(day: date, years: int) -> date:
    """Return the same calendar day `years` later (29 February becomes 28 February)."""
    try:
        return day.replace(year=day.year + years)
    except ValueError:
        return day.replace(year=day.year + years, day=28)


def local_today() -> date:
    """Return today's date in Dubai (a server in UTC is four hours behind at midnight)."""
    return datetime.now(LOCAL_ZONE).date()
