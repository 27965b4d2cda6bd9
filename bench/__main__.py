"""``python -m bench quality|speed ...``: the benchmarks (see bench/README.md)."""

import sys


def main() -> int:
    commands = {"quality": "bench.quality", "speed": "bench.speed", "accuracy": "bench.accuracy", "filter": "bench.filter", "update": "bench.update", "service": "bench.service", "interrupt": "bench.interrupt", "stress": "bench.stress", "spark": "bench.spark", "tabular": "bench.tabular", "debian": "bench.debian", "misses": "bench.misses"}
    if len(sys.argv) < 2 or sys.argv[1] not in commands:
        print(f"usage: python -m bench {{{'|'.join(commands)}}} [options]  (--help after one for its options)", file=sys.stderr)
        return 2
    import importlib

    return importlib.import_module(commands[sys.argv[1]]).main(sys.argv[2:])


sys.exit(main())
