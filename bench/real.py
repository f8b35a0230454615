"""Scenario (b), the real reading flow over RPC.

The five Vool services run as production runs them (see bench/system.py); the
benchmark submits readings through ``metering.submit_reading`` with a fixed
number of concurrent ``ClusterRpcProxy`` clients.
"""
from bench.load import closed_loop
from bench.system import Rotation, measure, metered, running_system, start_proxy


def run(broker, postgres, options, log_dir, say):
    with running_system(broker, postgres, options, log_dir, say, "real") as system:
        say(f"real (b) submit_reading -> charge + reminder: {options.concurrency} clients, "
            f"{options.warmup:g}s warm-up + {options.duration:g}s")
        rotation = Rotation(system.points, system.today)
        meter, spy = metered(system, options)

        def submit(proxy, worker_no):
            taken = rotation.take()
            if taken is None:
                return None
            point, command = taken
            try:
                answer = proxy.metering.submit_reading(command)
            except Exception:
                rotation.failed(point)
                raise
            return rotation.accepted(point, command, answer)

        result = closed_loop(lambda n: start_proxy(system.config),
                             lambda c, n: submit(c[1], n),
                             options.concurrency, options.warmup, options.duration,
                             close_client=lambda c: c[0].stop(),
                             meter=meter)
        return measure(system, broker, postgres, options, say, result, rotation,
                       "(b) real submit_reading->charge+reminder", "b", spy=spy)
