"""A consumption point's chart: the last 13 months of one register, each beside
the same month a year before, drawn here as SVG (no scripts, nothing fetched).

The SVG is an image with a title and a description for screen readers; the
page shows the same numbers as a table (``rows``), which is the text
alternative a reader can navigate.
"""
from html import escape

from babel.dates import format_date

from services.common.formats import as_date, number

MONTHS_SHOWN = 13
WIDTH, HEIGHT = 640, 240
LEFT, BOTTOM, TOP = 48, 28, 12


#: how much of a month's kWh is estimated (its days' pending estimates)
ALL_ESTIMATED, PARTLY_ESTIMATED = "estimated", "partly estimated"


def rows(months, register):
    """``[(YYYY-MM, kWh | None, kWh a year before | None, estimated)]`` for the last
    13 of ``months`` (metering's consumption_by_month, oldest first, 25 of them);
    ``estimated``: ALL_ESTIMATED, PARTLY_ESTIMATED or None for the month's kWh."""
    by_month = {m["month"]: (m["consumption"] or {}).get(register) if m["consumption"]
                else None for m in months}
    estimated = {m["month"]: _estimated(m) for m in months}
    shown = [m["month"] for m in months][-MONTHS_SHOWN:]
    return [(month, by_month.get(month), by_month.get(_year_before(month)),
             estimated.get(month)) for month in shown]


def _estimated(month):
    days = month.get("estimated_days") or 0
    if not days:
        return None
    return ALL_ESTIMATED if days >= month["covered_days"] else PARTLY_ESTIMATED


def _year_before(month):
    year, number_ = month.split("-")
    return f"{int(year) - 1}-{number_}"


def _nice_top(value):
    """The axis' top: 1, 2 or 5 times a power of ten, at least ``value``."""
    step = 1
    while True:
        for factor in (1, 2, 5):
            if step * factor >= value:
                return step * factor
        step *= 10


def _month_label(month, language):
    return format_date(as_date(f"{month}-01"), "LLL", locale="et_EE" if language == "et"
                       else "en_IE").rstrip(".")


def svg(chart_rows, title, description, language, legend=("", "", ""), chart_id="chart"):
    """The chart as an SVG element (text); ``legend`` names this year's bars, the
    year before's and (shown when a month is) the estimated ones; ``chart_id`` keeps
    the ids of two charts on a page apart."""
    top = _nice_top(max([v for _, a, b, _ in chart_rows for v in (a, b) if v] or [1]))
    plot_w, plot_h = WIDTH - LEFT - 8, HEIGHT - BOTTOM - TOP
    slot = plot_w / max(len(chart_rows), 1)
    bar = slot * 0.36

    def y(value):
        return TOP + plot_h - plot_h * value / top

    parts = [
        f'<svg xmlns="http://www.w3.org/2000/svg" viewBox="0 0 {WIDTH} {HEIGHT}" '
        f'class="chart" role="img" aria-labelledby="{chart_id}-title {chart_id}-desc">',
        f'<title id="{chart_id}-title">{escape(title)}</title>',
        f'<desc id="{chart_id}-desc">{escape(description)}</desc>',
        f'<line x1="{LEFT}" y1="{TOP + plot_h}" x2="{WIDTH - 8}" y2="{TOP + plot_h}" '
        f'class="axis"/>',
    ]
    for tick in (0, top / 2, top):
        parts.append(f'<text x="{LEFT - 6}" y="{y(tick) + 4:.1f}" text-anchor="end" '
                     f'class="tick">{escape(number(int(tick), language))}</text>')
    for index, (month, kwh, before, estimated) in enumerate(chart_rows):
        x = LEFT + index * slot + slot * 0.12
        for offset, value, kind in ((0, before, "before"),
                                    (bar, kwh, "estimated" if estimated else "now")):
            if value is None:
                continue
            parts.append(f'<rect x="{x + offset:.1f}" y="{y(value):.1f}" width="{bar:.1f}" '
                         f'height="{TOP + plot_h - y(value):.1f}" class="bar-{kind}"/>')
        parts.append(f'<text x="{x + bar:.1f}" y="{HEIGHT - 10}" text-anchor="middle" '
                     f'class="tick">{escape(_month_label(month, language))}</text>')
    now, before, estimate = (*legend, "")[:3]   # the estimated ones' name may be left out
    if now or before:
        parts.append(f'<rect x="{WIDTH - 200}" y="2" width="10" height="10" class="bar-now"/>'
                     f'<text x="{WIDTH - 186}" y="11" class="tick">{escape(now)}</text>'
                     f'<rect x="{WIDTH - 110}" y="2" width="10" height="10" class="bar-before"/>'
                     f'<text x="{WIDTH - 96}" y="11" class="tick">{escape(before)}</text>')
    if estimate and any(row[3] for row in chart_rows):
        parts.append(f'<rect x="{WIDTH - 300}" y="2" width="10" height="10" '
                     f'class="bar-estimated"/>'
                     f'<text x="{WIDTH - 286}" y="11" class="tick">{escape(estimate)}</text>')
    parts.append("</svg>")
    return "".join(parts)
