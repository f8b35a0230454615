"""Tariff plans as the API writes them: a component's ``register`` is read, stored
and named in errors under that name."""
import pytest

from services.billing import api, tariffs
from services.billing.models import metadata
from services.common.errors import ValidationFailed
from services.common.validation import parse
from tests.unit.fakes import FakeDatabase


def test_a_component_per_register_is_stored_with_its_register():
    db = FakeDatabase(metadata, "billing")
    plan = parse(api.TariffPlan, {"code": "NIGHT", "name": "Night", "components": [
        {"kind": "energy", "register": "T2", "price": "0.090000", "valid_from": "2026-01-01"},
        {"kind": "monthly_fee", "price": "2.50", "valid_from": "2026-01-01"}]})
    with db.unit_of_work() as uow:
        saved = tariffs.add_tariff(uow, plan)
    assert [(c["kind"], c["register"], c["price"]) for c in saved["components"]] == [
        ("energy", "T2", "0.090000"), ("monthly_fee", None, "2.500000")]


@pytest.mark.parametrize("component, message", [
    ({"kind": "energy", "register": "T3"}, "components.0.register"),
    ({"kind": "monthly_fee", "register": "T1"}, "a monthly fee is not per register"),
])
def test_a_wrong_register_is_named(component, message):
    with pytest.raises(ValidationFailed) as refused:
        parse(api.TariffPlan, {"code": "X", "components": [
            {**component, "price": "1", "valid_from": "2026-01-01"}]})
    assert message in str(refused.value)
