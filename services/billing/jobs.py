"""billing's long jobs: the billing run and a statement import, each run in the
background by the service's JobRunner (services/common/jobs.py) and recorded
done in the same transaction as its work."""
import hashlib

from services.billing import payments, runs
from services.common import config as cfg
from services.common.errors import ValidationFailed

BILLING_RUN = "billing_run"
STATEMENT_IMPORT = "statement_import"


def run_settings(config):
    """The billing run's settings: ``{due_days, work_mem, chunk}``."""
    return {"due_days": cfg.int_setting(config, "VOOL_INVOICE_DUE_DAYS", 14),
            "work_mem": cfg.setting(config, "VOOL_BILLING_WORK_MEM", runs.RUN_WORK_MEM),
            "chunk": cfg.int_setting(config, "VOOL_BILLING_RUN_CHUNK", runs.RUN_CHUNK)}


def start_billing_run(jobs, clock, period, requested_by):
    first, _ = runs.period_bounds(period)
    if first > clock.today():   # refused now rather than failing as a job
        raise ValidationFailed.field("period", "must not be in the future")
    return jobs.submit(BILLING_RUN, period, {"period": period}, requested_by)


def start_statement_import(jobs, statement_base64, requested_by):
    xml, entries = payments.read_statement(statement_base64)
    return jobs.submit(STATEMENT_IMPORT, hashlib.sha256(xml).hexdigest(),
                       {"statement_base64": statement_base64}, requested_by,
                       total=len(entries))


def billing_run(job):
    settings = run_settings(job.config)
    with job.db.unit_of_work() as uow:
        result = runs.run(uow, job.arguments["period"], settings["due_days"],
                          work_mem=settings["work_mem"], advance=job.progress,
                          chunk=settings["chunk"])
        job.finished(uow.session, result)
    return result


def statement_import(job):
    with job.db.unit_of_work() as uow:
        result = payments.import_statement(uow, job.arguments["statement_base64"],
                                           progress=job.progress)
        job.finished(uow.session, result)
    return result


WORK = {BILLING_RUN: billing_run, STATEMENT_IMPORT: statement_import}
