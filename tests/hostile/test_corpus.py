"""The size of the hostile-input corpus: per category and per surface, every category the
issue names represented (issue 9, item 5: at least 200 bad inputs)."""

from __future__ import annotations

from tests.hostile import test_huge, test_output, test_records, test_world  # noqa: F401 - they register their cases
from tests.hostile.corpus import CATEGORIES, SURFACES, counts

#: At least this many cases per category and per surface; raise them as the corpus grows.
MIN_PER_CATEGORY = 5
MIN_TOTAL = 900


def test_corpus_size() -> None:
    by_category, by_surface = counts()
    missing = [c for c in CATEGORIES if by_category[c] < MIN_PER_CATEGORY]
    assert not missing, f"categories with fewer than {MIN_PER_CATEGORY} cases: {missing} ({dict(by_category)})"
    assert set(by_category) <= set(CATEGORIES) | {"format"}, by_category
    assert all(by_surface[s] >= 10 for s in SURFACES), by_surface
    assert sum(by_category.values()) >= MIN_TOTAL, (sum(by_category.values()), dict(by_category), dict(by_surface))


if __name__ == "__main__":  # python -m tests.hostile.test_corpus: the table for the report
    cat, surf = counts()
    for k, v in sorted(cat.items()):
        print(f"{k:14} {v}")
    print()
    for k, v in sorted(surf.items()):
        print(f"{k:14} {v}")
    print("total", sum(cat.values()))
