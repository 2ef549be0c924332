"""Organisation services: default pay structure, org units, positions, grades and bands.

Everything here acts on the session's current department (grp.tenancy): the
queries are scoped and new rows take the department.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlalchemy.orm import Session, selectinload

from grp.errors import ValidationError
from grp.money import MoneyError, to_decimal
from modules.hr.i18n import _
from modules.hr.models import (
    ALLOWANCE_CODES,
    AllowanceType,
    Employee,
    Grade,
    OrgUnit,
    PayBand,
    Position,
)

#: Default monthly basic salary bands (AED) per grade, (min, max) per band. Grade 1 is
#: the most junior, 16 the most senior; Dubai's model pays basic = 50% of total salary.
DEFAULT_BANDS: dict[int, tuple[tuple[int, int], ...]] = {
    1: ((3_000, 4_500),),
    2: ((3_500, 5_200),),
    3: ((4_000, 6_000),),
    4: ((4_500, 6_500), (6_000, 8_000)),
    5: ((5_000, 7_500), (7_000, 9_500)),
    6: ((5_500, 8_000), (7_500, 10_500)),
    7: ((6_500, 9_000), (8_500, 12_000)),
    8: ((7_500, 10_000), (9_000, 14_000)),
    9: ((8_500, 12_000), (11_000, 16_000)),
    10: ((10_000, 14_000), (13_000, 19_000)),
    11: ((12_000, 16_000), (15_000, 21_000), (19_000, 25_000)),
    12: ((14_000, 19_000), (18_000, 25_000), (23_000, 30_000)),
    13: ((17_000, 23_000), (22_000, 30_000), (28_000, 36_000)),
    14: ((21_000, 28_000), (27_000, 36_000), (34_000, 44_000)),
    15: ((26_000, 35_000), (33_000, 45_000), (42_000, 55_000)),
    16: ((32_000, 45_000), (42_000, 58_000), (55_000, 75_000)),
}

#: Allowance types: code -> (English, Arabic, pensionable). Pensionable by default are
#: housing, social, children and cost of living (GPSSA contribution salary, DOMAIN.md).
DEFAULT_ALLOWANCES: dict[str, tuple[str, str, bool]] = {
    "housing": ("Housing allowance", "بدل السكن", True),
    "transport": ("Transport allowance", "بدل المواصلات", False),
    "general": ("General allowance", "العلاوة العامة", False),
    "social": ("Social allowance", "العلاوة الاجتماعية", True),
    "children": ("Children allowance", "علاوة الأبناء", True),
    "cost_of_living": ("Cost of living allowance", "علاوة غلاء المعيشة", True),
    "other": ("Other allowance", "بدلات أخرى", False),
}

CODE_PATTERN = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,31}$")
ARABIC_LETTER = re.compile(r"[\u0600-\u06FF\u0750-\u077F\uFB50-\uFDFF\uFE70-\uFEFF]")


def ensure_hr_defaults(session: Session) -> bool:
    """Create the default grades, pay bands and allowance types the department lacks.

    Existing rows are left as the department edited them. Returns True when
    anything was created.
    """
    grades = {
        g.number: g for g in session.scalars(sa.select(Grade).options(selectinload(Grade.bands)))
    }
    created = False
    for number, bands in DEFAULT_BANDS.items():
        grade = grades.get(number)
        if grade is None:
            grade = Grade(number=number, name_en=f"Grade {number}", name_ar=f"الدرجة {number}")
            session.add(grade)
            created = True
        if not grade.bands:
            for band, (low, high) in enumerate(bands, start=1):
                grade.bands.append(
                    PayBand(band=band, min_basic=Decimal(low), max_basic=Decimal(high))
                )
            created = True
    existing = set(session.scalars(sa.select(AllowanceType.code)))
    for code in ALLOWANCE_CODES:
        if code not in existing:
            name_en, name_ar, pensionable = DEFAULT_ALLOWANCES[code]
            session.add(
                AllowanceType(code=code, name_en=name_en, name_ar=name_ar, pensionable=pensionable)
            )
            created = True
    session.flush()
    return created


# --------------------------------------------------------------------------- reference data


@dataclass
class Reference:
    """The department's grades, positions and org units, loaded once for many validations.

    These are small (tens to hundreds of rows), unlike employees, so an import
    of thousands of rows checks its codes against this without a query per row.
    """

    grades: dict[int, Grade] = field(default_factory=dict)  # by number
    grades_by_id: dict[int, Grade] = field(default_factory=dict)
    positions: dict[int, Position] = field(default_factory=dict)
    positions_by_code: dict[str, Position] = field(default_factory=dict)
    org_units: dict[int, OrgUnit] = field(default_factory=dict)
    org_units_by_code: dict[str, OrgUnit] = field(default_factory=dict)


def load_reference(session: Session) -> Reference:
    """Load the current department's grades (with bands), positions and org units."""
    reference = Reference()
    for grade in session.scalars(sa.select(Grade).options(selectinload(Grade.bands))):
        reference.grades[grade.number] = grade
        reference.grades_by_id[grade.id] = grade
    for position in session.scalars(sa.select(Position)):
        reference.positions[position.id] = position
        reference.positions_by_code[position.code.upper()] = position
    for unit in session.scalars(sa.select(OrgUnit)):
        reference.org_units[unit.id] = unit
        reference.org_units_by_code[unit.code.upper()] = unit
    return reference


def pensionable_allowances(session: Session) -> set[str]:
    """Return the codes of the allowances flagged pensionable in the current department."""
    return set(
        session.scalars(sa.select(AllowanceType.code).where(AllowanceType.pensionable.is_(True)))
    )


class OrgUnitName(NamedTuple):
    """An org unit's code and names, for reports."""

    code: str
    name_en: str
    name_ar: str


def org_unit_names(session: Session, org_unit_ids: Iterable[int]) -> dict[int, OrgUnitName]:
    """Return {org unit id: its code and names} for those of `org_unit_ids` (one query).

    Meant for the units of a report (a department has few); unknown ids are left out.
    """
    wanted = sorted(set(org_unit_ids))
    if not wanted:
        return {}
    return {
        unit_id: OrgUnitName(code, name_en, name_ar)
        for unit_id, code, name_en, name_ar in session.execute(
            sa.select(OrgUnit.id, OrgUnit.code, OrgUnit.name_en, OrgUnit.name_ar).where(
                OrgUnit.id.in_(wanted)
            )
        )
    }


# --------------------------------------------------------------------------- helpers


def _text(
    data: Mapping[str, Any], name: str, errors: dict[str, list[str]], *, max_length: int
) -> str | None:
    value = data.get(name)
    value = value.strip() if isinstance(value, str) else value
    if not value:
        errors.setdefault(name, []).append(_("This field is required."))
        return None
    if len(value) > max_length:
        errors.setdefault(name, []).append(_("Use at most %(num)d characters.", num=max_length))
        return None
    return value


def clean_code(
    data: Mapping[str, Any], errors: dict[str, list[str]], name: str = "code"
) -> str | None:
    """Return a cleaned code (letters, digits, `.`, `_`, `-`; up to 32), or record an error."""
    value = _text(data, name, errors, max_length=32)
    if value is not None and not CODE_PATTERN.match(value):
        errors.setdefault(name, []).append(
            _("Use letters, digits, dots, dashes or underscores (up to 32), no spaces.")
        )
        return None
    return value


def clean_names(
    data: Mapping[str, Any],
    errors: dict[str, list[str]],
    prefix: str = "name",
    *,
    max_length: int = 200,
) -> dict[str, str]:
    """Return the English and Arabic names `<prefix>_en`, `<prefix>_ar` cleaned."""
    cleaned: dict[str, str] = {}
    for suffix in ("en", "ar"):
        key = f"{prefix}_{suffix}"
        value = _text(data, key, errors, max_length=max_length)
        if value is None:
            continue
        if suffix == "ar" and not ARABIC_LETTER.search(value):
            errors.setdefault(key, []).append(_("Write the Arabic name in Arabic letters."))
            continue
        cleaned[key] = value
    return cleaned


def _present(data: Mapping[str, Any], partial: bool, *names: str) -> bool:
    return not partial or any(name in data for name in names)


# --------------------------------------------------------------------------- org units


def _would_cycle(session: Session, unit: OrgUnit, parent_id: int) -> bool:
    """Tell whether making `parent_id` the parent of `unit` closes a loop in the tree."""
    seen: set[int] = set()
    current: int | None = parent_id
    while current is not None and current not in seen:
        if current == unit.id:
            return True
        seen.add(current)
        current = session.scalar(sa.select(OrgUnit.parent_id).where(OrgUnit.id == current))
    return current is not None  # an existing loop is a loop too


def _org_unit_changes(
    session: Session, data: Mapping[str, Any], unit: OrgUnit | None, *, partial: bool
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {}
    if _present(data, partial, "code"):
        code = clean_code(data, errors)
        if code is not None:
            clash = session.scalar(
                sa.select(OrgUnit.id).where(sa.func.upper(OrgUnit.code) == code.upper())
            )
            if clash is not None and (unit is None or clash != unit.id):
                errors.setdefault("code", []).append(_("Another org unit has this code."))
            changes["code"] = code
    if _present(data, partial, "name_en", "name_ar"):
        names = clean_names({**_current_names(unit), **data}, errors)
        changes.update(names)
    if "parent_id" in data:
        parent_id = data.get("parent_id")
        if parent_id in (None, "", 0):
            changes["parent_id"] = None
        else:
            parent = session.scalar(sa.select(OrgUnit).where(OrgUnit.id == int(parent_id)))
            if parent is None:
                errors.setdefault("parent_id", []).append(
                    _("Choose an org unit of this department.")
                )
            elif unit is not None and _would_cycle(session, unit, parent.id):
                errors.setdefault("parent_id", []).append(
                    _("An org unit cannot be placed under itself or one of its sub-units.")
                )
            else:
                changes["parent_id"] = parent.id
    if "is_active" in data:
        changes["is_active"] = bool(data["is_active"])
    if errors:
        raise ValidationError(errors)
    return changes


def _current_names(obj: Any, prefix: str = "name") -> dict[str, Any]:
    if obj is None:
        return {}
    return {
        f"{prefix}_en": getattr(obj, f"{prefix}_en"),
        f"{prefix}_ar": getattr(obj, f"{prefix}_ar"),
    }


def create_org_unit(session: Session, data: Mapping[str, Any]) -> OrgUnit:
    """Create an org unit (`code`, `name_en`, `name_ar`, optional `parent_id`)."""
    changes = _org_unit_changes(session, data, None, partial=False)
    unit = OrgUnit(**changes)
    session.add(unit)
    session.flush()
    return unit


def update_org_unit(session: Session, unit: OrgUnit, data: Mapping[str, Any]) -> OrgUnit:
    """Change an org unit's code, names, parent (no loops) or active flag."""
    for key, value in _org_unit_changes(session, data, unit, partial=True).items():
        setattr(unit, key, value)
    session.flush()
    return unit


def org_unit_tree(session: Session) -> list[tuple[OrgUnit, int]]:
    """Return the department's org units in tree order with their depth (roots first)."""
    units = list(session.scalars(sa.select(OrgUnit).order_by(OrgUnit.code)))
    children: dict[int | None, list[OrgUnit]] = {}
    for unit in units:
        children.setdefault(unit.parent_id, []).append(unit)
    ordered: list[tuple[OrgUnit, int]] = []
    seen: set[int] = set()

    def walk(parent_id: int | None, depth: int) -> None:
        for unit in children.get(parent_id, []):
            if unit.id in seen:
                continue
            seen.add(unit.id)
            ordered.append((unit, depth))
            walk(unit.id, depth + 1)

    walk(None, 0)
    # Units whose parent is missing (should not happen) are still listed.
    ordered.extend((unit, 0) for unit in units if unit.id not in seen)
    return ordered


# --------------------------------------------------------------------------- positions


def _position_changes(
    session: Session, data: Mapping[str, Any], position: Position | None, *, partial: bool
) -> dict[str, Any]:
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {}
    if _present(data, partial, "code"):
        code = clean_code(data, errors)
        if code is not None:
            clash = session.scalar(
                sa.select(Position.id).where(sa.func.upper(Position.code) == code.upper())
            )
            if clash is not None and (position is None or clash != position.id):
                errors.setdefault("code", []).append(_("Another position has this code."))
            changes["code"] = code
    if _present(data, partial, "title_en", "title_ar"):
        changes.update(clean_names({**_current_names(position, "title"), **data}, errors, "title"))
    if "org_unit_id" in data:
        unit_id = data.get("org_unit_id")
        if unit_id in (None, "", 0):
            changes["org_unit_id"] = None
        elif session.scalar(sa.select(OrgUnit.id).where(OrgUnit.id == int(unit_id))) is None:
            errors.setdefault("org_unit_id", []).append(_("Choose an org unit of this department."))
        else:
            changes["org_unit_id"] = int(unit_id)
    if "grade" in data:
        number = data.get("grade")
        if number in (None, "", 0):
            changes["grade_id"] = None
        else:
            grade_id = session.scalar(sa.select(Grade.id).where(Grade.number == int(number)))
            if grade_id is None:
                errors.setdefault("grade", []).append(_("Choose a grade from 1 to 16."))
            else:
                changes["grade_id"] = grade_id
    if "is_active" in data:
        changes["is_active"] = bool(data["is_active"])
    if errors:
        raise ValidationError(errors)
    return changes


def create_position(session: Session, data: Mapping[str, Any]) -> Position:
    """Create a position (`code`, `title_en`, `title_ar`, optional `org_unit_id`, `grade`)."""
    position = Position(**_position_changes(session, data, None, partial=False))
    session.add(position)
    session.flush()
    return position


def update_position(session: Session, position: Position, data: Mapping[str, Any]) -> Position:
    """Change a position's code, titles, org unit, grade or active flag."""
    for key, value in _position_changes(session, data, position, partial=True).items():
        setattr(position, key, value)
    session.flush()
    return position


# --------------------------------------------------------------------------- grades


def _money(value: Any) -> Decimal:
    amount = to_decimal(value)
    if amount != amount.quantize(Decimal("0.01")):
        raise MoneyError("more than two decimals")
    return amount


def update_grade(
    session: Session,
    grade: Grade,
    *,
    names: Mapping[str, Any] | None = None,
    bands: Sequence[Mapping[str, Any]] | None = None,
) -> Grade:
    """Rename a grade and/or replace its pay bands (1 to 3, each `min_basic` <= `max_basic`).

    A band still held by employees cannot be removed. Contracts made under the
    old ranges stay as they are; the new ranges apply to new contract versions.
    """
    errors: dict[str, list[str]] = {}
    if names:
        cleaned = clean_names({**_current_names(grade), **names}, errors, max_length=100)
    else:
        cleaned = {}
    new_bands: list[tuple[Decimal, Decimal]] = []
    if bands is not None:
        if not 1 <= len(bands) <= 3:
            errors.setdefault("bands", []).append(_("A grade has 1 to 3 pay bands."))
        for index, band in enumerate(bands, start=1):
            try:
                low, high = _money(band.get("min_basic")), _money(band.get("max_basic"))
            except MoneyError:
                errors.setdefault("bands", []).append(
                    _("Band %(band)d: enter amounts such as 9000.00.", band=index)
                )
                continue
            if low <= 0 or low > high:
                errors.setdefault("bands", []).append(
                    _(
                        "Band %(band)d: the minimum must be above zero and not above the maximum.",
                        band=index,
                    )
                )
            new_bands.append((low, high))
        if len(bands) < len(grade.bands):
            held = session.scalar(
                sa.select(sa.func.count())
                .select_from(Employee)
                .where(Employee.grade_id == grade.id, Employee.band > len(bands))
            )
            if held:
                errors.setdefault("bands", []).append(
                    _(
                        "Employees (%(count)d) hold a band you are removing; move them first.",
                        count=held,
                    )
                )
    if errors:
        raise ValidationError(errors)
    for key, value in cleaned.items():
        setattr(grade, key, value)
    if bands is not None:
        by_number = {b.band: b for b in grade.bands}
        for number, (low, high) in enumerate(new_bands, start=1):
            existing = by_number.pop(number, None)
            if existing is None:
                grade.bands.append(PayBand(band=number, min_basic=low, max_basic=high))
            else:
                existing.min_basic, existing.max_basic = low, high
        for leftover in by_number.values():
            grade.bands.remove(leftover)
    session.flush()
    return grade


def update_allowance_type(
    session: Session, allowance: AllowanceType, data: Mapping[str, Any]
) -> AllowanceType:
    """Rename an allowance type or change whether it is pensionable."""
    errors: dict[str, list[str]] = {}
    cleaned = clean_names({**_current_names(allowance), **data}, errors, max_length=100)
    if errors:
        raise ValidationError(errors)
    for key, value in cleaned.items():
        setattr(allowance, key, value)
    if "pensionable" in data:
        allowance.pensionable = bool(data["pensionable"])
    session.flush()
    return allowance
