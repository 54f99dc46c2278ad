"""Replications on a Dask cluster (`compare`/`sweep --cluster tcp://SCHEDULER:PORT`).

The scheduler hands each replication to a worker; every worker needs factory-sim installed
(the same version: a job is a pickled `Job`, run by `factory_cli.simulation.run_job`). The
results are those of a local run for the same seeds: a replication depends only on its
scenario and seed, not on where it runs. Jobs are submitted as workers free up, a few queued
each, as the local pool does, so nothing proportional to the experiment is built up front.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from factory_cli.errors import CliError
from factory_cli.simulation import Job, run_job

CONNECT_TIMEOUT_S = 10  # to reach the scheduler and find at least one worker
SCHEMES = ("tcp", "tls")


def scheduler_address(text: str) -> str:
    """`tcp://HOST:PORT` (or tls://) as given, else a CliError naming --cluster."""
    try:
        parts = urlsplit(text)
        port = parts.port
    except ValueError as error:
        raise CliError(f"--cluster {text}: {error}") from None
    if parts.scheme not in SCHEMES or not parts.hostname or port is None or parts.path:
        raise CliError(f"--cluster {text}: expected tcp://SCHEDULER:PORT, the address of a "
                       "Dask scheduler")
    return text


def run_on_cluster(address: str, jobs: Sequence[Job],
                   on_done: Callable[[int], None] | None = None) -> list[dict]:
    """Every job's `SimulationResult.as_dict()`, in the order of `jobs`, run by the workers
    of the Dask scheduler at `address`; `on_done(count_done)` as jobs finish."""
    try:
        from distributed import Client, as_completed
    except ImportError:
        raise CliError("--cluster: needs Dask distributed "
                       "(pip install 'factory-sim[cluster]')") from None
    scheduler_address(address)
    try:
        client = Client(address, timeout=CONNECT_TIMEOUT_S, set_as_default=False)
    except (OSError, TimeoutError) as error:
        reason = " ".join(str(error).split()) or type(error).__name__
        raise CliError(f"--cluster {address}: no Dask scheduler answered within "
                       f"{CONNECT_TIMEOUT_S} s ({reason[:200]})") from None
    try:
        try:
            client.wait_for_workers(1, timeout=CONNECT_TIMEOUT_S)
        except TimeoutError:
            raise CliError(f"--cluster {address}: the scheduler has no worker") from None
        window = 2 * max(1, len(client.scheduler_info(n_workers=-1)["workers"]))
        results: list[dict | None] = [None] * len(jobs)
        pending = iter(enumerate(jobs))
        running = as_completed(loop=client.loop)
        indices = {}

        def submit(count: int) -> None:
            for _, (index, job) in zip(range(count), pending, strict=False):
                future = client.submit(run_job, job, pure=False)
                indices[future.key] = index
                running.add(future)

        submit(window)
        for done, future in enumerate(running, start=1):
            try:
                results[indices.pop(future.key)] = future.result()
            except Exception as error:  # a worker without factory-sim, a worker lost, ...
                reason = " ".join(str(error).split()) or type(error).__name__
                raise CliError(f"--cluster {address}: a replication failed on the cluster "
                               f"({reason[:200]})", exit_code=1) from None
            if on_done is not None:
                on_done(done)
            submit(1)
        return results
    finally:
        client.close()
