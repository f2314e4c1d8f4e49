"""Synthetic fast-food chain: restaurants, menu, calendar events and daily unit sales.

Everything is drawn from numpy generators seeded from ``(seed, purpose[, restaurant])``, so the same
spec always gives the same data, and each restaurant's sales can be generated on its own (in chunks,
in any order) without changing the result.

Daily units of SKU s in restaurant r on day d are negative-binomial (gamma-Poisson) around

    mean = level_r · trend_r(d) · weekly_format(dow) · popularity_s · yearly_group(doy)
           · holiday_format(d) · promo_uplift · (price_s(d) / base_price_s) ^ -elasticity_s
           · refit_bump_r(d)

with the over-dispersion higher for intermittent low-volume items. Days a restaurant is closed
(Christmas Day, refits, incidents; a regular closing weekday at some; unannounced days at a few),
days before it opens or after it closes, and days outside an item's launch/discontinue window have
no sales rows; days with zero units have none either, as in a
real point-of-sale export. dbt's date spine restores the zeros and flags the closures.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import asdict, dataclass
from datetime import date, timedelta

import numpy as np
import pandas as pd

from ingest.calendar import region_holidays

# tier: (restaurants, skus, days); every tier ends on DEFAULT_END unless --start is given.
TIERS: dict[str, tuple[int, int, int]] = {
    "demo": (10, 20, 1095),
    "medium": (100, 100, 730),
    "chain": (200, 100, 1826),
}
DEFAULT_END = date(2025, 12, 31)
PROMO_LOOKAHEAD_DAYS = 365  # planned promotions are published a year ahead (forecast-time features)

# region -> cities (each region's holiday calendar: ingest.calendar.REGION_SUBDIVISIONS)
REGIONS: dict[str, tuple[str, ...]] = {
    "London": ("London",),
    "South East": ("Brighton", "Reading", "Oxford", "Southampton"),
    "Midlands": ("Birmingham", "Nottingham", "Leicester", "Coventry"),
    "North West": ("Manchester", "Liverpool", "Preston", "Bolton"),
    "Scotland": ("Glasgow", "Edinburgh", "Aberdeen", "Dundee"),
    "Wales": ("Cardiff", "Swansea", "Newport"),
    "Northern Ireland": ("Belfast", "Derry"),
}
REGION_WEIGHTS = np.array([0.22, 0.16, 0.17, 0.16, 0.12, 0.09, 0.08])

# format -> (share, volume multiplier, Mon..Sun profile, holiday multiplier)
FORMATS: dict[str, tuple[float, float, tuple[float, ...], float]] = {
    "drive-thru": (0.35, 1.25, (0.90, 0.88, 0.92, 0.98, 1.12, 1.20, 1.00), 1.10),
    "high-street": (0.30, 1.00, (0.92, 0.90, 0.94, 1.00, 1.15, 1.18, 0.91), 1.15),
    "mall": (0.20, 0.85, (0.80, 0.78, 0.82, 0.90, 1.05, 1.40, 1.25), 1.25),
    "transit": (0.15, 0.90, (1.12, 1.14, 1.14, 1.12, 1.10, 0.72, 0.66), 0.60),
}

# group -> (items, base price £, yearly amplitude, peak day of year, menu share)
PRODUCT_GROUPS: dict[str, tuple[tuple[str, ...], float, float, int, float]] = {
    "Burgers": (
        (
            "Classic Burger",
            "Cheeseburger",
            "Double Stack",
            "Bacon Deluxe",
            "Veggie Burger",
            "Spicy Burger",
            "BBQ Burger",
            "Mushroom Swiss",
        ),
        5.49,
        0.08,
        220,
        0.22,
    ),
    "Chicken": (
        (
            "Chicken Nuggets 6",
            "Chicken Nuggets 9",
            "Crispy Chicken Sandwich",
            "Chicken Wrap",
            "Hot Wings",
            "Chicken Strips",
        ),
        4.99,
        0.06,
        200,
        0.16,
    ),
    "Sides": (
        (
            "Fries Regular",
            "Fries Large",
            "Onion Rings",
            "Side Salad",
            "Mozzarella Sticks",
            "Corn Cob",
        ),
        1.99,
        0.07,
        210,
        0.16,
    ),
    "Drinks": (
        (
            "Cola",
            "Diet Cola",
            "Orange Juice",
            "Iced Tea",
            "Milkshake Vanilla",
            "Milkshake Strawberry",
            "Coffee",
            "Water",
        ),
        1.49,
        0.25,
        195,
        0.16,
    ),
    "Desserts": (
        ("Sundae", "Apple Pie", "Cookie", "Soft Serve Cone", "Brownie"),
        1.79,
        0.30,
        200,
        0.10,
    ),
    "Breakfast": (
        ("Breakfast Muffin", "Hash Brown", "Pancakes", "Porridge", "Breakfast Wrap"),
        2.79,
        0.06,
        20,
        0.08,
    ),
    "Salads": (("Caesar Salad", "Garden Salad", "Chicken Salad"), 4.49, 0.35, 175, 0.05),
    "Kids Meals": (("Kids Burger Meal", "Kids Nugget Meal"), 3.49, 0.18, 215, 0.07),
}

INTERMITTENT_SHARE = 0.15
# Unscheduled closures (not in raw.restaurant_closures: the data shows them as unreported days).
# A share of restaurants close on one weekday every week; a few close on random days.
CLOSING_WEEKDAY_SHARE = 0.2
IRREGULAR_SHARE, IRREGULAR_DAY_RATE = 0.1, 0.04


@dataclass(frozen=True)
class ChainSpec:
    """What to generate. ``days`` counts calendar days from ``start`` inclusive."""

    restaurants: int
    skus: int
    days: int
    start: date
    seed: int = 42
    # shares of restaurants with a regular closing weekday, and with random closed days
    closing_weekday_share: float = CLOSING_WEEKDAY_SHARE
    irregular_share: float = IRREGULAR_SHARE

    @classmethod
    def for_tier(cls, tier: str, seed: int = 42, start: date | None = None) -> ChainSpec:
        if tier not in TIERS:
            raise ValueError(f"unknown tier {tier!r}; choose one of {', '.join(TIERS)}")
        r, s, d = TIERS[tier]
        return cls(r, s, d, start or DEFAULT_END - timedelta(days=d - 1), seed)

    def __post_init__(self) -> None:
        for name in ("restaurants", "skus", "days"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be at least 1")

    @property
    def end(self) -> date:
        return self.start + timedelta(days=self.days - 1)

    @property
    def dates(self) -> np.ndarray:
        return np.arange(np.datetime64(self.start), np.datetime64(self.end) + 1)

    def to_json(self) -> dict:
        return {**asdict(self), "start": self.start.isoformat()}


def _rng(spec: ChainSpec, purpose: str, index: int = 0) -> np.random.Generator:
    # Stable across runs and Python versions (no hash()): purpose folded into integers.
    key = [spec.seed, index, *purpose.encode()]
    return np.random.default_rng(key)


@dataclass(frozen=True)
class Chain:
    """Master data and calendar events of a generated chain (small; sales come in chunks)."""

    spec: ChainSpec
    restaurants: pd.DataFrame
    skus: pd.DataFrame
    holidays: pd.DataFrame
    closures: pd.DataFrame
    promotions: pd.DataFrame
    price_changes: pd.DataFrame  # sku_id, effective_on, price: the list price history and plan


def build_chain(spec: ChainSpec) -> Chain:
    """Draw restaurants, SKUs, holidays, closures, promotions and price history."""
    restaurants = _restaurants(spec)
    skus, price_changes = _skus(spec)
    return Chain(
        spec=spec,
        restaurants=restaurants,
        skus=skus,
        holidays=_holidays(spec),
        closures=_closures(spec, restaurants),
        promotions=_promotions(spec, skus, restaurants),
        price_changes=pd.concat(
            [price_changes, _planned_price_changes(spec, skus)], ignore_index=True
        ),
    )


def _restaurants(spec: ChainSpec) -> pd.DataFrame:
    rng = _rng(spec, "restaurants")
    n = spec.restaurants
    region_names = list(REGIONS)
    regions = rng.choice(len(region_names), size=n, p=REGION_WEIGHTS)
    fmt_names = list(FORMATS)
    fmt_p = np.array([FORMATS[f][0] for f in fmt_names])
    formats = rng.choice(len(fmt_names), size=n, p=fmt_p / fmt_p.sum())
    # Most restaurants predate the data; some open during it, a few close for good.
    opened_offset = np.where(
        rng.random(n) < 0.85,
        -rng.integers(30, 3650, size=n),
        rng.integers(60, max(61, spec.days - 120), size=n),
    )
    closes = rng.random(n) < 0.05
    rows = []
    for i in range(n):
        region = region_names[regions[i]]
        cities = REGIONS[region]
        city = cities[rng.integers(len(cities))]
        opened = spec.start + timedelta(days=int(opened_offset[i]))
        closed = None
        if closes[i] and spec.days > 200:
            lo = max(int(opened_offset[i]) + 120, spec.days // 2)
            if lo < spec.days - 10:
                closed = spec.start + timedelta(days=int(rng.integers(lo, spec.days - 10)))
        rid = f"R{i + 1:04d}"
        fmt = fmt_names[formats[i]]
        rows.append((rid, f"{city} {fmt.title()} {i + 1}", region, city, fmt, opened, closed))
    return pd.DataFrame(
        rows,
        columns=["restaurant_id", "name", "region", "city", "format", "opened_on", "closed_on"],
    )


def _skus(spec: ChainSpec) -> tuple[pd.DataFrame, pd.DataFrame]:
    rng = _rng(spec, "skus")
    groups = list(PRODUCT_GROUPS)
    shares = np.array([PRODUCT_GROUPS[g][4] for g in groups])
    # Round-robin by share so small menus still cover the big groups first.
    counts = np.floor(shares / shares.sum() * spec.skus).astype(int)
    for i in np.argsort(-shares)[: spec.skus - counts.sum()]:
        counts[i] += 1
    rows, prices = [], []
    n = 0
    for g, c in zip(groups, counts, strict=True):
        items, base_price, *_ = PRODUCT_GROUPS[g]
        for j in range(c):
            n += 1
            sku_id = f"S{n:04d}"
            name = items[j % len(items)] + ("" if j < len(items) else f" #{j // len(items) + 1}")
            price0 = round(base_price * rng.uniform(0.85, 1.2), 2)
            launched = spec.start - timedelta(days=int(rng.integers(30, 2000)))
            if rng.random() < 0.12 and spec.days > 240:
                launched = spec.start + timedelta(days=int(rng.integers(60, spec.days - 120)))
            discontinued = None
            if rng.random() < 0.08 and spec.days > 240:
                lo = max((launched - spec.start).days + 120, spec.days // 3)
                if lo < spec.days - 30:
                    discontinued = spec.start + timedelta(
                        days=int(rng.integers(lo, spec.days - 30))
                    )
            # One to three chain-wide price rises, 3-8% each.
            price = price0
            prices.append((sku_id, launched, price))
            for d in np.sort(rng.choice(spec.days, size=rng.integers(1, 4), replace=False)):
                price = round(price * rng.uniform(1.03, 1.08), 2)
                prices.append((sku_id, spec.start + timedelta(days=int(d)), price))
            rows.append((sku_id, name, g, price, launched, discontinued))
    skus = pd.DataFrame(
        rows,
        columns=["sku_id", "name", "product_group", "list_price", "launched_on", "discontinued_on"],
    )
    return skus, pd.DataFrame(prices, columns=["sku_id", "effective_on", "price"])


def _planned_price_changes(spec: ChainSpec, skus: pd.DataFrame) -> pd.DataFrame:
    """List price changes already planned after the last day of data: about a third of the
    SKUs rise 4-10 % on a day in the year ahead (the forecast should see them coming). Drawn
    from their own generator, so nothing else in the chain moves."""
    rng = _rng(spec, "planned-prices")
    rows = []
    for sku in skus.itertuples(index=False):
        if rng.random() < 1 / 3:
            day = spec.end + timedelta(days=int(rng.integers(30, 300)))
            rows.append((sku.sku_id, day, round(sku.list_price * rng.uniform(1.04, 1.10), 2)))
    return pd.DataFrame(rows, columns=["sku_id", "effective_on", "price"]).astype({"price": float})


def _holidays(spec: ChainSpec) -> pd.DataFrame:
    years = range(spec.start.year, (spec.end + timedelta(days=PROMO_LOOKAHEAD_DAYS)).year + 1)
    return region_holidays(REGIONS, years)


def _closures(spec: ChainSpec, restaurants: pd.DataFrame) -> pd.DataFrame:
    rng = _rng(spec, "closures")
    rows = []
    christmases = [date(y, 12, 25) for y in range(spec.start.year, spec.end.year + 1)]
    for rid in restaurants["restaurant_id"]:
        for xmas in christmases:
            if spec.start <= xmas <= spec.end:
                rows.append((rid, xmas, xmas, "christmas"))
        if rng.random() < 0.25 and spec.days > 120:  # a refit: 7-21 days
            start = spec.start + timedelta(days=int(rng.integers(30, spec.days - 60)))
            rows.append((rid, start, start + timedelta(days=int(rng.integers(6, 21))), "refit"))
        for _ in range(rng.poisson(spec.days / 730)):  # incidents: 1-3 days
            start = spec.start + timedelta(days=int(rng.integers(0, spec.days)))
            rows.append((rid, start, start + timedelta(days=int(rng.integers(0, 3))), "incident"))
    df = pd.DataFrame(rows, columns=["restaurant_id", "closed_from", "closed_to", "reason"])
    # An incident can start on a day already closed; keep the first range per start day.
    return df.drop_duplicates(["restaurant_id", "closed_from"]).reset_index(drop=True)


def _promotions(spec: ChainSpec, skus: pd.DataFrame, restaurants: pd.DataFrame) -> pd.DataFrame:
    rng = _rng(spec, "promotions")
    horizon = spec.days + PROMO_LOOKAHEAD_DAYS
    rows = []
    n_chain = max(1, round(horizon / 365 * 8))  # ~8 chain-wide campaigns a year
    for k in range(n_chain):
        start = spec.start + timedelta(days=int(rng.integers(0, horizon - 14)))
        end = start + timedelta(days=int(rng.integers(6, 21)))
        disc = float(rng.choice([10, 15, 20, 25, 30]))
        for sku in rng.choice(
            skus["sku_id"], size=min(len(skus), rng.integers(1, 4)), replace=False
        ):
            rows.append((f"P{k + 1:03d}-{sku}", None, sku, start, end, disc))
    n_local = max(1, round(horizon / 365 * len(restaurants) * 0.5))  # local store promotions
    for k in range(n_local):
        rid = restaurants["restaurant_id"].iloc[rng.integers(len(restaurants))]
        sku = skus["sku_id"].iloc[rng.integers(len(skus))]
        start = spec.start + timedelta(days=int(rng.integers(0, horizon - 7)))
        end = start + timedelta(days=int(rng.integers(2, 10)))
        rows.append((f"L{k + 1:04d}", rid, sku, start, end, float(rng.choice([10, 20, 30]))))
    return pd.DataFrame(
        rows,
        columns=["promo_id", "restaurant_id", "sku_id", "starts_on", "ends_on", "discount_pct"],
    )


def _day_index(spec: ChainSpec, d) -> int:
    return (d - spec.start).days


def _sku_parameters(spec: ChainSpec, chain: Chain) -> dict[str, np.ndarray]:
    """Per-SKU arrays shared by all restaurants: popularity, elasticity, prices, seasonality."""
    rng = _rng(spec, "sku-params")
    skus = chain.skus
    n_s, n_d = len(skus), spec.days
    intermittent = rng.random(n_s) < INTERMITTENT_SHARE
    popularity = np.where(
        intermittent,
        rng.uniform(0.08, 0.8, n_s),
        np.clip(rng.lognormal(np.log(18), 0.7, n_s), 3, 150),
    )
    dispersion = np.where(intermittent, 1.2, rng.uniform(6, 15, n_s))
    elasticity = rng.uniform(0.6, 1.6, n_s)

    doy = (spec.dates - spec.dates.astype("datetime64[Y]")).astype(int) + 1
    season = np.empty((n_s, n_d))
    price = np.empty((n_s, n_d))
    active = np.zeros((n_s, n_d), dtype=bool)
    changes = chain.price_changes
    for i, row in enumerate(skus.itertuples(index=False)):
        _, _, amp, peak, _ = PRODUCT_GROUPS[row.product_group]
        season[i] = 1 + amp * np.cos(2 * np.pi * (doy - peak) / 365.25)
        hist = changes[changes["sku_id"] == row.sku_id]
        idx = np.clip([_day_index(spec, d) for d in hist["effective_on"]], 0, n_d)
        vals = hist["price"].to_numpy()
        # price on day t = last change with index <= t
        pos = np.searchsorted(idx, np.arange(n_d), side="right") - 1
        price[i] = vals[np.clip(pos, 0, None)]
        lo = max(0, _day_index(spec, row.launched_on))
        hi = n_d if row.discontinued_on is None else min(n_d, _day_index(spec, row.discontinued_on))
        active[i, lo:hi] = True
    base_price = changes.groupby("sku_id", sort=False)["price"].first().reindex(skus["sku_id"])
    return {
        "popularity": popularity,
        "dispersion": dispersion,
        "elasticity": elasticity,
        "season": season,
        "price": price,
        "base_price": base_price.to_numpy(),
        "active": active,
    }


def _promo_grid(spec: ChainSpec, chain: Chain, rid: str) -> np.ndarray:
    """Discount % per (SKU, day) for one restaurant (chain-wide and local promotions)."""
    n_d = spec.days
    sku_pos = {s: i for i, s in enumerate(chain.skus["sku_id"])}
    grid = np.zeros((len(sku_pos), n_d))
    promos = chain.promotions
    mine = promos[promos["restaurant_id"].isna() | (promos["restaurant_id"] == rid)]
    for p in mine.itertuples(index=False):
        lo, hi = _day_index(spec, p.starts_on), _day_index(spec, p.ends_on) + 1
        lo, hi = max(lo, 0), min(hi, n_d)
        if lo < hi:
            i = sku_pos[p.sku_id]
            grid[i, lo:hi] = np.maximum(grid[i, lo:hi], p.discount_pct)
    return grid


def unscheduled_closures(spec: ChainSpec, r_idx: int, dow: np.ndarray) -> np.ndarray:
    """Days restaurant ``r_idx`` is closed without a scheduled closure: its regular closing
    weekday (``spec.closing_weekday_share`` of restaurants; 0 = Monday), or random days. Drawn
    from its own generator, so the rest of the chain's data does not move."""
    rng = _rng(spec, "opening", r_idx)
    closed = np.zeros(len(dow), dtype=bool)
    if rng.random() < spec.closing_weekday_share:
        closed |= dow == rng.integers(7)
    if rng.random() < spec.irregular_share:
        closed |= rng.random(len(dow)) < IRREGULAR_DAY_RATE
    return closed


def generate_sales(chain: Chain) -> Iterator[pd.DataFrame]:
    """Yield one DataFrame of daily sales rows per restaurant (only days with units > 0).

    Columns: restaurant_id, sku_id, sale_date, units, net_sales, unit_price, on_promo.
    """
    spec = chain.spec
    params = _sku_parameters(spec, chain)
    dates = spec.dates
    n_d = spec.days
    dow = (dates.astype("datetime64[D]").astype(int) + 3) % 7  # 1970-01-01 was a Thursday
    t_years = np.arange(n_d) / 365.25
    sku_ids = chain.skus["sku_id"].to_numpy()
    hol = chain.holidays
    for r_idx, r in enumerate(chain.restaurants.itertuples(index=False)):
        rng = _rng(spec, "sales", r_idx)
        _, volume, weekly, holiday_mult = FORMATS[r.format]
        level = volume * rng.lognormal(0, 0.3)
        trend = np.exp(rng.normal(0.02, 0.04) * t_years)
        day_mult = level * trend * np.asarray(weekly)[dow]

        hol_days = hol.loc[hol["region"] == r.region, "holiday_date"]
        hol_idx = np.array([_day_index(spec, d) for d in hol_days], dtype=int)
        hol_idx = hol_idx[(hol_idx >= 0) & (hol_idx < n_d)]
        day_mult[hol_idx] *= holiday_mult

        open_mask = np.zeros(n_d, dtype=bool)
        lo = max(0, _day_index(spec, r.opened_on))
        hi = n_d if r.closed_on is None else min(n_d, _day_index(spec, r.closed_on))
        open_mask[lo:hi] = True
        cl = chain.closures[chain.closures["restaurant_id"] == r.restaurant_id]
        for c in cl.itertuples(index=False):
            a, b = _day_index(spec, c.closed_from), _day_index(spec, c.closed_to) + 1
            open_mask[max(a, 0) : max(min(b, n_d), 0)] = False
            if c.reason == "refit":  # a refit lifts sales afterwards
                day_mult[min(b, n_d) :] *= 1.08
        open_mask &= ~unscheduled_closures(spec, r_idx, dow)

        discount = _promo_grid(spec, chain, r.restaurant_id)
        on_promo = discount > 0
        unit_price = np.round(params["price"] * (1 - discount / 100), 2)
        rel_price = unit_price / params["base_price"][:, None]
        menu = rng.random(len(sku_ids)) < 0.92  # each restaurant carries most of the menu
        menu[np.argmax(params["popularity"])] = True

        mean = (
            params["popularity"][:, None]
            * params["season"]
            * day_mult[None, :]
            * rel_price ** (-params["elasticity"][:, None])
            * np.where(on_promo, 1.25, 1.0)
        )
        k = params["dispersion"][:, None]
        lam = mean * rng.gamma(k, 1 / k, size=mean.shape)
        units = rng.poisson(lam)
        keep = (units > 0) & params["active"] & open_mask[None, :] & menu[:, None]
        s_idx, d_idx = np.nonzero(keep)
        u = units[s_idx, d_idx]
        p = unit_price[s_idx, d_idx]
        yield pd.DataFrame(
            {
                "restaurant_id": r.restaurant_id,
                "sku_id": sku_ids[s_idx],
                "sale_date": dates[d_idx],
                "units": u.astype(np.int32),
                "net_sales": np.round(u * p, 2),
                "unit_price": p,
                "on_promo": on_promo[s_idx, d_idx],
            }
        )
