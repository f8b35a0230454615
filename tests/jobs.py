"""Long jobs through the gateway, as operators' clients follow them."""
import time

import requests

FINISHED = ("done", "failed")


def follow(base, headers, job, timeout=30.0, seen=None):
    """GET the job until it is done or failed; returns it then. ``seen`` collects
    each ``(state, done, total)`` on the way."""
    deadline = time.monotonic() + timeout
    while True:
        if seen is not None:
            seen.append((job["state"], job["done"], job["total"]))
        if job["state"] in FINISHED:
            return job
        assert time.monotonic() < deadline, f"job {job['job_id']} still {job['state']}"
        time.sleep(0.05)
        answer = requests.get(f"{base}/api/v1/operator/jobs/{job['job_id']}",
                              headers=headers, timeout=10)
        assert answer.status_code == 200, answer.text
        job = answer.json()


def start_billing_run(base, headers, period):
    started = requests.post(f"{base}/api/v1/operator/jobs/billing-run", headers=headers,
                            timeout=30, json={"period": period})
    assert started.status_code == 202, started.text
    assert started.headers["Location"] == f"/api/v1/operator/jobs/{started.json()['job_id']}"
    return started.json()


def billing_run(base, headers, period, timeout=30.0):
    """Run the billing run of ``period`` as a job to its end: its result."""
    job = follow(base, headers, start_billing_run(base, headers, period), timeout)
    assert job["state"] == "done", job
    return job["result"]
