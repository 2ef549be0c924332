"""Compare two checkouts under the API phase's load, their servers taking turns.

    python -m bench.compare OTHER_CHECKOUT [--endpoints search detail me] [--rounds 3]
                            [--duration 10]

A VM's speed moves by a third within minutes (bench/api_phase.py), so API figures of
two separate `bench/run` calls say little about a change to the request path. This
serves GRP from `OTHER_CHECKOUT` (a `git worktree` of the code before, say) and from
this checkout in turn (ABBA: the other first in odd rounds), round after round, each
under the same wrk load as the API phase (16 clients, the same requests files) on the
bench database of the last `bench/run`, and prints each round's requests per second,
p95, and the CPU time per request of the server's processes and of PostgreSQL's.
Compare the rounds side by side.

The other checkout runs on this checkout's virtual environment (its `grp` package is
put first on `PYTHONPATH`: the editable install would otherwise load this checkout's
code into both servers) and needs the data set of the same schema.
"""

from __future__ import annotations

import grp_boot  # noqa: F401  (first: `grp` must be the GRP package)

import argparse
import json
import tempfile
from pathlib import Path

from bench.api_phase import _process_cpu, cpu_split, request_files, server, wrk
from bench.common import GRP, ROOT, config_from_environment, emit

PORT = 5603


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("other", type=Path, help="the other checkout (its root folder)")
    parser.add_argument("--endpoints", nargs="*", default=["search", "detail", "me"])
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--duration", type=int, default=10)
    args = parser.parse_args()
    other = args.other.resolve()
    if not (other / "grp" / "__init__.py").is_file():
        raise SystemExit(f"{other} is not a GRP checkout")
    config = config_from_environment()
    fixtures = json.loads(config.fixtures_file.read_text())
    checkouts = {"other": other, "this": ROOT}
    results: dict[str, list[dict]] = {}
    with tempfile.TemporaryDirectory(prefix="grp-bench-compare-") as folder:
        files = request_files(fixtures, Path(folder))
        for number in range(1, args.rounds + 1):
            # In turns, the other first in odd rounds and this first in even ones: the
            # VM's speed drifts within minutes, and a fixed order would favour one.
            order = list(checkouts.items())
            for name, checkout in order if number % 2 else order[::-1]:
                env = config.environment(GRP_LOG_LEVEL="INFO", PYTHONPATH=str(checkout))
                command = [GRP, "serve", "--production", "--port", str(PORT)]
                log = config.instance / f"server_compare_{name}.log"
                with server(command, PORT, log, env) as (url, group):
                    for endpoint in args.endpoints:
                        wrk(url, files[endpoint], duration=3, connections=16, threads=2)
                        before = _process_cpu()
                        figures = wrk(
                            url, files[endpoint], duration=args.duration, connections=16, threads=2
                        )
                        used = cpu_split(before, _process_cpu(), group)
                        count = max(1, figures["requests"])
                        row = {
                            "round": number,
                            "checkout": name,
                            "endpoint": endpoint,
                            "per_second": round(figures["per_second"], 1),
                            "p95_ms": round(figures["p95_ms"], 1),
                            "server_cpu_ms": round(used["server"] / count * 1000, 2),
                            "postgresql_cpu_ms": round(used["postgresql"] / count * 1000, 2),
                            "errors": figures["non_2xx"] + figures["socket_errors"],
                        }
                        results.setdefault(endpoint, []).append(row)
                        print(
                            f"round {number} {name:5s} {endpoint:8s} {row['per_second']:7.0f} req/s"
                            f"  p95 {row['p95_ms']:5.1f} ms  CPU per request: server "
                            f"{row['server_cpu_ms']:.2f} ms, PostgreSQL "
                            f"{row['postgresql_cpu_ms']:.2f} ms",
                            flush=True,
                        )
    emit({"other": str(other), "this": str(ROOT), "rounds": results})


if __name__ == "__main__":
    main()
