"""grp.identifiers: Emirates ID (Luhn over 15 digits) and UAE IBAN (mod 97), DOMAIN.md's values."""

from __future__ import annotations

import pytest
from hr_data import BAD_CHECKSUM_IBANS, BAD_EMIRATES_ID, BAD_LENGTH_IBAN, VALID_IBANS

from grp.identifiers import (
    IdentifierError,
    luhn_check_digit,
    make_emirates_id,
    make_uae_iban,
    parse_emirates_id,
    parse_uae_iban,
)


@pytest.mark.parametrize(
    ("typed", "stored"),
    [
        ("784-1990-1234567-6", "784-1990-1234567-6"),
        ("784199012345676", "784-1990-1234567-6"),
        (" 784 2000 1234567 2 ", "784-2000-1234567-2"),
        ("784-2000-1234567-2", "784-2000-1234567-2"),
    ],
)
def test_valid_emirates_ids_are_normalised(typed, stored):
    assert parse_emirates_id(typed) == stored


@pytest.mark.parametrize(
    ("typed", "reason"),
    [
        (BAD_EMIRATES_ID, "check digit"),
        ("784-1990-1234567", "15 digits"),
        ("785199012345675", "starts with 784"),
        ("784-1990-123456X-6", "only digits"),
        ("٧٨٤١٩٩٠١٢٣٤٥٦٧٦", "only digits"),  # Arabic-Indic digits cannot go into bank files
        ("", "Enter"),
    ],
)
def test_invalid_emirates_ids_say_why(typed, reason):
    with pytest.raises(IdentifierError) as refused:
        parse_emirates_id(typed)
    assert reason in str(refused.value)


def test_made_emirates_ids_pass_the_luhn_check():
    for serial in (0, 1, 42, 1234567, 9_999_999):
        assert parse_emirates_id(make_emirates_id(1990, serial)).startswith("784-1990-")
    assert luhn_check_digit("78419901234567") == "6"


@pytest.mark.parametrize("iban", [*VALID_IBANS, "ae07 0331 2345 6789 0123 456"])
def test_valid_ibans_are_accepted_in_compact_form(iban):
    assert parse_uae_iban(iban) == iban.replace(" ", "").upper()


@pytest.mark.parametrize("iban", BAD_CHECKSUM_IBANS)
def test_ibans_with_wrong_check_digits_are_refused(iban):
    with pytest.raises(IdentifierError, match="check digits"):
        parse_uae_iban(iban)


def test_ibans_of_the_wrong_length_or_country_are_refused():
    with pytest.raises(IdentifierError, match="23 characters"):
        parse_uae_iban(BAD_LENGTH_IBAN)
    with pytest.raises(IdentifierError, match="starts with AE"):
        parse_uae_iban("GB82WEST12345698765432")


def test_made_ibans_are_valid():
    assert parse_uae_iban(make_uae_iban("033", "1234567890123456")) == VALID_IBANS[0]
    assert parse_uae_iban(make_uae_iban("057", "0000011000494010")) == VALID_IBANS[1]


def test_identifier_errors_carry_a_translatable_message():
    with pytest.raises(IdentifierError) as refused:
        parse_uae_iban(BAD_LENGTH_IBAN)
    assert refused.value.message.endswith("this one has %(count)d.")
    assert refused.value.params == {"count": 26}
