"""The demo that `make run` loads into an empty database: the seed's story.

Õie Mäger, a grandmother, has an apartment in Tallinn and a house in Rapla on
her contracts. The summer cottage on Saaremaa is still recorded under her late
husband Jaan's customer record, waiting for her to claim it. Her grandchild Mari
has a contract of her own in Tartu. The test bank offers all of them.
"""
import sqlalchemy as sa

from services.common.validation import parse
from services.contracts import signing
from services.contracts.api import SignContract
from services.contracts.models import customers

GRANDMOTHER = "44903136520"
GRANDCHILD = "60507120130"
LATE_HUSBAND = "34508171237"

DEMO_CONTRACTS = [
    {"person_code": GRANDMOTHER, "name": "Õie Mäger",
     "contact": {"postal_address": "Pärnu mnt 10-5, 10148 Tallinn", "phone": "+37255512345",
                 "email": "oie.mager@example.ee", "language": "et"},
     "consumption_point": {"eic": "38ZEE-00001001-W", "address": "Pärnu mnt 10-5, Tallinn",
                           "meter": {"serial": "TLN-448811", "registers": [
                               {"code": "T1", "digits": 6}, {"code": "T2", "digits": 6}]}},
     "tariff_plan": "DAYNIGHT", "reading_day": 15, "start_date": "2025-01-01",
     "initial_readings": {"T1": 12034, "T2": 8020}, "signed_at_office": "Tallinn"},
    {"person_code": GRANDMOTHER, "name": "Õie Mäger",
     "consumption_point": {"eic": "38ZEE-00001002-T", "address": "Tallinna 7, Rapla",
                           "meter": {"serial": "RPL-220031", "registers": [
                               {"code": "T1", "digits": 5}]}},
     "tariff_plan": "BASIC", "reading_day": 15, "start_date": "2025-01-01",
     "initial_readings": {"T1": 45210}, "signed_at_office": "Rapla"},
    {"person_code": LATE_HUSBAND, "name": "Jaan Mäger",
     "contact": {"postal_address": "Kuressaare mnt 3, Saaremaa", "language": "et"},
     "consumption_point": {"eic": "38ZEE-00001003-Q", "address": "Männiku talu, Saaremaa",
                           "meter": {"serial": "SRM-009912", "registers": [
                               {"code": "T1", "digits": 5}]}},
     "tariff_plan": "BASIC", "reading_day": 1, "start_date": "2019-05-01",
     "initial_readings": {"T1": 3120}, "signed_at_office": "Kuressaare"},
    {"person_code": GRANDCHILD, "name": "Mari Mäger",
     "contact": {"postal_address": "Riia 15-2, 51010 Tartu", "phone": "+37256667788",
                 "email": "mari.mager@example.ee", "language": "en"},
     "consumption_point": {"eic": "38ZEE-00001004-N", "address": "Riia 15-2, Tartu",
                           "meter": {"serial": "TRT-771201", "registers": [
                               {"code": "T1", "digits": 6}]}},
     "tariff_plan": "BASIC", "reading_day": 20, "start_date": "2025-09-01",
     "initial_readings": {"T1": 1500}, "signed_at_office": "Tartu"},
]


def load_demo(uow):
    """Sign the demo's contracts, unless the database already has customers.

    returns the contracts signed ([] when the database was not empty).
    """
    if uow.session.execute(sa.select(sa.func.count()).select_from(customers)).scalar():
        return []
    return [signing.sign_contract(uow, parse(SignContract, command))
            for command in DEMO_CONTRACTS]
