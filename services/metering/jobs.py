"""metering's long jobs: a readings import, run in the background by the
service's JobRunner (services/common/jobs.py), progress by CSV rows."""
import hashlib

from services.metering import imports

READINGS_IMPORT = "readings_import"


def start_readings_import(jobs, csv_text, operator):
    imports.read_header(csv_text)    # a file that cannot be imported is refused now
    return jobs.submit(READINGS_IMPORT, hashlib.sha256(csv_text.encode()).hexdigest(),
                       {"csv_text": csv_text, "operator": operator}, operator,
                       total=imports.count_lines(csv_text))


def readings_import(job, window_days, thresholds):
    # each row is its own transaction (one bad row loses nothing else): resumed after
    # a crash, the rows recorded before answer as what they are now
    return imports.import_readings(job.db.unit_of_work, job.arguments["csv_text"],
                                   job.arguments["operator"], window_days, thresholds,
                                   progress=job.progress)
