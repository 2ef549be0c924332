"""Demo organisation and logins (DOMAIN.md): 4 sectors, 25 departments, a user per role."""

from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from grp.auth import services
from grp.auth.permissions import BUILT_IN_ROLES
from grp.models import Department, Sector, User

SECTORS: list[tuple[str, str, str, list[tuple[str, str, str]]]] = [
    (
        "INFRA",
        "Infrastructure",
        "قطاع البنية التحتية",
        [
            ("DEWA", "Dubai Electricity and Water Authority", "هيئة كهرباء ومياه دبي"),
            ("DCAA", "Dubai Civil Aviation Authority", "هيئة دبي للطيران المدني"),
            ("DLD", "Land Department", "دائرة الأراضي والأملاك"),
            ("DM", "Dubai Municipality", "بلدية دبي"),
            ("RTA", "Roads and Transport Authority", "هيئة الطرق والمواصلات"),
            ("MBRHE", "Mohammed Bin Rashid Housing Establishment", "مؤسسة محمد بن راشد للإسكان"),
            ("AIRPORTS", "Dubai Airports", "مطارات دبي"),
        ],
    ),
    (
        "COMMUNITY",
        "Community Development",
        "قطاع تنمية المجتمع",
        [
            (
                "IACAD",
                "Islamic Affairs and Charitable Activities Department",
                "دائرة الشؤون الإسلامية والعمل الخيري",
            ),
            ("DHA", "Dubai Health Authority", "هيئة الصحة بدبي"),
            ("AWQAF", "Awqaf and Minors Affairs Foundation", "مؤسسة الأوقاف وشؤون القصر"),
            ("AMBULANCE", "Ambulance Services Centre", "مركز خدمات الإسعاف"),
            ("DGW", "Dubai Government Workshop", "ورشة حكومة دبي"),
            ("ZAKAT", "Zakat Fund", "صندوق الزكاة"),
        ],
    ),
    (
        "ECONOMY",
        "Economy and Labour",
        "قطاع الاقتصاد والعمل",
        [
            ("DED", "Department of Economic Development", "دائرة التنمية الاقتصادية"),
            ("CHAMBER", "Dubai Chamber", "غرفة دبي"),
            ("DAFZA", "Dubai Airport Free Zone Authority", "سلطة المنطقة الحرة بمطار دبي"),
            (
                "DTCM",
                "Department of Tourism and Commerce Marketing",
                "دائرة السياحة والتسويق التجاري",
            ),
            ("DSC", "Dubai Statistics Center", "مركز دبي للإحصاء"),
            ("CUSTOMS", "Dubai Customs", "جمارك دبي"),
        ],
    ),
    (
        "SECURITY",
        "Security and Justice",
        "قطاع الأمن والعدل",
        [
            ("POLICE", "Dubai Police", "شرطة دبي"),
            ("PROSECUTION", "Public Prosecution", "النيابة العامة"),
            ("COURTS", "Dubai Courts", "محاكم دبي"),
            (
                "GDRFA",
                "General Directorate of Residency and Foreigners Affairs",
                "الإدارة العامة للإقامة وشؤون الأجانب",
            ),
            (
                "CIVILDEFENCE",
                "General Directorate of Civil Defence",
                "الإدارة العامة للدفاع المدني",
            ),
            ("PROTOCOL", "Protocol and Hospitality Department", "دائرة التشريفات والضيافة"),
        ],
    ),
]

DEMO_DEPARTMENTS = ("POLICE", "DM")
DEMO_PASSWORD = "demo-password-2026"  # noqa: S105 - demo only; refused in production


@dataclass(frozen=True)
class DemoLogin:
    """One demo account: shown by `grp seed-demo`, all sharing DEMO_PASSWORD."""

    username: str
    password: str
    department: str
    role: str


def load_organisation(session: Session) -> dict[str, Department]:
    """Create the sectors and departments that are missing; return departments by code.

    Existing rows are left as they are, so an administrator's later edits (names,
    WPS identifiers) survive running the demo seed again.
    """
    sectors = {s.code: s for s in session.scalars(sa.select(Sector))}
    departments = {d.code: d for d in session.scalars(sa.select(Department))}
    for number, (code, name_en, name_ar, members) in enumerate(SECTORS, start=1):
        sector = sectors.get(code)
        if sector is None:
            sector = sectors[code] = Sector(code=code, name_en=name_en, name_ar=name_ar)
            session.add(sector)
        for index, (dept_code, dept_en, dept_ar) in enumerate(members, start=1):
            department = departments.get(dept_code)
            if department is None:
                department = departments[dept_code] = Department(
                    code=dept_code,
                    name_en=dept_en,
                    name_ar=dept_ar,
                    sector=sector,
                    # Demo WPS identifiers: 13-digit employer id, 9-digit routing code.
                    wps_employer_id=f"{number:03d}{index:010d}",
                    bank_routing_code="803320101",
                )
                session.add(department)
    session.flush()
    return departments


def demo_logins() -> list[DemoLogin]:
    """List the demo accounts: the system administrator, then one per role in POLICE and DM."""
    logins = [DemoLogin("admin", DEMO_PASSWORD, "DM", "system_admin")]
    for department in DEMO_DEPARTMENTS:
        for role in BUILT_IN_ROLES:
            if role == "system_admin":
                continue
            username = f"{department.lower()}.{role.replace('_officer', '').replace('_', '-')}"
            logins.append(DemoLogin(username, DEMO_PASSWORD, department, role))
    return logins


def load_demo_users(session: Session) -> list[DemoLogin]:
    """Create the demo logins that are missing (one per role in POLICE and DM)."""
    services.ensure_built_in_roles(session)
    existing = set(session.scalars(sa.select(User.username)))
    for login in demo_logins():
        if login.username not in existing:
            services.create_user(
                session,
                username=login.username,
                password=login.password,
                name=f"Demo {BUILT_IN_ROLES[login.role][0]} ({login.department})",
                roles=[(login.department, login.role)],
            )
    return demo_logins()
