"""`python -m bench [--large] [--only NAME]`: run the benchmarks and print their figures."""

from __future__ import annotations

import argparse
import sys

from bench import b3_device_list, b5_site_read, cloud_ingest

BENCHMARKS = {
    "b5-site": b5_site_read.run,
    "ingest": cloud_ingest.run,
    "b3-list": b3_device_list.run,
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
        BENCHMARKS[name](large=args.large, data_dir=args.data_dir)
    return 0


if __name__ == "__main__":
    sys.exit(main())
