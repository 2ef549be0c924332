"""Demo HR data for `grp seed-demo`: organisation, grades and employees in every department.

Deterministic (a random generator seeded per department) and idempotent: what
exists is kept, a department that already has its share of employees gets no
more, and a second run adds nothing. Employees, contracts and their leave history
go in with `grp.tenancy.bulk_insert` (one multi-row INSERT per chunk, no per-row
flush), so 50,000 employees load in well under the 90 s the scale target allows.

What payroll and the benchmark need is there: valid Emirates IDs, IBANs, bank
routing codes and WPS person ids; a few joiners in the demo month (prorated),
fixed-term contracts ending in it (leavers) and salary changes in the middle of it;
this year's monthly leave accruals, approved annual and sick leave, and some
unpaid leave in the demo month. `grp seed-demo` passes its options (`largest`, a
progress callback) in `session.info[DEMO_OPTIONS]`.
"""

from __future__ import annotations

import random
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from grp.cli import DEMO_OPTIONS
from grp.demo import DEMO_DEPARTMENTS, demo_logins
from grp.identifiers import make_emirates_id, make_uae_iban
from grp.models import Department, User
from grp.tenancy import bulk_insert, department_context
from modules.hr.countries import UAE
from modules.hr.models import (
    Contract,
    Employee,
    EmployeeSearchWord,
    Grade,
    LeaveLedgerEntry,
    LeaveRequest,
    LeaveType,
    OrgUnit,
    Position,
)
from modules.hr.search_words import word_rows
from modules.hr.services.employees import LAW_57_2023_FROM
from modules.hr.services.leave import (
    accrue_department,
    ensure_leave_defaults,
    holidays_between,
    monthly_share,
    working_week,
)
from modules.hr.services.organisation import ensure_hr_defaults

TODAY = date(2026, 11, 1)  # fixed, so that the demo data is the same on every machine
#: The month the demo payroll is run for: joiners, leavers and raises fall in it.
DEMO_MONTH_END = date(2026, 11, 30)
CHUNK = 1000
#: The note of the demo's opening leave balances (accrued before GRP went live).
OPENING = "Opening balance: accrued this year before GRP (demo data)"
#: The department `--largest` sizes (the scale benchmark's 10,000-employee WPS file).
LARGEST_DEPARTMENT = "POLICE"

#: (code, parent code, English, Arabic)
ORG_UNITS: tuple[tuple[str, str | None, str, str], ...] = (
    ("DG", None, "Office of the Director General", "مكتب المدير العام"),
    ("HR", "DG", "Human Resources", "إدارة الموارد البشرية"),
    ("FIN", "DG", "Finance", "الإدارة المالية"),
    ("PROC", "FIN", "Procurement", "قسم المشتريات"),
    ("IT", "DG", "Information Technology", "إدارة تقنية المعلومات"),
    ("OPS", "DG", "Operations", "إدارة العمليات"),
    ("OPS-FLD", "OPS", "Field Operations", "قسم العمليات الميدانية"),
    ("OPS-PLN", "OPS", "Planning", "قسم التخطيط"),
    ("LEG", "DG", "Legal Affairs", "إدارة الشؤون القانونية"),
    ("CS", "DG", "Customer Happiness", "إدارة إسعاد المتعاملين"),
)

#: (code, unit, grade, English, Arabic); the first of each unit is its head.
POSITIONS: tuple[tuple[str, str, int, str, str], ...] = (
    ("DG-01", "DG", 16, "Director General", "المدير العام"),
    ("DG-02", "DG", 11, "Executive Office Manager", "مدير المكتب التنفيذي"),
    ("DG-03", "DG", 3, "Administrative Assistant", "مساعد إداري"),
    ("HR-01", "HR", 14, "Director of Human Resources", "مدير إدارة الموارد البشرية"),
    ("HR-02", "HR", 9, "HR Specialist", "أخصائي موارد بشرية"),
    ("HR-03", "HR", 6, "HR Officer", "موظف موارد بشرية"),
    ("FIN-01", "FIN", 14, "Director of Finance", "مدير الإدارة المالية"),
    ("FIN-02", "FIN", 8, "Accountant", "محاسب"),
    ("FIN-03", "FIN", 8, "Payroll Specialist", "أخصائي رواتب"),
    ("PROC-01", "PROC", 12, "Head of Procurement", "رئيس قسم المشتريات"),
    ("PROC-02", "PROC", 7, "Procurement Officer", "موظف مشتريات"),
    ("IT-01", "IT", 14, "Director of Information Technology", "مدير إدارة تقنية المعلومات"),
    ("IT-02", "IT", 10, "Software Engineer", "مهندس برمجيات"),
    ("IT-03", "IT", 6, "IT Support Officer", "موظف دعم فني"),
    ("OPS-01", "OPS", 15, "Director of Operations", "مدير إدارة العمليات"),
    ("OPS-02", "OPS-FLD", 10, "Operations Supervisor", "مشرف عمليات"),
    ("OPS-03", "OPS-FLD", 5, "Operations Officer", "موظف عمليات"),
    ("OPS-04", "OPS-FLD", 2, "Driver", "سائق"),
    ("OPS-05", "OPS-PLN", 12, "Senior Planner", "مخطط أول"),
    ("OPS-06", "OPS-PLN", 9, "Planner", "مخطط"),
    ("LEG-01", "LEG", 13, "Legal Counsel", "مستشار قانوني"),
    ("LEG-02", "LEG", 8, "Legal Researcher", "باحث قانوني"),
    ("CS-01", "CS", 11, "Customer Happiness Manager", "مدير إسعاد المتعاملين"),
    ("CS-02", "CS", 4, "Customer Service Officer", "موظف خدمة المتعاملين"),
    ("CS-03", "CS", 1, "Messenger", "مراسل"),
)

# Names per origin: male first names, female first names, family names; (English, Arabic).
_ARAB_MALE = (
    ("Mohammed", "محمد"),
    ("Ahmed", "أحمد"),
    ("Khalid", "خالد"),
    ("Saeed", "سعيد"),
    ("Rashid", "راشد"),
    ("Hamdan", "حمدان"),
    ("Sultan", "سلطان"),
    ("Majid", "ماجد"),
    ("Omar", "عمر"),
    ("Abdullah", "عبدالله"),
    ("Saif", "سيف"),
    ("Hamad", "حمد"),
    ("Yousef", "يوسف"),
    ("Ali", "علي"),
)
_ARAB_FEMALE = (
    ("Fatima", "فاطمة"),
    ("Mariam", "مريم"),
    ("Aisha", "عائشة"),
    ("Shamma", "شمة"),
    ("Hessa", "حصة"),
    ("Latifa", "لطيفة"),
    ("Noura", "نورة"),
    ("Maitha", "ميثاء"),
    ("Amna", "آمنة"),
    ("Sara", "سارة"),
    ("Reem", "ريم"),
    ("Khawla", "خولة"),
)
NAMES: dict[str, tuple[Sequence[tuple[str, str]], ...]] = {
    "AE": (
        _ARAB_MALE,
        _ARAB_FEMALE,
        (
            ("Al Mansoori", "المنصوري"),
            ("Al Nuaimi", "النعيمي"),
            ("Al Shamsi", "الشامسي"),
            ("Al Falasi", "الفلاسي"),
            ("Al Mazrouei", "المزروعي"),
            ("Al Suwaidi", "السويدي"),
            ("Al Hammadi", "الحمادي"),
            ("Al Marri", "المري"),
            ("Al Ketbi", "الكتبي"),
            ("Al Zaabi", "الزعابي"),
            ("Al Mehairi", "المهيري"),
            ("Al Qubaisi", "القبيسي"),
        ),
    ),
    "GCC": (
        _ARAB_MALE,
        _ARAB_FEMALE,
        (
            ("Al Harthy", "الحارثي"),
            ("Al Balushi", "البلوشي"),
            ("Al Otaibi", "العتيبي"),
            ("Al Dosari", "الدوسري"),
            ("Al Kuwari", "الكواري"),
            ("Al Ajmi", "العجمي"),
        ),
    ),
    "IN": (
        (("Rahul", "راهول"), ("Arjun", "أرجون"), ("Vikram", "فيكرام"), ("Suresh", "سوريش")),
        (("Priya", "بريا"), ("Anjali", "أنجالي"), ("Deepa", "ديبا"), ("Lakshmi", "لاكشمي")),
        (("Sharma", "شارما"), ("Nair", "ناير"), ("Menon", "مينون"), ("Iyer", "آيير")),
    ),
    "PK": (
        (("Imran", "عمران"), ("Bilal", "بلال"), ("Usman", "عثمان"), ("Faisal", "فيصل")),
        (("Ayesha", "عائشة"), ("Sana", "سناء"), ("Hina", "حنا"), ("Zainab", "زينب")),
        (("Qureshi", "قريشي"), ("Siddiqui", "صديقي"), ("Malik", "مالك"), ("Chaudhry", "شودري")),
    ),
    "EG": (
        (("Mahmoud", "محمود"), ("Mostafa", "مصطفى"), ("Tarek", "طارق"), ("Hany", "هاني")),
        (("Mona", "منى"), ("Heba", "هبة"), ("Dina", "دينا"), ("Yasmin", "ياسمين")),
        (("Hassan", "حسن"), ("Abdel Aziz", "عبد العزيز"), ("Mansour", "منصور"), ("Fahmy", "فهمي")),
    ),
    "JO": (
        (("Rami", "رامي"), ("Zaid", "زيد"), ("Samer", "سامر"), ("Fadi", "فادي")),
        (("Rania", "رانيا"), ("Lina", "لينا"), ("Dana", "دانة"), ("Ruba", "ربى")),
        (("Haddad", "حداد"), ("Khoury", "خوري"), ("Nasser", "ناصر"), ("Odeh", "عودة")),
    ),
    "PH": (
        (("Jose", "خوسيه"), ("Mark", "مارك"), ("Paolo", "باولو"), ("Ramon", "رامون")),
        (("Maria", "ماريا"), ("Grace", "غريس"), ("Joy", "جوي"), ("Angelica", "أنجليكا")),
        (("Santos", "سانتوس"), ("Reyes", "رييس"), ("Cruz", "كروز"), ("Garcia", "غارسيا")),
    ),
    "GB": (
        (("James", "جيمس"), ("Oliver", "أوليفر"), ("Thomas", "توماس"), ("David", "ديفيد")),
        (("Emma", "إيما"), ("Sophie", "صوفي"), ("Charlotte", "شارلوت"), ("Hannah", "هانا")),
        (("Wilson", "ويلسون"), ("Taylor", "تايلور"), ("Clarke", "كلارك"), ("Evans", "إيفانز")),
    ),
}
#: (nationality, weight); "GCC" members are drawn from GCC_CODES.
NATIONALITY_WEIGHTS = (
    ("AE", 45),
    ("GCC", 8),
    ("IN", 14),
    ("PK", 8),
    ("EG", 8),
    ("JO", 6),
    ("PH", 6),
    ("GB", 5),
)
GCC_CODES = ("SA", "OM", "BH", "KW", "QA")
#: Relative number of employees per grade: a pyramid, most in the middle grades.
GRADE_WEIGHTS = (4, 5, 6, 7, 8, 9, 9, 9, 8, 7, 6, 5, 3, 2, 1, 1)
BANKS = ("026", "030", "033", "035", "046", "057")


def spread(
    total: int,
    codes: Sequence[str],
    minimum: dict[str, int],
    *,
    largest: int | None = None,
) -> dict[str, int]:
    """Split `total` employees over departments evenly; some departments need a minimum.

    With `largest`, LARGEST_DEPARTMENT gets that many (at most `total`) and the
    others share the rest evenly: government departments differ in size, and the
    scale benchmark needs one department of 10,000.
    """
    if total <= 0 or not codes:
        return dict.fromkeys(codes, 0)
    big = LARGEST_DEPARTMENT if largest is not None and LARGEST_DEPARTMENT in codes else None
    others = [code for code in codes if code != big]
    rest = total - min(largest or 0, total) if big else total
    counts = dict.fromkeys(codes, 0)
    if others:
        base, extra = divmod(rest, len(others))
        counts.update(
            {code: base + (1 if index < extra else 0) for index, code in enumerate(others)}
        )
    if big:
        counts[big] = min(largest or 0, total) + (rest if not others else 0)
    for code, least in minimum.items():
        if code in counts:
            counts[code] = max(counts[code], least)
    return counts


def seed(session: Session, *, employees: int, largest: int | None = None) -> None:
    """Seed every department (see the module docstring); flushes, the caller commits.

    `largest` (or `session.info[DEMO_OPTIONS]["largest"]`, from `grp seed-demo
    --largest`) sizes LARGEST_DEPARTMENT; a `progress(done, total)` callable there
    hears of every chunk of employees.
    """
    options = session.info.get(DEMO_OPTIONS) or {}
    if largest is None:
        largest = options.get("largest")
    progress = options.get("progress") or (lambda done, total: None)
    departments = list(session.scalars(sa.select(Department).order_by(Department.id)))
    logins = [login for login in demo_logins() if login.role != "system_admin"]
    minimum = {code: sum(1 for x in logins if x.department == code) for code in DEMO_DEPARTMENTS}
    counts = spread(employees, [d.code for d in departments], minimum, largest=largest)
    total = sum(counts.values())
    done = 0
    progress(done, total)
    users = {u.username: u.id for u in session.scalars(sa.select(User))}
    for index, department in enumerate(departments):
        with department_context(session, department.id):
            ensure_hr_defaults(session)
            ensure_leave_defaults(session)
            units = _ensure_org_units(session)
            positions = _ensure_positions(session, units)

            def step(count: int, _done: int = done) -> None:
                progress(_done + count, total)

            _add_employees(session, department, index, counts[department.code], positions, step)
            mine = [x for x in logins if x.department == department.code]
            _link_logins(session, mine, users)
            session.flush()
            _seed_leave(session, mine, users)
            session.flush()
        done += counts[department.code]
        progress(done, total)


def _ensure_org_units(session: Session) -> dict[str, OrgUnit]:
    units = {u.code: u for u in session.scalars(sa.select(OrgUnit))}
    for code, _parent, name_en, name_ar in ORG_UNITS:
        if code not in units:
            units[code] = OrgUnit(code=code, name_en=name_en, name_ar=name_ar)
            session.add(units[code])
    session.flush()
    for code, parent, _en, _ar in ORG_UNITS:
        if parent and units[code].parent_id is None and code in units:
            units[code].parent_id = units[parent].id
    session.flush()
    return units


def _ensure_positions(session: Session, units: dict[str, OrgUnit]) -> list[Position]:
    grades = {g.number: g.id for g in session.scalars(sa.select(Grade))}
    positions = {p.code: p for p in session.scalars(sa.select(Position))}
    for code, unit, grade, title_en, title_ar in POSITIONS:
        if code not in positions:
            positions[code] = Position(
                code=code,
                title_en=title_en,
                title_ar=title_ar,
                org_unit_id=units[unit].id,
                grade_id=grades[grade],
            )
            session.add(positions[code])
    session.flush()
    return [positions[code] for code, *_ in POSITIONS]


def _weighted(rng: random.Random, pairs: Iterable[tuple[Any, int]]) -> Any:
    items, weights = zip(*pairs, strict=True)
    return rng.choices(items, weights=weights)[0]


def _salary(rng: random.Random, low: Decimal, high: Decimal) -> Decimal:
    """A basic salary in the band, rounded to 50 AED."""
    span = int((high - low) / 50)
    return low + 50 * rng.randint(0, max(span, 0))


def _person(
    rng: random.Random, department: Department, dept_index: int, number: int, grade: int
) -> dict[str, Any]:
    origin = _weighted(rng, NATIONALITY_WEIGHTS)
    nationality = rng.choice(GCC_CODES) if origin == "GCC" else origin
    males, females, families = NAMES[origin]
    gender = "female" if rng.random() < 0.38 else "male"
    first = rng.choice(females if gender == "female" else males)
    family = rng.choice(families)
    # Seniority: older and longer-serving in the higher grades.
    age = min(60, 22 + grade * 2 + rng.randint(0, 12))
    birth = date(TODAY.year - age, rng.randint(1, 12), rng.randint(1, 28))
    earliest_hire = max(date(birth.year + 21, birth.month, birth.day), date(1995, 1, 1))
    service_days = (TODAY - earliest_hire).days
    hire = earliest_hire + timedelta(days=rng.randint(0, max(service_days - 30, 0)))
    married = age > 26 and rng.random() < 0.7
    children = rng.randint(0, 5) if married else 0
    bank = rng.choice(BANKS)
    account = f"{dept_index:02d}{number:06d}{rng.randint(0, 99_999_999):08d}"
    email_name = f"{first[0]}.{family[0]}".lower().replace(" ", "")
    return {
        "employee_no": f"{department.code}-{number:05d}",
        "name_en": f"{first[0]} {family[0]}",
        "name_ar": f"{first[1]} {family[1]}",
        "emirates_id": make_emirates_id(birth.year, dept_index * 300_000 + number),
        "nationality": nationality,
        "date_of_birth": birth,
        "gender": gender,
        "marital_status": "married" if married else "single",
        "children": children,
        "hire_date": hire,
        "pension_scheme": (
            None
            if nationality != UAE
            else ("law_57_2023" if hire >= LAW_57_2023_FROM else "law_7_1999")
        ),
        "first_insured_date": hire if nationality == UAE else None,
        "iban": make_uae_iban(bank, account),
        "bank_routing_code": f"80{bank}{rng.randint(0, 9999):04d}",
        "wps_person_id": f"{dept_index + 1:02d}{number:012d}",
        "work_email": f"{email_name}.{number}@{department.code.lower()}.example.ae",
        "mobile": f"+9715{rng.choice('02568')}{rng.randint(0, 9_999_999):07d}",
        "status": "active" if rng.random() < 0.97 else "suspended",
    }


def _add_employees(
    session: Session,
    department: Department,
    dept_index: int,
    target: int,
    positions: list[Position],
    progress: Any = None,
) -> None:
    """Add employees up to `target`, a chunk at a time: rows, contracts, leave history.

    `progress(count)` hears how many were added so far after every chunk.
    """
    existing = session.scalar(sa.select(sa.func.count()).select_from(Employee)) or 0
    if existing >= target:
        return
    rng = random.Random(f"grp-demo-{department.code}-{existing}")  # noqa: S311 - demo data
    grades = {g.number: g for g in session.scalars(sa.select(Grade))}
    taken_numbers = set(
        session.scalars(
            sa.select(Employee.employee_no).where(
                Employee.employee_no.startswith(f"{department.code}-")
            )
        )
    )
    number_of = grades_by_id(grades)
    heads = {p.org_unit_id: p for p in positions if p.code.endswith("-01")}
    # A head position has one holder: the others are drawn from the rest (a head left
    # vacant in a small department stays so). It also makes the heads, inserted first,
    # the only holders of head positions, so everyone after them can be inserted with
    # their manager.
    by_grade: dict[int, list[Position]] = {}
    for position in positions:
        if position not in heads.values():
            by_grade.setdefault(number_of[position.grade_id], []).append(position)
    senior_first = sorted(heads.values(), key=lambda p: -number_of[p.grade_id])
    head_count = min(len(heads), max(1, target // 8))
    history = _LeaveHistory(session, rng)
    rows: list[dict[str, Any]] = []
    contracts: dict[str, list[dict[str, Any]]] = {}
    added = 0
    number = 0
    reporting: _Reporting | None = None
    while existing + added + len(rows) < target:
        number += 1
        employee_no = f"{department.code}-{number:05d}"
        if employee_no in taken_numbers:
            continue
        # The first employees fill head positions, most senior first: about one in eight
        # employees heads something, so a small department is not all directors.
        head = number <= head_count
        if not head and reporting is None:
            # The heads go in first, so that everyone after them is inserted with their
            # manager (an UPDATE of every employee afterwards was a twelfth of the seeding);
            # `_assign_managers` then gives the heads theirs.
            if rows:
                added += _insert_chunk(session, rows, contracts, history)
                rows, contracts = [], {}
            reporting = _reporting(session, heads)
        if head:
            position = senior_first[number - 1]
            grade_number = number_of[position.grade_id]
        else:
            grade_number = _weighted(rng, zip(range(1, 17), GRADE_WEIGHTS, strict=True))
            nearest = min(by_grade, key=lambda g: (abs(g - grade_number), g))
            position = rng.choice(by_grade[nearest])
        grade = grades[grade_number]
        band = rng.choices([b.band for b in grade.bands], weights=[4, 2, 1][: len(grade.bands)])[0]
        pay_band = grade.band_range(band)
        person = _person(rng, department, dept_index, number, grade_number)
        event = None if head else _weighted(rng, DEMO_MONTH_EVENTS)
        if event == "joiner":
            _join_in_demo_month(rng, person)
        rows.append(
            {
                **person,
                "grade_id": grade.id,
                "band": band,
                "position_id": position.id,
                "org_unit_id": position.org_unit_id,
                "manager_id": None
                if reporting is None
                else reporting.manager_of_new(position.org_unit_id),
                "user_id": None,
                "version_id": 1,
            }
        )
        basic = _salary(rng, pay_band.min_basic, pay_band.max_basic)
        contracts[employee_no] = _contract_rows(rng, person, grade.id, band, basic, pay_band, event)
        if len(rows) >= CHUNK:
            added += _insert_chunk(session, rows, contracts, history)
            rows, contracts = [], {}
            if progress is not None:
                progress(added)
    if rows:
        added += _insert_chunk(session, rows, contracts, history)
        if progress is not None:
            progress(added)
    _assign_managers(session, heads)


#: What happens to an employee in the demo month (DEMO_MONTH_END's): (event, weight).
DEMO_MONTH_EVENTS = (
    (None, 960),
    ("joiner", 10),  # hired in the month: prorated from the hire date
    ("leaver", 10),  # fixed-term contract ending in the month: prorated to its end
    ("raise", 20),  # a new contract version from the 16th
)


def _join_in_demo_month(rng: random.Random, person: dict[str, Any]) -> None:
    hire = DEMO_MONTH_END.replace(day=rng.randint(2, 27))
    person["hire_date"] = hire
    if person["nationality"] == UAE:
        person["first_insured_date"] = hire
        person["pension_scheme"] = "law_57_2023" if hire >= LAW_57_2023_FROM else "law_7_1999"


def _insert_chunk(
    session: Session,
    rows: list[dict[str, Any]],
    contracts: dict[str, list[dict[str, Any]]],
    history: _LeaveHistory,
) -> int:
    """Insert a chunk of employees with their contracts and leave history; return its size."""
    ids = dict(bulk_insert(session, Employee, rows, returning=(Employee.employee_no, Employee.id)))
    bulk_insert(
        session,
        Contract,
        [
            {**version, "employee_id": ids[employee_no]}
            for employee_no, versions in contracts.items()
            for version in versions
        ],
    )
    ends = {
        ids[employee_no]: versions[-1]["end_date"]
        for employee_no, versions in contracts.items()
        if versions[-1]["end_date"] is not None
    }
    history.add([(ids[row["employee_no"]], row) for row in rows], ends)
    bulk_insert(
        session,
        EmployeeSearchWord,
        list(
            word_rows(
                (
                    ids[row["employee_no"]],
                    row["name_en"],
                    row["name_ar"],
                    row["employee_no"],
                    row["emirates_id"],
                )
                for row in rows
            )
        ),
    )
    return len(rows)


def grades_by_id(grades: dict[int, Grade]) -> dict[int, int]:
    """Map grade ids to grade numbers."""
    return {grade.id: number for number, grade in grades.items()}


def _contract_rows(
    rng: random.Random,
    person: dict[str, Any],
    grade_id: int,
    band: int,
    basic: Decimal,
    pay_band: Any,
    event: str | None = None,
) -> list[dict[str, Any]]:
    """The contract versions: one, or two when the employee had a raise.

    A fifth of the longer-serving had a raise on 2025-01-01; `event` "raise" adds
    one from the 16th of the demo month, "leaver" makes the contract a fixed-term
    one ending in that month.
    """
    national = person["nationality"] == UAE
    married = person["marital_status"] == "married"

    def version(number: int, start: date, end: date | None, amount: Decimal) -> dict[str, Any]:
        return {
            "version": number,
            "start_date": start,
            "end_date": end,
            "contract_type": "fixed_term" if event == "leaver" else "permanent",
            "grade_id": grade_id,
            "band": band,
            "basic_salary": amount,
            # Dubai's model: total = basic + general allowance, basic = 50% of total.
            "general_allowance": amount,
            "housing_allowance": Decimal("0.00"),
            "transport_allowance": Decimal(1500) if amount < 10_000 else Decimal("0.00"),
            "social_allowance": Decimal(2000) if national and married else Decimal("0.00"),
            "children_allowance": Decimal(600 * min(person["children"], 6))
            if national
            else Decimal("0.00"),
            "cost_of_living_allowance": Decimal("0.00"),
            "other_allowance": Decimal("0.00"),
        }

    hire = person["hire_date"]
    raise_day = date(2025, 1, 1)
    if event == "raise" and hire < TODAY.replace(day=1) - timedelta(days=31):
        new_day = DEMO_MONTH_END.replace(day=16)
        before = max(pay_band.min_basic, basic - 50 * rng.randint(2, 20))
        if before < basic:
            return [
                version(1, hire, new_day - timedelta(days=1), before),
                version(2, new_day, None, basic),
            ]
    if hire < raise_day - timedelta(days=365) and basic > pay_band.min_basic and rng.random() < 0.2:
        return [
            version(1, hire, raise_day - timedelta(days=1), pay_band.min_basic),
            version(2, raise_day, None, basic),
        ]
    end = DEMO_MONTH_END.replace(day=rng.randint(5, 29)) if event == "leaver" else None
    return [version(1, hire, end, basic)]


class _LeaveHistory:
    """This year's leave of newly added employees, written in bulk per chunk.

    As if GRP went live at the start of TODAY's month: per active employee, an
    opening balance migrated from the previous system (this year's accruals up to
    the month before, as an adjustment) and this month's accrual, exactly as
    `accrue_department` writes it (so the monthly job adds nothing twice); for most,
    one or two approved annual leaves earlier in the year; for some, a sick day or
    two; for a few, approved unpaid leave in the demo month (payroll deducts it).
    Every approved request has its "taken" ledger entry, as an approval writes it.
    Two accrual-side rows per employee instead of one per month keep 50,000
    employees' history to about four rows each.
    """

    def __init__(self, session: Session, rng: random.Random) -> None:
        self.session = session
        self.rng = rng
        self.types = {t.code: t for t in session.scalars(sa.select(LeaveType))}
        self.grade_numbers = {g.id: g.number for g in session.scalars(sa.select(Grade))}
        week = working_week(session)
        holidays = holidays_between(session, date(TODAY.year, 1, 1), DEMO_MONTH_END)
        self.working = {
            day
            for day in _days(date(TODAY.year, 1, 1), DEMO_MONTH_END)
            if week[day.weekday()] == "1" and day not in holidays
        }

    def add(self, employees: list[tuple[int, dict[str, Any]]], ends: dict[int, date]) -> None:
        """Write the history of `employees` (id, row); `ends`: contracts ending this year."""
        annual = self.types.get("annual")
        if annual is None:
            return
        ledger: list[dict[str, Any]] = []
        requests: list[dict[str, Any]] = []
        live = TODAY.replace(day=1)
        for employee_id, person in employees:
            if person["status"] != "active" or person["hire_date"] > TODAY:
                continue
            first = max(person["hire_date"].replace(day=1), date(TODAY.year, 1, 1))
            yearly = annual.yearly_days(self.grade_numbers[person["grade_id"]])
            if yearly <= 0:
                continue
            accrued: dict[date, Decimal] = {}
            total = Decimal("0.00")
            for month in _month_starts(first, TODAY):
                total += monthly_share(yearly, month.month)
                accrued[month] = total
            opening = accrued.get((live - timedelta(days=1)).replace(day=1))
            if opening:
                ledger.append(
                    self._entry(employee_id, annual.id, "adjustment", opening, first, None, OPENING)
                )
            ledger.append(
                self._entry(
                    employee_id,
                    annual.id,
                    "accrual",
                    monthly_share(yearly, live.month),
                    live,
                    f"{live:%Y-%m}",
                    "",
                )
            )
            requests.extend(self._requests(employee_id, person, accrued, ends.get(employee_id)))
        if requests:
            bulk_insert(self.session, LeaveRequest, requests)
            self._taken(ledger, {row["employee_id"] for row in requests})
        bulk_insert(self.session, LeaveLedgerEntry, ledger)

    @staticmethod
    def _entry(
        employee_id: int,
        type_id: int,
        kind: str,
        days: Decimal,
        day: date,
        period: str | None,
        note: str,
        request_id: int | None = None,
    ) -> dict[str, Any]:
        return {
            "employee_id": employee_id,
            "leave_type_id": type_id,
            "kind": kind,
            "days": days,
            "entry_date": day,
            "period": period,
            "request_id": request_id,
            "note": note,
        }

    def _requests(
        self,
        employee_id: int,
        person: dict[str, Any],
        accrued: dict[date, Decimal],
        contract_end: date | None,
    ) -> list[dict[str, Any]]:
        rng, found = self.rng, []
        taken = Decimal("0.00")
        hire = person["hire_date"]
        for _ in range(rng.choices((0, 1, 2), weights=(30, 45, 25))[0]):
            start = self._working_day(date(TODAY.year, rng.randint(2, 10), rng.randint(1, 20)))
            span = self._span(start, rng.randint(2, 8))
            if start <= hire or any(_overlaps(span, r) for r in found):
                continue
            days = Decimal(len(span))
            # Only what has accrued by then (balance-limited), as a request check would.
            if taken + days > accrued.get(start.replace(day=1), Decimal("0.00")):
                continue
            taken += days
            found.append(self._request(employee_id, "annual", span))
        if rng.random() < 0.2:
            start = self._working_day(date(TODAY.year, rng.randint(1, 10), rng.randint(1, 28)))
            span = self._span(start, rng.randint(1, 2))
            if start > hire and not any(_overlaps(span, r) for r in found):
                found.append(self._request(employee_id, "sick", span))
        if rng.random() < 0.01 and "unpaid" in self.types and contract_end is None:
            start = self._working_day(DEMO_MONTH_END.replace(day=rng.randint(2, 20)))
            found.append(self._request(employee_id, "unpaid", self._span(start, rng.randint(1, 3))))
        return found

    def _working_day(self, day: date) -> date:
        while day not in self.working and day <= DEMO_MONTH_END:
            day += timedelta(days=1)
        return day

    def _span(self, start: date, days: int) -> list[date]:
        span, day = [], start
        while len(span) < days and day <= DEMO_MONTH_END:
            if day in self.working:
                span.append(day)
            day += timedelta(days=1)
        return span

    def _request(self, employee_id: int, code: str, span: list[date]) -> dict[str, Any]:
        decided = datetime.combine(span[0] - timedelta(days=3), time(5, 0), tzinfo=UTC)
        return {
            "employee_id": employee_id,
            "leave_type_id": self.types[code].id,
            "start_date": span[0],
            "end_date": span[-1],
            "days": Decimal(len(span)),
            "reason": "",
            "has_document": False,
            "state": "approved",
            "decision_comment": "",
            "requested_by_id": None,
            "approval_request_id": None,
            "decided_at": decided,
        }

    def _taken(self, ledger: list[dict[str, Any]], employee_ids: set[int]) -> None:
        """Add the "taken" entry of every approved request of these employees."""
        for request_id, employee_id, type_id, start, days in self.session.execute(
            sa.select(
                LeaveRequest.id,
                LeaveRequest.employee_id,
                LeaveRequest.leave_type_id,
                LeaveRequest.start_date,
                LeaveRequest.days,
            ).where(
                LeaveRequest.employee_id.in_(sorted(employee_ids)),
                LeaveRequest.state == "approved",
            )
        ):
            ledger.append(
                self._entry(employee_id, type_id, "taken", -days, start, None, "", request_id)
            )


def _days(first: date, last: date) -> Iterable[date]:
    day = first
    while day <= last:
        yield day
        day += timedelta(days=1)


def _month_starts(first: date, last: date) -> Iterable[date]:
    month = first.replace(day=1)
    while month <= last:
        yield month
        month = (month.replace(day=28) + timedelta(days=4)).replace(day=1)


def _overlaps(span: list[date], request: dict[str, Any]) -> bool:
    return span[0] <= request["end_date"] and request["start_date"] <= span[-1]


@dataclass(frozen=True)
class _Reporting:
    """Who heads what: each unit's nearest head (its own, else an ancestor's), the DG."""

    head_of_unit: dict[int, int]
    unit_parents: dict[int, int | None]
    director_general: int | None

    def manager_of_new(self, unit_id: int) -> int | None:
        """The manager of an employee added below the heads (their id is not a head's)."""
        return self.head_of_unit.get(unit_id, self.director_general)


def _reporting(session: Session, heads: dict[int | None, Position]) -> _Reporting:
    """Read who holds the head positions (the lowest id holding each)."""
    holders = dict(
        session.execute(
            sa.select(Employee.position_id, sa.func.min(Employee.id))
            .where(Employee.position_id.in_([p.id for p in heads.values()]))
            .group_by(Employee.position_id)
        ).all()
    )
    director_general = holders.get(next(p.id for p in heads.values() if p.code == "DG-01"))
    unit_parents = dict(session.execute(sa.select(OrgUnit.id, OrgUnit.parent_id)).all())
    head_of_unit: dict[int, int] = {}
    for unit_id in unit_parents:
        current: int | None = unit_id
        while current is not None:
            position = heads.get(current)
            if position is not None and position.id in holders:
                head_of_unit[unit_id] = holders[position.id]
                break
            current = unit_parents.get(current)
    return _Reporting(head_of_unit, unit_parents, director_general)


def _assign_managers(session: Session, heads: dict[int | None, Position]) -> None:
    """Each employee without a manager reports to the holder of their unit's head
    position (heads: to the head above, else the DG)."""
    reporting = _reporting(session, heads)
    head_of_unit, unit_parents = reporting.head_of_unit, reporting.unit_parents
    director_general = reporting.director_general
    unassigned = session.execute(
        sa.select(Employee.id, Employee.org_unit_id).where(Employee.manager_id.is_(None))
    ).all()
    changes: dict[int, list[int]] = {}
    for employee_id, unit_id in unassigned:
        manager = head_of_unit.get(unit_id)
        if manager == employee_id:
            parent = unit_parents.get(unit_id)
            manager = head_of_unit.get(parent) if parent else None
        if manager is None and employee_id != director_general:
            manager = director_general
        if manager is not None and manager != employee_id:
            changes.setdefault(manager, []).append(employee_id)
    for manager, employee_ids in changes.items():
        for start in range(0, len(employee_ids), CHUNK):
            session.execute(
                sa.update(Employee)
                .where(Employee.id.in_(employee_ids[start : start + CHUNK]))
                .values(manager_id=manager, version_id=Employee.version_id + 1)
                .execution_options(synchronize_session=False)
            )


def _link_logins(session: Session, logins: Sequence[Any], users: dict[str, int]) -> None:
    """Link the department's demo logins to employee records (managers to a head of unit)."""
    if not logins:
        return
    linked = set(session.scalars(sa.select(Employee.user_id).where(Employee.user_id.is_not(None))))
    free = list(
        session.execute(
            sa.select(Employee.id, Position.code)
            .outerjoin(Position, Position.id == Employee.position_id)
            .where(Employee.user_id.is_(None))
            .order_by(Employee.id)
        ).all()
    )
    preferred = {"manager": "-01", "hr_officer": "HR-0", "payroll_officer": "FIN-03"}
    for login in logins:
        user_id = users.get(login.username)
        if user_id is None or user_id in linked or not free:
            continue
        wanted = preferred.get(login.role)
        choice = next(
            (row for row in free if wanted and row[1] and wanted in row[1] and row[1] != "DG-01"),
            free[-1],
        )
        free.remove(choice)
        session.execute(
            sa.update(Employee)
            .where(Employee.id == choice[0])
            .values(user_id=user_id, version_id=Employee.version_id + 1)
            .execution_options(synchronize_session=False)
        )
        linked.add(user_id)


def _seed_leave(session: Session, logins: Sequence[Any], users: dict[str, int]) -> None:
    """Seed the leave defaults; the demo employee reports to the demo manager and has a balance.

    The demo logins' records show their ledger on the balance page, so they get
    this year's accruals month by month (`accrue_department`) in place of the
    migrated opening balance the other employees have (see `_LeaveHistory`).
    """
    ensure_leave_defaults(session)
    linked = dict(
        session.execute(
            sa.select(Employee.user_id, Employee.id).where(Employee.user_id.is_not(None))
        ).all()
    )
    by_role = {x.role: linked.get(users.get(x.username, 0)) for x in logins}
    employee_id, manager_id = by_role.get("employee"), by_role.get("manager")
    if employee_id and manager_id and employee_id != manager_id:
        session.execute(
            sa.update(Employee)
            .where(Employee.id == employee_id, Employee.manager_id.is_distinct_from(manager_id))
            .values(manager_id=manager_id, version_id=Employee.version_id + 1)
            .execution_options(synchronize_session=False)
        )
    ids = [i for i in by_role.values() if i]
    if not ids:
        return
    opened = list(
        session.scalars(
            sa.select(LeaveLedgerEntry.employee_id).where(
                LeaveLedgerEntry.employee_id.in_(ids), LeaveLedgerEntry.note == OPENING
            )
        )
    )
    if opened:
        session.execute(
            sa.delete(LeaveLedgerEntry)
            .where(
                LeaveLedgerEntry.employee_id.in_(opened),
                sa.or_(LeaveLedgerEntry.note == OPENING, LeaveLedgerEntry.kind == "accrual"),
            )
            .execution_options(synchronize_session=False)
        )
    accrue_department(session, TODAY, employee_ids=ids)
