"""UAE identifiers shared by every module: Emirates ID and UAE IBAN (DOMAIN.md, Identifiers).

HR validates employees' identifiers with these, payroll writes them into the
WPS salary file, procurement checks vendors' IBANs. Each `parse_*` function
takes what a person typed (spaces, dashes, lower case) and returns the one
normalised form that is stored, or raises `IdentifierError` with a sentence
that says what is wrong; the `make_*` functions build valid values (demo data,
tests).

Only ASCII digits are accepted: `str.isdigit` and `\\d` also accept
Arabic-Indic digits, which the bank and WPS files (ASCII) cannot carry.
"""

from __future__ import annotations

import re

EMIRATES_ID_PREFIX = "784"
EMIRATES_ID_DIGITS = 15
UAE_IBAN_LENGTH = 23

_ASCII_DIGITS = re.compile(r"^[0-9]+$")
_EMIRATES_ID_TYPED = re.compile(r"^[0-9][0-9 \-]*$")
_UAE_IBAN = re.compile(r"^AE[0-9]{21}$")


def N_(message: str) -> str:  # noqa: N802 - the conventional name pybabel extracts
    """Mark `message` for translation; callers translate it when they show it."""
    return message


class IdentifierError(ValueError):
    """A value is not a valid identifier; the message says why, for the person who typed it.

    `message` is the English text (a catalog msgid) and `params` its `%(name)s`
    values, so a page can show it in the user's language:
    `gettext(exc.message, **exc.params)`. `str(exc)` is the English sentence.
    """

    def __init__(self, message: str, **params: object) -> None:
        self.message = message
        self.params = params
        super().__init__(message % params if params else message)


# --------------------------------------------------------------------------- Luhn


def luhn_check_digit(payload: str) -> str:
    """Return the Luhn check digit that completes `payload` (ASCII digits)."""
    if not _ASCII_DIGITS.match(payload):
        raise IdentifierError("Luhn payload must be digits")
    total = 0
    # Doubling starts from the rightmost payload digit: it sits left of the check digit.
    for position, char in enumerate(reversed(payload)):
        digit = int(char)
        if position % 2 == 0:
            digit *= 2
            if digit > 9:
                digit -= 9
        total += digit
    return str((10 - total % 10) % 10)


def luhn_valid(digits: str) -> bool:
    """Tell whether `digits` (check digit last) passes the Luhn check."""
    if len(digits) < 2 or not _ASCII_DIGITS.match(digits):
        return False
    return luhn_check_digit(digits[:-1]) == digits[-1]


# --------------------------------------------------------------------------- Emirates ID


def emirates_id_digits(value: str) -> str:
    """Return the digits of a typed Emirates ID, dropping spaces and dashes (no validation)."""
    return re.sub(r"[\s\-]", "", value or "")


def format_emirates_id(digits: str) -> str:
    """Write 15 digits as `784-YYYY-NNNNNNN-C`; a shorter prefix is written as far as it goes.

    The prefix form lets a search for `7841990` match stored `784-1990-...`.
    """
    parts = [digits[:3], digits[3:7], digits[7:14], digits[14:15]]
    return "-".join(part for part in parts if part)


def parse_emirates_id(value: str) -> str:
    """Return `value` as a valid Emirates ID in the stored form `784-YYYY-NNNNNNN-C`.

    Accepts the 15 digits with or without dashes or spaces. Raises
    IdentifierError when the length, the `784` prefix or the Luhn check digit
    (over all 15 digits) is wrong.
    """
    typed = (value or "").strip()
    if not typed:
        raise IdentifierError(N_("Enter the Emirates ID."))
    digits = emirates_id_digits(typed)
    if not _EMIRATES_ID_TYPED.match(typed) or not _ASCII_DIGITS.match(digits):
        raise IdentifierError(N_("An Emirates ID has only digits (0-9), optionally with dashes."))
    if len(digits) != EMIRATES_ID_DIGITS:
        raise IdentifierError(
            N_("An Emirates ID has 15 digits (784-YYYY-NNNNNNN-C); this one has %(count)d."),
            count=len(digits),
        )
    if not digits.startswith(EMIRATES_ID_PREFIX):
        raise IdentifierError(N_("An Emirates ID starts with 784."))
    if not luhn_valid(digits):
        raise IdentifierError(N_("This Emirates ID is not valid: its check digit does not match."))
    return format_emirates_id(digits)


def make_emirates_id(year: int, serial: int) -> str:
    """Build a valid Emirates ID for birth year `year` and a 7-digit `serial` (demo data)."""
    if not 0 <= serial <= 9_999_999 or not 1000 <= year <= 9999:
        raise IdentifierError("year must have 4 digits and serial at most 7")
    payload = f"{EMIRATES_ID_PREFIX}{year:04d}{serial:07d}"
    return format_emirates_id(payload + luhn_check_digit(payload))


# --------------------------------------------------------------------------- IBAN


def _mod97(text: str) -> int:
    """ISO 13616 / ISO 7064 mod 97-10 of an IBAN rearranged with letters as numbers."""
    converted = "".join(str(int(char, 36)) for char in text)
    return int(converted) % 97


def iban_check_digits(country: str, bban: str) -> str:
    """Return the two check digits of the IBAN for `country` (2 letters) and `bban`."""
    return f"{98 - _mod97(bban + country.upper() + '00'):02d}"


def compact_iban(value: str) -> str:
    """Return a typed IBAN without spaces or dashes, in upper case (no validation)."""
    return re.sub(r"[\s\-]", "", value or "").upper()


def parse_uae_iban(value: str) -> str:
    """Return `value` as a valid UAE IBAN in the stored compact form (`AE` + 21 digits).

    Spaces and dashes are dropped and letters upper-cased. Raises
    IdentifierError when the country, the length (23 characters) or the
    ISO 13616 mod-97 check is wrong.
    """
    iban = compact_iban(value)
    if not iban:
        raise IdentifierError(N_("Enter the IBAN."))
    if not iban.startswith("AE"):
        raise IdentifierError(N_("A UAE IBAN starts with AE."))
    if len(iban) != UAE_IBAN_LENGTH:
        raise IdentifierError(
            N_("A UAE IBAN has 23 characters (AE and 21 digits); this one has %(count)d."),
            count=len(iban),
        )
    if not _UAE_IBAN.match(iban):
        raise IdentifierError(N_("After AE, a UAE IBAN has only digits (0-9)."))
    if _mod97(iban[4:] + iban[:4]) != 1:
        raise IdentifierError(N_("This IBAN is not valid: its check digits do not match."))
    return iban


def make_uae_iban(bank_code: str, account: str) -> str:
    """Build a valid UAE IBAN from a 3-digit bank code and a 16-digit account (demo data)."""
    bban = f"{bank_code}{account}"
    if len(bank_code) != 3 or len(account) != 16 or not _ASCII_DIGITS.match(bban):
        raise IdentifierError("bank code must be 3 digits and account 16 digits")
    return f"AE{iban_check_digits('AE', bban)}{bban}"
