"""Altair chart specs, built from query frames (tested as specs, rendered by Streamlit)."""

from __future__ import annotations

import altair as alt
import pandas as pd

from streamlit_app.display import COLUMNS, UNITS

# the time axis: months with their year ("Aug 2019"); a tooltip names the weekday and the year
DATE_AXIS = alt.X("date:T", title=None, axis=alt.Axis(format="%b %Y", labelOverlap=True))
DATE_TIP = alt.Tooltip("date:T", title="date", format="%a %d %b %Y")


def history_and_forecast(
    history: pd.DataFrame,
    forecast: pd.DataFrame,
    holidays: pd.DataFrame | None = None,
    compare: pd.DataFrame | None = None,
    promotions: pd.DataFrame | None = None,
    per: str = "day",
) -> alt.LayerChart:
    """Actuals and the forecast on one time axis, the 80 % band as an area, holidays as rules.

    Frames at week or month grain (tables.by_grain) have no band and a `partial` column: the
    band is left out and the partial periods are circled. `units_last_year` on the forecast
    (tables.with_last_year) is drawn as a dotted line.
    """
    hist = history.assign(series="actual")
    fc = forecast.assign(series="forecast")
    base = alt.Chart(fc).encode(x=DATE_AXIS)
    y_title = f"units per {per}"
    layers = []
    if "yhat_lo80" in fc:
        layers.append(
            base.mark_area(opacity=0.25, color="#4c78a8").encode(
                y=alt.Y("yhat_lo80:Q", title=y_title), y2="yhat_hi80:Q"
            )
        )
    layers += [
        alt.Chart(hist)
        .mark_line(color="#333333", strokeWidth=1)
        .encode(x=DATE_AXIS, y=alt.Y("units:Q", title=y_title), tooltip=_tips(hist, ["units"])),
        base.mark_line(color="#4c78a8").encode(
            y="yhat:Q",
            tooltip=_tips(fc, ["yhat", "yhat_lo80", "yhat_hi80", "units_last_year"])
            + _p_open(fc)
            + (["model:N"] if "model" in fc else []),
        ),
    ]
    if "units_last_year" in fc and fc["units_last_year"].notna().any():
        layers.append(
            base.mark_line(color="#999999", strokeDash=[1, 2]).encode(
                y="units_last_year:Q", tooltip=_tips(fc, ["units_last_year"])
            )
        )
    if "partial" in fc and "partial" in hist:
        cut = pd.concat(
            [hist[hist["partial"]].assign(y=hist["units"]), fc[fc["partial"]].assign(y=fc["yhat"])]
        )
        layers.append(
            alt.Chart(cut)
            .mark_point(filled=False, color="#e45756", size=80)
            .encode(x=DATE_AXIS, y="y:Q", tooltip=[DATE_TIP, _tip("days"), "series:N"])
        )
    if compare is not None and not compare.empty:
        layers.append(
            alt.Chart(compare)
            .mark_line(color="#e45756", strokeDash=[4, 3])
            .encode(x=DATE_AXIS, y="yhat:Q")
        )
    if holidays is not None and not holidays.empty:
        layers.append(
            alt.Chart(holidays)
            .mark_rule(color="#f58518", strokeDash=[2, 2])
            .encode(x=DATE_AXIS, tooltip=[DATE_TIP, alt.Tooltip("name:N", title="holiday")])
        )
    if promotions is not None and not promotions.empty:
        layers.append(
            alt.Chart(promotions)
            .mark_tick(color="#54a24b", thickness=2, size=10)
            .encode(
                x=DATE_AXIS,
                y=alt.value(350),
                tooltip=[
                    DATE_TIP,
                    alt.Tooltip("items:Q", title="items on promotion"),
                    alt.Tooltip("discount_pct:Q", title="discount (%)", format=".0f"),
                ],
            )
        )
    return alt.layer(*layers).properties(height=360)


def _tips(df: pd.DataFrame, cols: list[str]) -> list:
    """The date, the given columns the frame has, and the days of a period at week/month grain,
    under the tables' headers (streamlit_app.display), numbers rounded."""
    return [DATE_TIP, *(_tip(c) for c in [*cols, "days"] if c in df)]


def _tip(column: str) -> alt.Tooltip:
    header, fmt = COLUMNS.get(column, (column.replace("_", " "), None))
    # the tables' printf formats in d3's terms: whole units, else three significant decimals
    return alt.Tooltip(f"{column}:Q", title=header, format=",.0f" if fmt == UNITS else ",.3~f")


def _p_open(fc: pd.DataFrame) -> list:
    """The chance of opening in the tooltip, for nodes inside one restaurant."""
    if "p_open" in fc and fc["p_open"].notna().any():
        return [alt.Tooltip("p_open:Q", title="P(open)", format=".0%")]
    return []


def bars(df: pd.DataFrame, x: str, y: str, color: str | None = None) -> alt.Chart:
    enc = {"x": alt.X(f"{x}:N", sort="-y", title=None), "y": alt.Y(f"{y}:Q", title=_header(y))}
    if color:
        enc["color"] = alt.Color(f"{color}:N", title=_header(color))
        enc["xOffset"] = alt.XOffset(f"{color}:N")
    return alt.Chart(df).mark_bar().encode(**enc, tooltip=_all_tips(df)).properties(height=300)


def lines(df: pd.DataFrame, x: str, y: str, color: str) -> alt.Chart:
    return (
        alt.Chart(df)
        .mark_line(point=True)
        .encode(
            x=alt.X(f"{x}:Q", title=_header(x)),
            y=alt.Y(f"{y}:Q", title=_header(y)),
            color=alt.Color(f"{color}:N", title=_header(color)),
            tooltip=_all_tips(df),
        )
        .properties(height=300)
    )


def _header(column: str) -> str:
    return COLUMNS.get(column, (column.replace("_", " "), None))[0]


def _all_tips(df: pd.DataFrame) -> list:
    """Every column, under its header; numbers rounded as the tables round them."""
    return [
        _tip(c)
        if pd.api.types.is_numeric_dtype(df[c]) and not pd.api.types.is_bool_dtype(df[c])
        else alt.Tooltip(f"{c}:N", title=_header(c))
        for c in df.columns
    ]


def drivers(month: pd.DataFrame) -> alt.Chart:
    """One month's drivers as horizontal bars: the base, then what each group adds (signed)."""
    data = month.assign(sign=month["units"].ge(0).map({True: "adds", False: "takes away"}))
    data.loc[data["is_base"], "sign"] = "base"
    return (
        alt.Chart(data)
        .mark_bar()
        .encode(
            y=alt.Y("driver:N", sort=None, title=None),
            x=alt.X("units:Q", title="units in the month"),
            color=alt.Color(
                "sign:N",
                scale=alt.Scale(
                    domain=["base", "adds", "takes away"], range=["#9e9e9e", "#4c78a8", "#e45756"]
                ),
                legend=None,
            ),
            tooltip=["driver", alt.Tooltip("units:Q", format=",.0f")],
        )
    )
