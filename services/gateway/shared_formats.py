"""What a third-party application reads of a customer's data (/api/v1/shared), in
the three forms it may ask for with Accept: JSON (the default), CSV (text/csv)
and Green Button / NAESB ESPI Atom XML (application/atom+xml), built with lxml.

ESPI as written here: one Atom feed per answer; a UsagePoint entry for each
consumption point (ServiceCategory kind 0, electricity), and under it one
MeterReading per register (T1, T2, ...) with its ReadingType: register readings
are bulk quantities (accumulationBehaviour 1), consumption delta data (4), of
electricity (commodity 1), energy (kind 12), forward flow (1), in Wh (uom 72)
times 10^3 (powerOfTenMultiplier 3): kWh as they are read. An IntervalBlock holds
the readings or the consumption, one IntervalReading per reading or per interval
between two readings; times are seconds since the epoch, an interval runs from
the earlier reading day's midnight in Tallinn to the later one's. Ids are name-
based UUIDs (urn:uuid:) of the resources' paths, so the same data has the same ids.
tests/data/espi/ holds the schema the output is validated against.
"""
import csv
import io
import json
import uuid
from datetime import date, datetime, time, timezone
from typing import Optional

from lxml import etree
from pydantic import BaseModel
from werkzeug.wrappers import Response

from services.common.clock import TALLINN
from services.contracts.api import Meter

JSON, CSV, ATOM = "application/json", "text/csv", "application/atom+xml"
MEDIA = (JSON, CSV, ATOM)

ATOM_NS = "http://www.w3.org/2005/Atom"
ESPI_NS = "http://naesb.org/espi"
NSMAP = {None: ATOM_NS, "espi": ESPI_NS}
#: the namespace of the entries' name-based ids
ID_NAMESPACE = uuid.UUID("5f0a3b1e-7c52-4d0e-9a57-9f1b1c2e6a10")

#: ReadingType of a register's readings and of its consumption (see the module's text)
READING_TYPE = {"commodity": 1, "flowDirection": 1, "kind": 12, "phase": 769,
                "powerOfTenMultiplier": 3, "uom": 72}
BULK, DELTA = 1, 4


# -- the JSON shapes ------------------------------------------------------------------

class SharedPoint(BaseModel):
    """A consumption point the grant shares."""
    id: str
    eic: str
    address: str
    meter: Meter


class SharedReading(BaseModel):
    """An accepted meter reading: the registers as read, and the consumption since
    the reading before it."""
    reading_id: str
    reading_date: date
    registers: dict[str, int]
    consumption: dict[str, int]


class ConsumptionInterval(BaseModel):
    """The consumption between two readings, in kWh per register."""
    period_from: date
    period_to: date
    consumption: dict[str, int]


class SharedConsumption(BaseModel):
    consumption_point_id: str
    period_from: Optional[date] = None
    period_to: Optional[date] = None
    intervals: list[ConsumptionInterval]


def accepted(readings):
    """The readings a third party sees: accepted ones, oldest first."""
    kept = [r for r in readings if r.get("status") == "accepted"]
    return sorted(kept, key=lambda r: (r["reading_date"], r.get("submitted_at") or ""))


def shared_readings(readings):
    return [{"reading_id": r["reading_id"], "reading_date": r["reading_date"],
             "registers": r["registers"], "consumption": r.get("consumption") or {}}
            for r in accepted(readings)]


def intervals(readings, period_from=None, period_to=None):
    """The consumption between each two accepted readings whose interval lies
    within [period_from, period_to] (ISO dates; either may be None)."""
    ordered = accepted(readings)
    found = []
    for before, after in zip(ordered, ordered[1:]):
        start, end = before["reading_date"], after["reading_date"]
        if period_from and start < period_from or period_to and end > period_to:
            continue
        found.append({"period_from": start, "period_to": end,
                      "consumption": after.get("consumption") or {}})
    return found


# -- choosing the form --------------------------------------------------------------

def media_of(request, offered=MEDIA):
    """The form the client asked for with Accept; JSON when it says nothing we write."""
    return request.accept_mimetypes.best_match(offered, default=JSON) or JSON


def answer(request, body, csv_rows, atom=None):
    """``body`` (JSON), or ``csv_rows()`` (a header and rows), or ``atom()`` (an lxml
    element; None: not offered), as the request's Accept asks."""
    media = media_of(request, MEDIA if atom is not None else (JSON, CSV))
    if media == CSV:
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\r\n")
        for row in csv_rows():
            writer.writerow(row)
        return Response(out.getvalue(), content_type="text/csv; charset=utf-8",
                        headers={"Vary": "Accept"})
    if media == ATOM:
        xml = etree.tostring(atom(), xml_declaration=True, encoding="UTF-8",
                             pretty_print=True)
        return Response(xml, content_type="application/atom+xml; charset=utf-8",
                        headers={"Vary": "Accept"})
    return Response(json.dumps(body, ensure_ascii=False, default=str),
                    content_type="application/json", headers={"Vary": "Accept"})


# -- CSV ------------------------------------------------------------------------------

INVOICE_COLUMNS = ("invoice_no", "contract_no", "period", "issued_on", "due_on", "net",
                   "vat_rate", "vat", "total", "paid", "status")


def invoices_csv(invoices):
    yield INVOICE_COLUMNS
    for invoice in invoices:
        yield tuple(invoice[c] for c in INVOICE_COLUMNS)


def points_csv(points):
    yield ("consumption_point_id", "eic", "address", "meter_serial", "registers")
    for p in points:
        yield (p["id"], p["eic"], p["address"], p["meter"]["serial"],
               " ".join(r["code"] for r in p["meter"]["registers"]))


def readings_csv(point_id, readings):
    yield ("consumption_point_id", "reading_date", "register", "reading_kwh",
           "consumption_kwh")
    for r in readings:
        for code in sorted(r["registers"]):
            yield (point_id, r["reading_date"], code, r["registers"][code],
                   r["consumption"].get(code, ""))


def consumption_csv(point_id, found):
    yield ("consumption_point_id", "period_from", "period_to", "register", "consumption_kwh")
    for interval in found:
        for code in sorted(interval["consumption"]):
            yield (point_id, interval["period_from"], interval["period_to"], code,
                   interval["consumption"][code])


# -- ESPI Atom ------------------------------------------------------------------------

def _seconds(day):
    """Midnight in Tallinn at the start of ``day`` (ISO), in seconds since the epoch."""
    moment = datetime.combine(date.fromisoformat(str(day)), time(), TALLINN)
    return int(moment.timestamp())


def _id(path):
    return f"urn:uuid:{uuid.uuid5(ID_NAMESPACE, path)}"


def _sub(parent, name, text=None, ns=ATOM_NS, **attributes):
    element = etree.SubElement(parent, f"{{{ns}}}{name}", **attributes)
    if text is not None:
        element.text = str(text)
    return element


class Feed:
    """An ESPI Atom feed being written."""

    def __init__(self, base, path, title, now):
        self.base, self.now = base, now.astimezone(timezone.utc).isoformat()
        self.root = etree.Element(f"{{{ATOM_NS}}}feed", nsmap=NSMAP)
        _sub(self.root, "id", _id(path))
        _sub(self.root, "title", title)
        _sub(self.root, "updated", self.now)
        _sub(self.root, "link", rel="self", href=base + path)

    def entry(self, path, up, title, related=()):
        entry = _sub(self.root, "entry")
        _sub(entry, "id", _id(path))
        _sub(entry, "link", rel="self", href=self.base + path)
        _sub(entry, "link", rel="up", href=self.base + up)
        for href in related:
            _sub(entry, "link", rel="related", href=self.base + href)
        _sub(entry, "title", title)
        _sub(entry, "published", self.now)
        _sub(entry, "updated", self.now)
        return _sub(entry, "content")


def _usage_point(feed, point, prefix):
    path = f"{prefix}/{point['id']}"
    content = feed.entry(path, prefix, f"{point['address']} ({point['eic']})",
                         related=[f"{path}/MeterReading"])
    usage = _sub(content, "UsagePoint", ns=ESPI_NS)
    category = _sub(usage, "ServiceCategory", ns=ESPI_NS)
    _sub(category, "kind", 0, ns=ESPI_NS)        # electricity
    return path


def _meter_reading(feed, point_path, code, accumulation, blocks):
    """A register's MeterReading, its ReadingType and its IntervalBlock of
    ``blocks``: [(start seconds, duration seconds, value)]."""
    reading_path = f"{point_path}/MeterReading/{code}"
    type_path = f"{point_path}/ReadingType/{code}-{accumulation}"
    content = feed.entry(reading_path, f"{point_path}/MeterReading", f"Register {code}",
                         related=[f"{reading_path}/IntervalBlock", type_path])
    _sub(content, "MeterReading", ns=ESPI_NS)
    content = feed.entry(type_path, f"{point_path}/ReadingType",
                         f"Register {code}: " + ("readings, kWh" if accumulation == BULK
                                                 else "consumption, kWh"))
    reading_type = _sub(content, "ReadingType", ns=ESPI_NS)
    values = {"accumulationBehaviour": accumulation, **READING_TYPE}
    for name in ("accumulationBehaviour", "commodity", "flowDirection", "kind", "phase",
                 "powerOfTenMultiplier", "uom"):
        _sub(reading_type, name, values[name], ns=ESPI_NS)
    if not blocks:
        return
    content = feed.entry(f"{reading_path}/IntervalBlock/1", f"{reading_path}/IntervalBlock",
                         f"Register {code}", related=[type_path])
    block = _sub(content, "IntervalBlock", ns=ESPI_NS)
    start = min(b[0] for b in blocks)
    end = max(b[0] + b[1] for b in blocks)
    interval = _sub(block, "interval", ns=ESPI_NS)
    _sub(interval, "duration", end - start, ns=ESPI_NS)
    _sub(interval, "start", start, ns=ESPI_NS)
    for begins, duration, value in blocks:
        reading = _sub(block, "IntervalReading", ns=ESPI_NS)
        period = _sub(reading, "timePeriod", ns=ESPI_NS)
        _sub(period, "duration", duration, ns=ESPI_NS)
        _sub(period, "start", begins, ns=ESPI_NS)
        _sub(reading, "value", value, ns=ESPI_NS)


PREFIX = "/api/v1/shared/consumption-points"


def points_atom(base, now, points):
    feed = Feed(base, PREFIX, "Consumption points", now)
    for point in points:
        _usage_point(feed, point, PREFIX)
    return feed.root


def readings_atom(base, now, point, readings):
    feed = Feed(base, f"{PREFIX}/{point['id']}/readings", "Meter readings", now)
    path = _usage_point(feed, point, PREFIX)
    for register in point["meter"]["registers"]:
        code = register["code"]
        blocks = [(_seconds(r["reading_date"]), 0, r["registers"][code])
                  for r in readings if code in r["registers"]]
        _meter_reading(feed, path, code, BULK, blocks)
    return feed.root


def consumption_atom(base, now, point, found):
    feed = Feed(base, f"{PREFIX}/{point['id']}/consumption", "Consumption", now)
    path = _usage_point(feed, point, PREFIX)
    for register in point["meter"]["registers"]:
        code = register["code"]
        blocks = []
        for interval in found:
            if code in interval["consumption"]:
                start = _seconds(interval["period_from"])
                blocks.append((start, _seconds(interval["period_to"]) - start,
                               interval["consumption"][code]))
        _meter_reading(feed, path, code, DELTA, blocks)
    return feed.root
