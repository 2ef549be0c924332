"""Employee search: word-start matching over folded names, numbers and Emirates IDs."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from modules.hr.models import EmployeeSearchWord
from modules.hr.search_words import employee_words, fold, prefix_range, query_words

BASE = "/api/v1/hr/employees"


# --------------------------------------------------------------------------- folding


def test_fold_removes_case_accents_and_arabic_spelling_variants():
    assert fold("JOSÉ") == "jose"
    assert fold("أحمد") == fold("احمد") == fold("إحمد") == fold("آحمد")
    assert fold("فاطمة") == "فاطمه"
    assert fold("مصطفى") == "مصطفي"
    assert fold("مُحَمَّد") == "محمد"  # diacritics
    assert fold("محـــمد") == "محمد"  # tatweel
    assert fold("٧٨٤") == "784"


def test_an_employees_words_are_name_tokens_and_whole_numbers():
    words = employee_words("Aisha Al-Mansoori", "عائشة المنصوري", "POL-00012", "784-1990-1234567-6")
    assert {"aisha", "al", "mansoori", "almansoori"} <= words
    assert {"عايشه", "المنصوري", "منصوري"} <= words  # ئ folds to ي; the article is optional
    assert {"pol00012", "784199012345676"} <= words
    # Numbers are not split: every Emirates ID starts 784.
    assert not {"pol", "00012", "784", "1990"} & words


def test_query_words_drop_words_that_start_another_and_punctuation():
    assert query_words("al al-mansoori") == ["mansoori", "al"]
    assert query_words(" %_- ") == []
    assert query_words("Mansoori mans") == ["mansoori"]


def test_query_words_keep_numbers_whole():
    assert query_words("784-1990-1234567-6") == ["784199012345676"]
    assert query_words("784 1990") == ["7841990"]
    assert query_words("٧٨٤ ١٩٩٠") == ["7841990"]
    assert query_words("POL-000 aisha") == ["pol000", "aisha"]


def test_prefix_range_is_exactly_starts_with():
    low, high = prefix_range("moh")
    assert (low, high) == ("moh", "moi")
    inside = ["moh", "mohammed", "moh\uffff"]
    outside = ["mog", "moi", "mo", "mni"]
    assert all(low <= w < high for w in inside)
    assert not any(low <= w < high for w in outside)


# --------------------------------------------------------------------------- the API


@pytest.fixture
def officer(api_as, hr_departments):
    return api_as("hr_officer", "POLICE")


def found(response):
    assert response.status_code == 200, response.get_json()
    return sorted(item["employee_no"] for item in response.get_json()["items"])


@pytest.fixture
def people(make_employee):
    return {
        "ahmed": make_employee(
            number=11, name_en="Ahmed Al Falasi", name_ar="أحمد الفلاسي", nationality="IN"
        ),
        "ahmad": make_employee(
            number=12, name_en="Ahmad Rahman", name_ar="احمد رحمن", nationality="BD"
        ),
        "fatima": make_employee(
            number=13, name_en="Fatima Al Falasi", name_ar="فاطمة الفلاسي", nationality="IN"
        ),
        "other": make_employee(
            "DM", number=14, name_en="Ahmed Other", name_ar="أحمد آخر", nationality="IN"
        ),
    }


def test_search_matches_word_starts_in_either_language(officer, people):
    assert found(officer.get(f"{BASE}?q=ahm")) == ["E00011", "E00012"]
    # Alef with or without hamza: both Ahmeds.
    assert found(officer.get(f"{BASE}?q=احمد")) == ["E00011", "E00012"]
    # Without the article, and with ة typed as ه.
    assert found(officer.get(f"{BASE}?q=فلاسي")) == ["E00011", "E00013"]
    assert found(officer.get(f"{BASE}?q=فاطمه")) == ["E00013"]
    # Every word must match: first name and family name.
    assert found(officer.get(f"{BASE}?q=ahmed falasi")) == ["E00011"]
    assert found(officer.get(f"{BASE}?q=FALASI, fat")) == ["E00013"]
    # The middle of a word is not a word start.
    assert found(officer.get(f"{BASE}?q=hmed")) == []
    assert found(officer.get(f"{BASE}?q=-")) == []


def test_search_total_counts_all_matches_on_every_page(officer, people):
    first = officer.get(f"{BASE}?q=al&per_page=1").get_json()
    second = officer.get(f"{BASE}?q=al&per_page=1&page=2").get_json()
    beyond = officer.get(f"{BASE}?q=al&per_page=1&page=5").get_json()
    assert (first["total"], second["total"], beyond["total"]) == (2, 2, 2)
    assert [len(first["items"]), len(second["items"]), beyond["items"]] == [1, 1, []]
    assert first["items"][0]["id"] != second["items"][0]["id"]
    nobody = officer.get(f"{BASE}?q=zzz").get_json()
    assert (nobody["total"], nobody["items"]) == (0, [])


def test_search_never_finds_another_departments_employee(officer, people, api_as):
    # "Ahmed Other" is DM's: POLICE's officer does not find him by name or number.
    assert found(officer.get(f"{BASE}?q=other")) == []
    assert found(officer.get(f"{BASE}?q=E00014")) == []
    dm = api_as("hr_officer", "DM")
    assert found(dm.get(f"{BASE}?q=ahmed")) == ["E00014"]


def test_renaming_an_employee_reindexes_the_words(officer, people, db_session, in_department):
    response = officer.get(f"{BASE}/{people['ahmad']}")
    version = response.get_json()["version"]
    renamed = officer.patch(
        f"{BASE}/{people['ahmad']}",
        json={"name_en": "Yusuf Rahman", "name_ar": "يوسف رحمن", "version": version},
    )
    assert renamed.status_code == 200, renamed.get_json()
    assert found(officer.get(f"{BASE}?q=ahm")) == ["E00011"]
    assert found(officer.get(f"{BASE}?q=yus")) == ["E00012"]
    with in_department("POLICE"):
        words = set(
            db_session.scalars(
                sa.select(EmployeeSearchWord.word).where(
                    EmployeeSearchWord.employee_id == people["ahmad"]
                )
            )
        )
    assert "ahmad" not in words and {"yusuf", "rahman", "e00012"} <= words


def test_an_unrelated_change_keeps_the_words(officer, people, db_session, in_department):
    with in_department("POLICE"):
        before = db_session.scalar(sa.select(sa.func.count()).select_from(EmployeeSearchWord))
    version = officer.get(f"{BASE}/{people['fatima']}").get_json()["version"]
    changed = officer.patch(
        f"{BASE}/{people['fatima']}", json={"mobile": "+971501234567", "version": version}
    )
    assert changed.status_code == 200, changed.get_json()
    with in_department("POLICE"):
        after = db_session.scalar(sa.select(sa.func.count()).select_from(EmployeeSearchWord))
    assert after == before
    assert found(officer.get(f"{BASE}?q=fatima")) == ["E00013"]


# --------------------------------------------------------------------------- statements


@pytest.fixture
def statements(sql_statements):
    return sql_statements


def test_a_search_and_a_detail_take_two_statements_each(officer, people, statements):
    """A known caller is checked in the statement that sets the department (on SQLite,
    which has no such setting, in one of its own), the page comes with its count in
    one more: each round trip is a fixed cost of every API request (README,
    Performance)."""
    assert officer.get(f"{BASE}?q=ahmed").status_code == 200  # caller loaded and cached
    statements.clear()
    assert found(officer.get(f"{BASE}?q=ahmed falasi")) == ["E00011"]
    assert len(statements) == 2, statements
    assert "api_tokens" in statements[0] and "hr_employees" in statements[1]
    statements.clear()
    assert officer.get(f"{BASE}/{people['fatima']}").status_code == 200
    assert len(statements) == 2, statements
    assert "api_tokens" in statements[0] and "hr_employees" in statements[1]


def test_searches_of_one_shape_share_one_statement_with_their_own_values(officer, people):
    from modules.hr.services import employees

    shapes = employees._reusable_rows_statement
    assert found(officer.get(f"{BASE}?q=ahm")) == ["E00011", "E00012"]
    before = shapes.cache_info()
    # One word each, upper-bounded: the same statement, run with other values.
    assert found(officer.get(f"{BASE}?q=fat")) == ["E00013"]
    assert found(officer.get(f"{BASE}?q=rahm")) == ["E00012"]
    after = shapes.cache_info()
    assert (after.hits - before.hits, after.misses - before.misses) == (2, 0)


# --------------------------------------------------------------------------- sorted by name


@pytest.fixture
def namesakes(make_employee):
    """Names sharing word starts, one name twice, a word starting another of the same
    name ("Moh Mohsen"), and a namesake in another department."""
    names = [
        "Mohammed Al Shamsi",
        "Mohammed Al Shamsi",
        "Moh Mohsen",
        "Mohsen Al Ali",
        "Ali Mohammed",
        "Zaid Al Mohannadi",
        "Aisha Al Shamsi",
        "Alia Shams",
        "Bashir Khan",
    ]
    ids = [make_employee(number=20 + n, name_en=name) for n, name in enumerate(names)]
    make_employee("DM", number=40, name_en="Mohammed Al Shamsi")
    return ids


def pages(client, query: str, per_page: int = 2) -> tuple[list[int], list[int]]:
    """The ids of every page of a search, in order, and the total of each page."""
    ids, totals = [], []
    for page in range(1, 8):
        body = client.get(f"{BASE}?{query}&per_page={per_page}&page={page}").get_json()
        ids += [item["id"] for item in body["items"]]
        totals.append(body["total"])
    return ids, totals


@pytest.mark.parametrize("sort", ["name_en", "-name_en"])
def test_a_search_by_name_is_found_sorted_and_counted_as_from_the_employees(
    officer, namesakes, sort, statements
):
    """A search sorted by name alone is answered from the words (their `sort_name`); the
    same search with a filter every employee passes goes through the employee rows:
    the same ids, pages and totals."""
    for q in ("moh", "mohammed al", "al shamsi", "shams", "al", "moh mohsen", "ali", "zz"):
        statements.clear()
        by_words = pages(officer, f"q={q}&sort={sort}")
        assert any("grp_word_0" in statement for statement in statements), q
        statements.clear()
        by_employees = pages(officer, f"q={q}&sort={sort}&status=active")
        assert not any("grp_word_0" in statement for statement in statements), q
        assert by_words == by_employees, q
    ids, totals = pages(officer, f"q=moh&sort={sort}")
    # Every Moh... of POLICE once (two words of "Moh Mohsen" start with it), not DM's.
    assert sorted(ids) == sorted(namesakes[:6]) and set(totals) == {6}


def test_a_renamed_employee_moves_in_a_search_by_name(officer, namesakes):
    ids, _ = pages(officer, "q=al", per_page=50)
    bashir_khan, alia = namesakes[8], namesakes[7]
    assert bashir_khan not in ids
    version = officer.get(f"{BASE}/{alia}").get_json()["version"]
    renamed = officer.patch(f"{BASE}/{alia}", json={"name_en": "Yara Shams", "version": version})
    assert renamed.status_code == 200, renamed.get_json()
    by_name, _ = pages(officer, "q=shams", per_page=50)
    # Aisha Al Shamsi, Mohammed Al Shamsi (twice), then Yara Shams, last now.
    assert by_name[-1] == alia and by_name[0] == namesakes[6]
    assert by_name == pages(officer, "q=shams&status=active", per_page=50)[0]
