"""Wall time of `factory-sim compare` with replications, serial against parallel.

Runs the command a teacher would run for the documentation's comparison — the four reference levels,
10 paired replications each, 28 simulated days — once with `--jobs 1` (every replication in
this process) and once on one process per available core, and prints both wall times and the
speed-up. The two runs must print the same JSON (the same seeds give the same figures wherever
they run); the benchmark checks that too.

With --attribution, it times instead the attribution of one step (stand-alone -> OPC UA,
`compare --attribute`: the two levels and every mechanism switched alone, N replications each)
on every available core.

With --cluster-workers W, it times the same comparison on a local Dask cluster of W worker
processes (`compare --cluster`) against `--jobs 2`, alternately (--rounds times each), and
checks both print the same figures.

Usage: .venv/bin/python benchmarks/compare_replications.py [--replications N] [--duration D]
       [--attribution | --cluster-workers W [--rounds R]]
Figures depend on the machine and on what else runs on it; say so when you quote them.
"""

from __future__ import annotations

import argparse
import contextlib
import io
import json
import time

from factory_cli.main import main
from factory_cli.simulation import available_cores

LEVELS = ("reference-standalone", "reference-vendor", "reference-opcua", "reference-unified")


def timed_compare(replications: int, duration: str, jobs: int | None, levels=LEVELS,
                  extra: tuple[str, ...] = ()) -> tuple[float, dict]:
    out = io.StringIO()
    start = time.perf_counter()
    placement = [] if jobs is None else ["--jobs", str(jobs)]
    with contextlib.redirect_stdout(out):
        code = main(["compare", *levels, "--replications", str(replications), "--duration",
                     duration, *placement, "--format", "json", "--quiet", *extra])
    elapsed = time.perf_counter() - start
    if code != 0:
        raise SystemExit(f"compare exited with {code}")
    return elapsed, json.loads(out.getvalue())


def main_() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--replications", type=int, default=10)
    parser.add_argument("--duration", default="28d")
    parser.add_argument("--attribution", action="store_true",
                        help="time one step's attribution instead")
    parser.add_argument("--cluster-workers", type=int, metavar="W",
                        help="time `compare --cluster` on W local Dask worker processes "
                        "against --jobs 2 instead")
    parser.add_argument("--rounds", type=int, default=2)
    args = parser.parse_args()
    cores = available_cores()
    if args.cluster_workers:
        cluster_against_jobs(args, cores)
        return
    if args.attribution:
        step = ("reference-standalone", "reference-opcua")
        elapsed, data = timed_compare(args.replications, args.duration, cores, step,
                                      ("--attribute",))
        switches = len(data["attribution"][0]["mechanisms"])
        runs = (len(step) + switches) * args.replications
        print(f"attribution of {step[0]} -> {step[1]}: {switches} switches, "
              f"{args.replications} replications at {args.duration} ({runs} runs), "
              f"{cores} cores: {elapsed:.1f} s")
        return
    runs = len(LEVELS) * args.replications
    print(f"compare of {len(LEVELS)} levels x {args.replications} replications at "
          f"{args.duration} ({runs} runs), {cores} cores available")
    serial, serial_data = timed_compare(args.replications, args.duration, 1)
    print(f"serial (--jobs 1):      {serial:7.1f} s  ({serial / runs:.2f} s per run)")
    parallel, parallel_data = timed_compare(args.replications, args.duration, cores)
    print(f"parallel (--jobs {cores}):   {parallel:7.1f} s")
    print(f"speed-up:               {serial / parallel:7.2f}x on {cores} cores")
    same = serial_data == parallel_data
    print(f"same figures serial and parallel: {'yes' if same else 'NO'}")
    if not same:
        raise SystemExit(1)


def cluster_against_jobs(args: argparse.Namespace, cores: int) -> None:
    from distributed import LocalCluster

    runs = len(LEVELS) * args.replications
    print(f"compare of {len(LEVELS)} levels x {args.replications} replications at "
          f"{args.duration} ({runs} runs), {cores} cores available; alternately "
          f"--jobs 2 and --cluster ({args.cluster_workers} worker processes, 1 thread each)")
    with LocalCluster(n_workers=args.cluster_workers, threads_per_worker=1, processes=True,
                      dashboard_address=None, host="127.0.0.1") as cluster:
        times: dict[str, list[float]] = {"--jobs 2": [], "--cluster": []}
        figures = []
        for _ in range(args.rounds):
            elapsed, data = timed_compare(args.replications, args.duration, 2)
            times["--jobs 2"].append(elapsed)
            figures.append(data)
            elapsed, data = timed_compare(args.replications, args.duration, None,
                                          extra=("--cluster", cluster.scheduler_address))
            times["--cluster"].append(elapsed)
            figures.append(data)
    for name, values in times.items():
        print(f"{name:>10}: " + ", ".join(f"{v:.1f} s" for v in values)
              + f"  (best {min(values):.1f} s)")
    print(f"cluster / jobs 2 (best of each): "
          f"{min(times['--cluster']) / min(times['--jobs 2']):.2f}")
    same = all(data == figures[0] for data in figures)
    print(f"same figures on the cluster and locally: {'yes' if same else 'NO'}")
    if not same:
        raise SystemExit(1)


if __name__ == "__main__":
    main_()
