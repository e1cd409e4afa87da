"""bounded_put: a table never holds more than its size, and the oldest entries go first."""

from __future__ import annotations

from service.bounded import bounded_put


def test_the_table_keeps_its_size_and_its_newest_entries():
    table: dict[int, int] = {}
    for n in range(1000):
        bounded_put(table, 64, n, n * 2)
        assert len(table) <= 64
    assert 999 in table and table[999] == 1998
    assert min(table) > 1000 - 64 - 64 // 16 - 1  # only the oldest ones went
    assert list(table) == sorted(table)  # still in insertion order


def test_a_key_put_again_is_updated_in_place():
    table: dict[str, int] = {}
    bounded_put(table, 2, "a", 1)
    bounded_put(table, 2, "a", 2)
    assert table == {"a": 2}


def test_a_tiny_table_drops_one_entry_at_a_time():
    table: dict[int, int] = {}
    for n in range(5):
        bounded_put(table, 3, n, n)
    assert table == {2: 2, 3: 3, 4: 4}
