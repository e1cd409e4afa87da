"""The monthly run-rate of a domain (domain.md section 3): pure functions over Decimal.

Prices come from the catalogue file (`service/catalogue.json`, or the path in
`PRICING_CATALOGUE`); nothing here knows the database, Flask or the policy. Whether a Back Office
holder is *effective* is the policy's answer, counted by the caller.
"""

from __future__ import annotations

import calendar
import datetime as dt
import json
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

CENT = Decimal("0.01")
# Every plan the service knows must have a price (listed here: pricing imports nothing of ours).
PLANS = frozenset({"Trial", "Minimal", "Small", "Medium", "Large", "Unlimited"})
DEFAULT_CATALOGUE = Path(__file__).with_name("catalogue.json")


def money(value: Decimal | int | str) -> Decimal:
    """Return `value` as euros and cents, rounding half up."""
    return Decimal(value).quantize(CENT, rounding=ROUND_HALF_UP)


def add_months(day: dt.date, months: int) -> dt.date:
    """Return the same day `months` later, clamped to the end of a shorter month."""
    index = day.month - 1 + months
    year, month = day.year + index // 12, index % 12 + 1
    return dt.date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def first_of_next_month(day: dt.date) -> dt.date:
    return add_months(day.replace(day=1), 1)


@dataclass(frozen=True)
class Catalogue:
    currency: str
    per: str
    base_prices: dict[str, Decimal]
    seat_price: Decimal
    seats_included: int
    user_price: Decimal
    users_included: int
    discount_percent: int
    discount_months: int

    @classmethod
    def load(cls, path: str | Path | None = None) -> Catalogue:
        text = Path(path or DEFAULT_CATALOGUE).read_text(encoding="utf-8")
        # Numbers as Decimal: a price written as a JSON number must stay exact.
        raw = json.loads(text, parse_float=Decimal)
        return cls.from_dict(raw)

    @classmethod
    def from_dict(cls, raw: dict[str, Any]) -> Catalogue:
        try:
            catalogue = cls(
                currency=raw["currency"],
                per=raw.get("per", "month"),
                base_prices={plan: money(p) for plan, p in raw["base_prices"].items()},
                seat_price=money(raw["backoffice_seat"]["price"]),
                seats_included=int(raw["backoffice_seat"]["included"]),
                user_price=money(raw["extra_user"]["price"]),
                users_included=int(raw["extra_user"]["included"]),
                discount_percent=int(raw["converted_guest_discount"]["percent"]),
                discount_months=int(raw["converted_guest_discount"]["months"]),
            )
        except (KeyError, TypeError, ValueError, ArithmeticError, AttributeError) as exc:
            raise ValueError(f"the pricing catalogue is incomplete or invalid: {exc!r}") from exc
        missing = sorted(PLANS - set(catalogue.base_prices))
        if missing:
            raise ValueError(f"the pricing catalogue has no base price for {', '.join(missing)}")
        return catalogue


@dataclass(frozen=True)
class Discount:
    """The converted-guest entitlement: `percent` off the base for `months` from `starts_on`."""

    percent: int
    months: int
    starts_on: dt.date | None

    def active_on(self, day: dt.date) -> bool:
        if self.starts_on is None:  # entitled, but no eligible plan activated yet
            return False
        return self.starts_on <= day < add_months(self.starts_on, self.months)


@dataclass(frozen=True)
class Breakdown:
    """What a domain costs per month on one day, item by item."""

    plan: str
    currency: str
    base_list: Decimal
    discount_percent: int
    base: Decimal
    seat_holders: int
    seats_included: int
    seats_billed: int
    seats_amount: Decimal
    users: int
    users_included: int
    users_billed: int
    users_amount: Decimal
    total: Decimal = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "total", money(self.base + self.seats_amount + self.users_amount))

    def as_dict(self) -> dict[str, Any]:
        return {
            "plan": self.plan,
            "currency": self.currency,
            "base": {
                "list": str(self.base_list),
                "discount_percent": self.discount_percent,
                "amount": str(self.base),
            },
            "backoffice_seats": {
                "holders": self.seat_holders,
                "included": self.seats_included,
                "billed": self.seats_billed,
                "amount": str(self.seats_amount),
            },
            "extra_users": {
                "users": self.users,
                "included": self.users_included,
                "billed": self.users_billed,
                "amount": str(self.users_amount),
            },
            "total": str(self.total),
        }


def run_rate(
    catalogue: Catalogue,
    *,
    plan: str,
    on: dt.date,
    effective_holders: int,
    users: int,
    discount: Discount | None = None,
) -> Breakdown:
    """Price a domain on day `on`: base (after any discount) + billed seats + extra users.

    `effective_holders` counts only Backoffice roles that grant access (dormant ones cost nothing).
    """
    if effective_holders < 0 or users < 0:
        raise ValueError("counts cannot be negative")
    base_list = catalogue.base_prices[plan]
    percent = discount.percent if discount is not None and discount.active_on(on) else 0
    base = money(base_list * (100 - percent) / 100)
    seats_billed = max(0, effective_holders - catalogue.seats_included)
    users_billed = max(0, users - catalogue.users_included)
    return Breakdown(
        plan=plan,
        currency=catalogue.currency,
        base_list=base_list,
        discount_percent=percent,
        base=base,
        seat_holders=effective_holders,
        seats_included=min(effective_holders, catalogue.seats_included),
        seats_billed=seats_billed,
        seats_amount=money(catalogue.seat_price * seats_billed),
        users=users,
        users_included=min(users, catalogue.users_included),
        users_billed=users_billed,
        users_amount=money(catalogue.user_price * users_billed),
    )


def nothing(catalogue: Catalogue) -> Breakdown:
    """The run-rate of a domain that does not exist."""
    zero = money(0)
    return Breakdown("none", catalogue.currency, zero, 0, zero, 0, 0, 0, zero, 0, 0, 0, zero)


@dataclass(frozen=True)
class Item:
    item: str
    amount: Decimal

    def as_dict(self) -> dict[str, str]:
        return {"item": self.item, "amount": str(self.amount)}


@dataclass(frozen=True)
class RunRateChange:
    amount: Decimal
    items: tuple[Item, ...]
    currency: str
    per: str

    def as_dict(self) -> dict[str, Any]:
        return {
            "amount": str(self.amount),
            "currency": self.currency,
            "per": self.per,
            "items": [i.as_dict() for i in self.items],
        }


def change(catalogue: Catalogue, before: Breakdown, after: Breakdown) -> RunRateChange | None:
    """Describe how the run-rate moved; None when nothing billable moved at all.

    A new holder of the included seat, or the included first user, is reported as a 0.00 item.
    """
    items: list[Item] = []
    if after.base != before.base:
        items.append(Item("base", money(after.base - before.base)))
    if after.seats_billed != before.seats_billed:
        items.append(Item("backoffice_seat", money(after.seats_amount - before.seats_amount)))
    elif after.seats_included != before.seats_included:
        items.append(Item("backoffice_seat_included", money(0)))
    if after.users_billed != before.users_billed:
        items.append(Item("extra_user", money(after.users_amount - before.users_amount)))
    elif after.users_included != before.users_included:
        items.append(Item("user_included", money(0)))
    if not items:
        return None
    return RunRateChange(
        amount=money(after.total - before.total),
        items=tuple(items),
        currency=catalogue.currency,
        per=catalogue.per,
    )


def _deltas(before: Breakdown, after: Breakdown) -> dict[str, Decimal]:
    return {
        "base": after.base - before.base,
        "backoffice_seat": after.seats_amount - before.seats_amount,
        "extra_user": after.users_amount - before.users_amount,
    }


def schedule(
    catalogue: Catalogue, points: list[tuple[Any, Breakdown, Breakdown]]
) -> list[tuple[Any, RunRateChange]]:
    """Spread a change over time: the ledger entries that keep the ledger equal to the run-rate.

    `points` are (when, before, after) in time order: the run-rate before and after the change
    at each moment the difference between them may move (now, a pending downgrade's date, the end
    of a discount). The first point gets the whole difference; each later point what changed since.
    """
    out: list[tuple[Any, RunRateChange]] = []
    previous: dict[str, Decimal] | None = None
    for when, before, after in points:
        if previous is None:
            first = change(catalogue, before, after)
            if first is not None:
                out.append((when, first))
        else:
            now = _deltas(before, after)
            items = tuple(
                Item(name, money(now[name] - previous[name]))
                for name in now
                if now[name] != previous[name]
            )
            if items:
                total = money(sum((i.amount for i in items), Decimal(0)))
                out.append((when, RunRateChange(total, items, catalogue.currency, catalogue.per)))
        previous = _deltas(before, after)
    return out
