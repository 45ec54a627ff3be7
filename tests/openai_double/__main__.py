"""Run the double in its own process (bench/): prints its base URL, serves until stdin closes."""

from __future__ import annotations

import argparse
import sys

from tests.openai_double.server import OpenAIDouble


def main() -> None:
    """Serve until the parent closes our stdin."""
    parser = argparse.ArgumentParser(prog="python -m tests.openai_double")
    parser.add_argument("--latency-ms", type=float, default=0.0)
    parser.add_argument("--rate-limit", type=int, default=None, help="requests per second")
    args = parser.parse_args()
    with OpenAIDouble(latency_s=args.latency_ms / 1000, rate_limit_per_s=args.rate_limit) as double:
        print(double.base_url, double.api_key, flush=True)
        sys.stdin.read()
        print(f"requests {double.requests} completions {double.completions} limited {double.limited}", flush=True)


if __name__ == "__main__":
    main()
