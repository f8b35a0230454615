"""The consumption chart: 13 months beside the year before, as SVG with a text
alternative, its numbers the same as the table's."""
from lxml import etree

from services.gateway import consumption_chart

SVG = "{http://www.w3.org/2000/svg}"


def months(first_year=2024, count=25, start_month=12):
    out, year, month = [], first_year, start_month
    for index in range(count):
        out.append({"month": f"{year}-{month:02d}",
                    "consumption": None if index < 2 else {"T1": 100 + index, "T2": 10},
                    "covered_days": 30, "days": 30})
        year, month = (year + 1, 1) if month == 12 else (year, month + 1)
    return out


def test_rows_are_the_last_13_months_each_with_the_same_month_a_year_before():
    rows = consumption_chart.rows(months(), "T1")
    assert len(rows) == 13
    assert rows[0] == ("2025-12", 112, None, None)  # December 2024 and January 2025
    assert rows[1] == ("2026-01", 113, None, None)  # had no readings
    assert rows[2] == ("2026-02", 114, 102, None)
    assert rows[-1] == ("2026-12", 124, 112, None)


def test_the_svg_is_an_image_with_a_title_a_description_and_a_bar_per_known_value():
    rows = consumption_chart.rows(months(), "T1")
    text = consumption_chart.svg(rows, "Tarbimine, päev", "13 kuud, suurim 124 kWh", "et",
                                 legend=("2026", "aasta varem"), chart_id="t1")
    root = etree.fromstring(text.encode())
    assert root.get("role") == "img" and root.get("aria-labelledby") == "t1-title t1-desc"
    assert root.find(f"{SVG}title").text == "Tarbimine, päev"
    bars = root.findall(f"{SVG}rect")
    now = [b for b in bars if b.get("class") == "bar-now"]
    before = [b for b in bars if b.get("class") == "bar-before"]
    assert len(now) == 13 + 1 and len(before) == 11 + 1     # + the legend's swatches
    heights = [float(b.get("height")) for b in now[:-1]]
    assert heights == sorted(heights)                       # 112 .. 124 kWh, growing
    labels = [t.text for t in root.findall(f"{SVG}text")]
    assert "dets" in labels and "jaan" in labels
    assert not root.findall(f".//{SVG}script") and "href" not in text


def test_a_point_without_readings_draws_an_empty_chart():
    rows = consumption_chart.rows([{"month": "2026-12", "consumption": None,
                                    "covered_days": 0, "days": 31}], "T1")
    root = etree.fromstring(consumption_chart.svg(rows, "t", "d", "en").encode())
    assert not root.findall(f"{SVG}rect")
    assert [t.text for t in root.findall(f"{SVG}text")][-1] == "Dec"


def test_months_of_pending_estimates_are_drawn_apart_and_named_in_the_legend():
    history = months()
    history[-1]["estimated_days"] = 30                # December: all estimated
    history[-2]["estimated_days"] = 12                # November: partly
    rows = consumption_chart.rows(history, "T1")
    assert [r[3] for r in rows[-3:]] == [None, consumption_chart.PARTLY_ESTIMATED,
                                         consumption_chart.ALL_ESTIMATED]
    text = consumption_chart.svg(rows, "t", "d", "en",
                                 legend=("The month", "A year before", "Estimated"))
    bars = etree.fromstring(text.encode()).findall(f"{SVG}rect")
    classes = [b.get("class") for b in bars]
    assert classes.count("bar-estimated") == 2 + 1     # November, December, the legend
    assert classes.count("bar-now") == 11 + 1
    assert "Estimated" in text
    # without an estimated month the legend does not name one
    plain = consumption_chart.svg(consumption_chart.rows(months(), "T1"), "t", "d", "en",
                                  legend=("The month", "A year before", "Estimated"))
    assert "Estimated" not in plain and "bar-estimated" not in plain
