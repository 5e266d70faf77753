"""`python -m bench [--large] [--only NAME]`: run the benchmarks and print their figures."""

from __future__ import annotations

import argparse
import importlib
import sys

# Imported only when run: measurements spawn child processes that re-import
# this module, and each child's peak RSS must be its own work, not every
# benchmark's dependencies.
BENCHMARKS = {
    "b1-sync": "bench.b1_full_sync",
    "b2-delta": "bench.b2_delta",
    "b3-list": "bench.b3_device_list",
    "b4-authority": "bench.b4_authority",
    "b5-site": "bench.b5_site_read",
    "b5-directory": "bench.b5_directory",
    "b6-throttled": "bench.b6_throttled",
    "b7-actions": "bench.b7_action_relay",
    "b8-rollout": "bench.b8_rollout_plan",
    "b8-rollout-apply": "bench.b8_rollout_apply",
    "ingest": "bench.cloud_ingest",
}


def main() -> int:
    """Parse arguments and run the selected benchmarks."""
    parser = argparse.ArgumentParser(prog="python -m bench", description=__doc__)
    parser.add_argument("--large", action="store_true", help="also run the 700k-device sizes")
    parser.add_argument(
        "--only", choices=sorted(BENCHMARKS), action="append", help="run only these"
    )
    parser.add_argument(
        "--data-dir", default="data/bench", help="where seeded databases are cached"
    )
    args = parser.parse_args()
    for name in args.only or sorted(BENCHMARKS):
        importlib.import_module(BENCHMARKS[name]).run(large=args.large, data_dir=args.data_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
