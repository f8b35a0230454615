"""A service that cannot reach its database (PostgreSQL restarting) is
unavailable for now: the gateway answers 503, which clients retry, not 500."""
import json

from nameko.exceptions import RemoteError

from services.gateway.problems import problem_from_exception


def test_a_database_out_of_reach_is_a_503_not_a_500():
    exc = RemoteError("OperationalError", "(psycopg2.OperationalError) Connection refused")
    response = problem_from_exception(exc)
    assert response.status_code == 503
    body = json.loads(response.get_data())
    assert body["type"] == "/problems/service-unavailable"
    assert "Connection refused" not in body["detail"]       # no internals to the client


def test_any_other_failure_of_a_service_stays_a_500():
    response = problem_from_exception(RemoteError("KeyError", "'reply_to'"))
    assert response.status_code == 500
