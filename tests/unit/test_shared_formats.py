"""What an application reads (services/gateway/shared_formats.py), without a broker:
the consumption between readings, CSV, and ESPI Atom XML valid against the schema
in tests/data/espi/."""
from datetime import datetime, timezone
from pathlib import Path

import xmlschema
from lxml import etree

from services.gateway import shared_formats as formats

ESPI = Path(__file__).parents[1] / "data" / "espi"
NS = {"a": "http://www.w3.org/2005/Atom", "espi": "http://naesb.org/espi"}
NOW = datetime(2026, 3, 2, 9, tzinfo=timezone.utc)
POINT = {"id": "9d7c6f1e-0000-4000-8000-000000000001", "eic": "38ZEE-00000001-7",
         "address": "Pärnu mnt 10-5, Tallinn",
         "meter": {"serial": "MTR000001", "registers": [{"code": "T1", "digits": 6},
                                                        {"code": "T2", "digits": 6}]}}


def reading(day, t1, t2, used=(0, 0), status="accepted"):
    return {"reading_id": day, "reading_date": day, "registers": {"T1": t1, "T2": t2},
            "consumption": {"T1": used[0], "T2": used[1]}, "status": status,
            "submitted_at": f"{day}T09:00:00+00:00", "submitted_by": "49003136526"}


READINGS = [reading("2026-03-01", 1600, 900, (300, 100)),
            reading("2026-02-20", 9999, 9999, status="held_for_review"),
            reading("2026-01-01", 1000, 700), reading("2026-02-01", 1300, 800, (300, 100))]


def test_only_accepted_readings_oldest_first_and_no_one_s_person_code():
    shared = formats.shared_readings(READINGS)
    assert [r["reading_date"] for r in shared] == ["2026-01-01", "2026-02-01", "2026-03-01"]
    assert all(set(r) == {"reading_id", "reading_date", "registers", "consumption"}
               for r in shared)


def test_consumption_is_between_two_readings_within_the_days_asked():
    assert formats.intervals(READINGS) == [
        {"period_from": "2026-01-01", "period_to": "2026-02-01",
         "consumption": {"T1": 300, "T2": 100}},
        {"period_from": "2026-02-01", "period_to": "2026-03-01",
         "consumption": {"T1": 300, "T2": 100}}]
    assert [i["period_to"] for i in formats.intervals(READINGS, "2026-01-15")] == ["2026-03-01"]
    assert [i["period_to"] for i in formats.intervals(READINGS, None, "2026-02-28")] == [
        "2026-02-01"]


def test_csv_has_a_row_per_register():
    rows = list(formats.consumption_csv(POINT["id"], formats.intervals(READINGS)))
    assert rows[0] == ("consumption_point_id", "period_from", "period_to", "register",
                       "consumption_kwh")
    assert rows[1:3] == [(POINT["id"], "2026-01-01", "2026-02-01", "T1", 300),
                         (POINT["id"], "2026-01-01", "2026-02-01", "T2", 100)]


def test_espi_xml_is_valid_and_says_kwh_per_register_over_each_interval():
    schema = xmlschema.XMLSchema(str(ESPI / "atom.xsd"))
    documents = [formats.points_atom("http://vool", NOW, [POINT]),
                 formats.readings_atom("http://vool", NOW, POINT,
                                       formats.shared_readings(READINGS)),
                 formats.consumption_atom("http://vool", NOW, POINT,
                                          formats.intervals(READINGS))]
    for document in documents:
        schema.validate(etree.tostring(document))
    consumption = documents[2]
    blocks = consumption.findall(".//espi:IntervalBlock", NS)
    assert len(blocks) == 2                                  # T1 and T2
    values = [r.findtext("espi:value", namespaces=NS)
              for r in blocks[0].findall("espi:IntervalReading", NS)]
    assert values == ["300", "300"]
    # January in Tallinn: 31 days from midnight to midnight (EET, no DST change)
    assert blocks[0].findtext("espi:IntervalReading/espi:timePeriod/espi:duration",
                              namespaces=NS) == str(31 * 86400)
    assert blocks[0].findtext("espi:IntervalReading/espi:timePeriod/espi:start",
                              namespaces=NS) == str(int(datetime(
                                  2025, 12, 31, 22, tzinfo=timezone.utc).timestamp()))
    # the same data, the same ids
    again = formats.consumption_atom("http://vool", NOW, POINT, formats.intervals(READINGS))
    assert [e.text for e in again.iterfind(".//a:id", NS)] == [
        e.text for e in consumption.iterfind(".//a:id", NS)]


def test_a_document_outside_the_schema_is_refused_by_it():
    schema = xmlschema.XMLSchema(str(ESPI / "atom.xsd"))
    document = formats.points_atom("http://vool", NOW, [POINT])
    kind = document.find(".//espi:ServiceCategory/espi:kind", NS)
    kind.text = "1"                                           # gas: not what we write
    assert not schema.is_valid(etree.tostring(document))
