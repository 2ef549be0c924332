"""The words an employee is found by: folded names, employee number, Emirates ID.

The employee search matches the start of words ("moh" finds "Mohammed Al Mansouri",
"منصور" finds "المنصوري", "7841990" or "784-1990" finds 784-1990-1234567-6, "pol-047"
finds POL-04701). Every query word must start one of the employee's words.

Why a table of words and not `LIKE` on the names: on PostgreSQL the employee table is
under row-level security, and the planner may only use an index for a condition whose
functions are *leakproof*; `lower()` and `LIKE` are not, so every name search read the
whole department. Range comparisons on text (`word >= 'moh' AND word < 'moi'`) are
leakproof and use the index on (department_id, word) with the "C" collation (byte
order, so the range is exactly "starts with").

Folding makes the words comparable whatever the spelling: case, Latin accents (é → e),
Arabic diacritics and tatweel, the alef forms (أ إ آ ٱ → ا), ة → ه, ى → ي, hamza seats
(ؤ → و, ئ → ي), Arabic-Indic digits → 0-9. A word beginning with the article ال is
also found without it.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Iterable, Iterator

#: Longest stored word; longer ones are cut (a prefix search of 60 letters is enough).
MAX_WORD = 60
#: At most this many words of a query are used (all must match).
MAX_QUERY_WORDS = 8
_ARABIC_ARTICLE = "ال"

_TRANSLATE = str.maketrans(
    {
        "\u0640": None,  # tatweel (kashida): stretches a word, not a letter
        "\u0629": "\u0647",  # ة -> ه
        "\u0649": "\u064a",  # ى -> ي
        "\u0671": "\u0627",  # ٱ -> ا
        **{chr(0x0660 + n): str(n) for n in range(10)},  # Arabic-Indic digits
        **{chr(0x06F0 + n): str(n) for n in range(10)},  # Eastern Arabic-Indic digits
    }
)
_SEPARATORS = re.compile(r"[^\w]+|_+")


def fold(text: str) -> str:
    """Lower-case `text` and remove the differences a searcher should not have to type."""
    decomposed = unicodedata.normalize("NFKD", text.casefold())
    # NFKD splits أ into ا + hamza above and é into e + acute: dropping the marks folds them.
    stripped = "".join(ch for ch in decomposed if not unicodedata.combining(ch))
    return unicodedata.normalize("NFC", stripped.translate(_TRANSLATE))


def _tokens(text: str) -> list[str]:
    return [token for token in _SEPARATORS.split(fold(text)) if token]


def name_words(*names: str | None) -> set[str]:
    """The words stored for names: every token; for a chunk joined by punctuation
    ("Al-Mansouri") also the chunk without it; for an Arabic word with the article,
    the word without it too."""
    found: set[str] = set()
    for text in names:
        if not text:
            continue
        for chunk in text.split():
            tokens = _tokens(chunk)
            found.update(tokens)
            if len(tokens) > 1:
                found.add("".join(tokens))
    for word in list(found):
        if word.startswith(_ARABIC_ARTICLE) and len(word) > len(_ARABIC_ARTICLE) + 1:
            found.add(word[len(_ARABIC_ARTICLE) :])
    return {word[:MAX_WORD] for word in found}


def identifier_words(*identifiers: str | None) -> set[str]:
    """The words stored for numbers (employee number, Emirates ID): each one whole,
    without its punctuation ("784-1990-1234567-6" -> "784199012345676"). Not split:
    every Emirates ID starts 784, every number of a department with its prefix."""
    return {
        "".join(_tokens(chunk))[:MAX_WORD]
        for text in identifiers
        if text
        for chunk in text.split()
        if _tokens(chunk)
    }


def employee_words(name_en: str, name_ar: str, employee_no: str, emirates_id: str) -> set[str]:
    """Every word an employee is found by."""
    return name_words(name_en, name_ar) | identifier_words(employee_no, emirates_id)


_NUMBER_ONLY = re.compile(r"[\d\s-]+")


def query_words(query: str) -> list[str]:
    """The folded words of a search query, longest first (the most selective), deduplicated.

    A query of digits, spaces and dashes is one number ("784 1990" finds 784-1990-...);
    a chunk with a digit is one identifier ("POLICE-047"); other chunks give their
    tokens ("al-mansouri": "al" and "mansouri", found in "Al Mansouri" too). A word
    that starts another query word is dropped: it adds no condition.
    """
    folded = fold(query)
    if _NUMBER_ONLY.fullmatch(folded):
        digits = "".join(ch for ch in folded if ch.isdigit())
        return [digits[:MAX_WORD]] if digits else []
    candidates: set[str] = set()
    for chunk in folded.split():
        tokens = _tokens(chunk)
        if any(ch.isdigit() for ch in chunk):
            candidates.add("".join(tokens))
        else:
            candidates.update(tokens)
    candidates.discard("")
    kept: list[str] = []
    for token in sorted(candidates, key=lambda w: (-len(w), w)):
        if not any(other.startswith(token) for other in kept):
            kept.append(token[:MAX_WORD])
    return kept[:MAX_QUERY_WORDS]


def prefix_range(word: str) -> tuple[str, str | None]:
    """(low, high) with low <= w < high exactly for the words w that start with `word`.

    In code point order (the "C" collation, SQLite's BINARY): the word itself, and the
    word with its last character advanced by one. None: no upper bound (a last
    character of U+10FFFF, which folding never produces in a name).
    """
    last = ord(word[-1])
    if last >= 0x10FFFF:
        return word, None
    return word, word[:-1] + chr(last + 1)


def word_rows(
    employees: Iterable[tuple[int, str, str, str, str]], *, sort_name: bool = True
) -> Iterator[dict]:
    """Rows of the words table for (id, name_en, name_ar, employee_no, emirates_id) tuples,
    each with the employee's name_en as `sort_name` (not for the table as migration
    0004_hr created it, before it had that column)."""
    for employee_id, name_en, name_ar, employee_no, emirates_id in employees:
        for word in employee_words(name_en, name_ar, employee_no, emirates_id):
            row = {"employee_id": employee_id, "word": word}
            if sort_name:
                row["sort_name"] = name_en
            yield row
