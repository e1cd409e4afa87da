"""service/pricing.py: exact money, month arithmetic, the discount window, run-rates, changes."""

from __future__ import annotations

import copy
import datetime as dt
import json
from decimal import Decimal

import pytest

from service import pricing
from service.pricing import Catalogue, Discount, add_months, change, money, run_rate
from tests.integration.support import replaced

D = Decimal
RAW = json.loads(pricing.DEFAULT_CATALOGUE.read_text(encoding="utf-8"))


@pytest.fixture
def catalogue() -> Catalogue:
    return Catalogue.load()


def priced(catalogue, plan="Medium", holders=0, users=1, on=dt.date(2024, 5, 1), discount=None):
    return run_rate(
        catalogue, plan=plan, on=on, effective_holders=holders, users=users, discount=discount
    )


def amounts(breakdown):
    return [
        breakdown.base_list,
        breakdown.base,
        breakdown.seats_amount,
        breakdown.users_amount,
        breakdown.total,
    ]


# --- money -----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("7.5", "7.50"),
        (25, "25.00"),
        (D("0.005"), "0.01"),
        (D("0.004"), "0.00"),
        (D("2.675"), "2.68"),  # half up, where binary floats would give 2.67
        (D("-0.005"), "-0.01"),
        (D("-7.5"), "-7.50"),
        ("1E+2", "100.00"),
    ],
)
def test_money_is_euros_and_cents_rounded_half_up(value, expected):
    result = money(value)
    assert isinstance(result, Decimal)
    assert str(result) == expected


def test_money_rejects_text_that_is_not_a_number():
    with pytest.raises(ArithmeticError):
        money("twelve")


# --- months ----------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "months", "expected"),
    [
        (dt.date(2024, 1, 31), 1, dt.date(2024, 2, 29)),  # leap year
        (dt.date(2023, 1, 31), 1, dt.date(2023, 2, 28)),
        (dt.date(2024, 3, 31), 1, dt.date(2024, 4, 30)),
        (dt.date(2024, 1, 30), 1, dt.date(2024, 2, 29)),
        (dt.date(2024, 12, 15), 1, dt.date(2025, 1, 15)),
        (dt.date(2022, 1, 20), 24, dt.date(2024, 1, 20)),
        (dt.date(2024, 2, 29), 24, dt.date(2026, 2, 28)),
        (dt.date(2024, 2, 29), 48, dt.date(2028, 2, 29)),
        (dt.date(2024, 5, 31), 0, dt.date(2024, 5, 31)),
        (dt.date(2024, 1, 15), -1, dt.date(2023, 12, 15)),
        (dt.date(2024, 3, 31), -1, dt.date(2024, 2, 29)),
        (dt.date(2024, 1, 1), -13, dt.date(2022, 12, 1)),
    ],
)
def test_add_months_keeps_the_day_or_clamps_to_the_month_end(day, months, expected):
    assert add_months(day, months) == expected


@pytest.mark.parametrize(
    ("day", "expected"),
    [
        (dt.date(2024, 1, 1), dt.date(2024, 2, 1)),
        (dt.date(2024, 1, 31), dt.date(2024, 2, 1)),
        (dt.date(2024, 2, 29), dt.date(2024, 3, 1)),
        (dt.date(2024, 12, 31), dt.date(2025, 1, 1)),
    ],
)
def test_first_of_next_month(day, expected):
    assert pricing.first_of_next_month(day) == expected


# --- the discount window ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("day", "active"),
    [
        (dt.date(2022, 3, 14), False),  # the day before it starts
        (dt.date(2022, 3, 15), True),  # the first day
        (dt.date(2024, 3, 14), True),  # the last day of the 24th month
        (dt.date(2024, 3, 15), False),  # 24 months later: over
        (dt.date(2030, 1, 1), False),
    ],
)
def test_the_discount_runs_24_months_from_its_first_day(day, active):
    assert Discount(50, 24, dt.date(2022, 3, 15)).active_on(day) is active


def test_a_discount_started_on_a_month_end_ends_on_the_clamped_day():
    discount = Discount(50, 24, dt.date(2024, 2, 29))
    assert discount.active_on(dt.date(2026, 2, 27))
    assert not discount.active_on(dt.date(2026, 2, 28))


def test_an_entitlement_not_yet_started_gives_no_discount():
    assert not Discount(50, 24, None).active_on(dt.date(2022, 3, 15))


# --- the run-rate ----------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("plan", "base"),
    [
        ("Trial", "0.00"),
        ("Minimal", "0.00"),
        ("Small", "30.00"),
        ("Medium", "50.00"),
        ("Large", "80.00"),
        ("Unlimited", "120.00"),
    ],
)
def test_base_prices_come_from_the_catalogue(catalogue, plan, base):
    breakdown = priced(catalogue, plan=plan)
    assert breakdown.base == breakdown.base_list == D(base)
    assert breakdown.total == D(base)


@pytest.mark.parametrize(
    ("holders", "included", "billed", "amount"),
    [(0, 0, 0, "0.00"), (1, 1, 0, "0.00"), (2, 1, 1, "25.00"), (5, 1, 4, "100.00")],
)
def test_the_first_seat_is_included_and_each_further_one_costs_25(
    catalogue, holders, included, billed, amount
):
    breakdown = priced(catalogue, holders=holders)
    assert (breakdown.seat_holders, breakdown.seats_included, breakdown.seats_billed) == (
        holders,
        included,
        billed,
    )
    assert breakdown.seats_amount == D(amount)


@pytest.mark.parametrize(
    ("users", "included", "billed", "amount"),
    [(0, 0, 0, "0.00"), (1, 1, 0, "0.00"), (2, 1, 1, "7.50"), (5, 1, 4, "30.00")],
)
def test_the_first_user_is_included_and_each_further_one_costs_7_50(
    catalogue, users, included, billed, amount
):
    breakdown = priced(catalogue, users=users)
    assert (breakdown.users, breakdown.users_included, breakdown.users_billed) == (
        users,
        included,
        billed,
    )
    assert breakdown.users_amount == D(amount)


def test_the_api_md_example(catalogue):
    """api.md: Medium at 50% off, 2 holders, 5 users -> 25.00 + 25.00 + 30.00 = 80.00."""
    discount = Discount(50, 24, dt.date(2024, 1, 1))
    breakdown = priced(catalogue, holders=2, users=5, discount=discount)
    assert breakdown.as_dict() == {
        "plan": "Medium",
        "currency": "EUR",
        "base": {"list": "50.00", "discount_percent": 50, "amount": "25.00"},
        "backoffice_seats": {"holders": 2, "included": 1, "billed": 1, "amount": "25.00"},
        "extra_users": {"users": 5, "included": 1, "billed": 4, "amount": "30.00"},
        "total": "80.00",
    }


def test_the_discount_applies_to_the_base_only(catalogue):
    discount = Discount(50, 24, dt.date(2024, 1, 1))
    full = priced(catalogue, holders=3, users=4)
    reduced = priced(catalogue, holders=3, users=4, discount=discount)
    assert reduced.base == full.base / 2
    assert reduced.seats_amount == full.seats_amount == D("50.00")
    assert reduced.users_amount == full.users_amount == D("22.50")
    assert full.total - reduced.total == D("25.00")


def test_an_expired_or_unstarted_discount_is_not_applied(catalogue):
    over = priced(catalogue, on=dt.date(2026, 1, 1), discount=Discount(50, 24, dt.date(2024, 1, 1)))
    pending = priced(catalogue, discount=Discount(50, 24, None))
    assert over.discount_percent == pending.discount_percent == 0
    assert over.base == pending.base == D("50.00")


def test_discounted_base_rounds_half_up_to_the_cent():
    raw = copy.deepcopy(RAW)
    raw["base_prices"]["Small"] = "0.05"
    raw["base_prices"]["Medium"] = "33.33"
    cheap = Catalogue.from_dict(raw)
    discount = Discount(50, 24, dt.date(2024, 1, 1))
    assert priced(cheap, plan="Small", discount=discount).base == D("0.03")  # 0.025
    assert priced(cheap, plan="Medium", discount=discount).base == D("16.67")  # 16.665
    assert priced(cheap, plan="Medium", discount=Discount(33, 24, dt.date(2024, 1, 1))).base == D(
        "22.33"  # 22.3311
    )


def test_every_amount_is_a_decimal_never_a_float(catalogue):
    breakdown = priced(
        catalogue, holders=3, users=7, discount=Discount(50, 24, dt.date(2024, 1, 1))
    )
    assert all(type(a) is Decimal for a in amounts(breakdown))
    assert all(a.as_tuple().exponent == -2 for a in amounts(breakdown))
    assert all(type(p) is Decimal for p in catalogue.base_prices.values())
    assert type(catalogue.seat_price) is Decimal and type(catalogue.user_price) is Decimal
    # The answer carries amounts as text and counts as integers: no float anywhere.
    assert not list(_floats(breakdown.as_dict()))
    for section in ("base", "backoffice_seats", "extra_users"):
        assert isinstance(breakdown.as_dict()[section]["amount"], str)
    assert isinstance(breakdown.as_dict()["total"], str)


def _floats(value):
    if isinstance(value, float):
        yield value
    elif isinstance(value, dict):
        for item in value.values():
            yield from _floats(item)
    elif isinstance(value, list):
        for item in value:
            yield from _floats(item)


def test_negative_counts_are_refused(catalogue):
    with pytest.raises(ValueError, match="negative"):
        priced(catalogue, holders=-1)
    with pytest.raises(ValueError, match="negative"):
        priced(catalogue, users=-1)


def test_nothing_costs_nothing(catalogue):
    empty = pricing.nothing(catalogue)
    assert empty.total == D("0.00") and empty.plan == "none"


# --- changes ---------------------------------------------------------------------------------


def items(result):
    return None if result is None else [(i.item, str(i.amount)) for i in result.items]


@pytest.mark.parametrize(
    ("before", "after", "expected_items", "amount"),
    [
        ({"holders": 0}, {"holders": 1}, [("backoffice_seat_included", "0.00")], "0.00"),
        ({"holders": 1}, {"holders": 2}, [("backoffice_seat", "25.00")], "25.00"),
        ({"holders": 2}, {"holders": 4}, [("backoffice_seat", "50.00")], "50.00"),
        ({"holders": 2}, {"holders": 1}, [("backoffice_seat", "-25.00")], "-25.00"),
        ({"holders": 1}, {"holders": 0}, [("backoffice_seat_included", "0.00")], "0.00"),
        ({"holders": 3}, {"holders": 0}, [("backoffice_seat", "-50.00")], "-50.00"),
        ({"users": 0}, {"users": 1}, [("user_included", "0.00")], "0.00"),
        ({"users": 1}, {"users": 2}, [("extra_user", "7.50")], "7.50"),
        ({"users": 3}, {"users": 2}, [("extra_user", "-7.50")], "-7.50"),
        (
            {"users": 1, "holders": 1},
            {"users": 2, "holders": 2},
            [("backoffice_seat", "25.00"), ("extra_user", "7.50")],
            "32.50",
        ),
        ({"plan": "Medium"}, {"plan": "Large"}, [("base", "30.00")], "30.00"),
        ({"plan": "Large"}, {"plan": "Small"}, [("base", "-50.00")], "-50.00"),
        (
            {"plan": "Minimal", "holders": 0},
            {"plan": "Small", "holders": 2},
            [("base", "30.00"), ("backoffice_seat", "25.00")],
            "55.00",
        ),
    ],
)
def test_change_names_each_moving_item(catalogue, before, after, expected_items, amount):
    result = change(catalogue, priced(catalogue, **before), priced(catalogue, **after))
    assert items(result) == expected_items
    assert result is not None and str(result.amount) == amount
    assert result.as_dict() == {
        "amount": amount,
        "currency": "EUR",
        "per": "month",
        "items": [{"item": i, "amount": a} for i, a in expected_items],
    }
    assert all(type(i.amount) is Decimal for i in result.items)


def test_change_is_none_when_nothing_billable_moves(catalogue):
    assert change(catalogue, priced(catalogue, holders=2), priced(catalogue, holders=2)) is None


def test_the_discount_starting_is_a_base_change(catalogue):
    discount = Discount(50, 24, dt.date(2024, 5, 1))
    result = change(catalogue, priced(catalogue), priced(catalogue, discount=discount))
    assert items(result) == [("base", "-25.00")]


def test_the_amount_is_the_sum_of_the_items(catalogue):
    before = priced(catalogue, plan="Small", holders=1, users=1)
    after = priced(catalogue, plan="Unlimited", holders=4, users=9)
    result = change(catalogue, before, after)
    assert result is not None
    assert result.amount == sum(i.amount for i in result.items) == after.total - before.total


# --- the catalogue ---------------------------------------------------------------------------


def test_the_default_catalogue_has_the_placeholder_prices(catalogue):
    assert catalogue.currency == "EUR" and catalogue.per == "month"
    assert catalogue.seat_price == D("25.00") and catalogue.seats_included == 1
    assert catalogue.user_price == D("7.50") and catalogue.users_included == 1
    assert (catalogue.discount_percent, catalogue.discount_months) == (50, 24)


def test_a_catalogue_file_is_loaded_from_its_path(tmp_path):
    raw = copy.deepcopy(RAW)
    raw["backoffice_seat"]["price"] = "19.99"
    del raw["per"]
    path = tmp_path / "prices.json"
    path.write_text(json.dumps(raw), encoding="utf-8")
    loaded = Catalogue.load(path)
    assert loaded.seat_price == D("19.99")
    assert loaded.per == "month"


def _without(path: tuple[str, ...]) -> dict:
    raw = copy.deepcopy(RAW)
    node = raw
    for key in path[:-1]:
        node = node[key]
    del node[path[-1]]
    return raw


def _with(path: tuple[str, ...], value) -> dict:
    return replaced(RAW, path, value)


@pytest.mark.parametrize(
    "raw",
    [
        _without(("currency",)),
        _without(("base_prices",)),
        _without(("backoffice_seat",)),
        _without(("backoffice_seat", "price")),
        _without(("extra_user", "included")),
        _without(("converted_guest_discount",)),
        _with(("backoffice_seat", "price"), "twenty-five"),
        _with(("extra_user", "included"), "one"),
        _with(("base_prices",), ["Small", "30.00"]),  # regression: was an AttributeError
        _with(("converted_guest_discount",), None),
        _with(("base_prices", "Small"), None),
    ],
    ids=[
        "no-currency",
        "no-base-prices",
        "no-seat",
        "no-seat-price",
        "no-included-users",
        "no-discount",
        "price-not-a-number",
        "included-not-a-number",
        "base-prices-a-list",
        "discount-null",
        "price-null",
    ],
)
def test_an_incomplete_or_invalid_catalogue_is_refused_with_one_message(raw):
    with pytest.raises(ValueError, match="pricing catalogue is incomplete or invalid"):
        Catalogue.from_dict(raw)


def test_a_catalogue_file_that_is_not_json_is_refused(tmp_path):
    path = tmp_path / "prices.json"
    path.write_text("{not json", encoding="utf-8")
    with pytest.raises(ValueError):
        Catalogue.load(path)


def test_a_missing_catalogue_file_is_refused(tmp_path):
    with pytest.raises(FileNotFoundError):
        Catalogue.load(tmp_path / "nope.json")


def test_prices_written_as_json_numbers_are_exact(tmp_path):
    """Regression: JSON numbers were parsed as binary floats (1.005 became 1.00)."""
    text = json.dumps(RAW).replace('"price": "7.50"', '"price": 1.005')
    path = tmp_path / "prices.json"
    path.write_text(text, encoding="utf-8")
    assert Catalogue.load(path).user_price == D("1.01")  # half up, as money() rounds


def test_a_catalogue_must_price_every_plan():
    """Regression: a catalogue without Unlimited loaded, then pricing failed with KeyError."""
    with pytest.raises(ValueError, match="pricing catalogue"):
        Catalogue.from_dict(_without(("base_prices", "Unlimited")))
