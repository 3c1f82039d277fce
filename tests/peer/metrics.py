#!/usr/bin/env python3
"""Parses Prometheus text exposition (0.0.4) from stdin with prometheus_client's own parser
(`prometheus_client.parser.text_string_to_metric_families`), and prints the families as JSON:

    [{"name": ..., "type": ..., "help": ...,
      "samples": [{"name": ..., "labels": {...}, "value": ...}]}]

A line the parser rejects makes this exit non-zero with its error. Non-finite values print as
strings ("inf", "nan"), which JSON has no numbers for.
"""
import json
import math
import sys

from prometheus_client.parser import text_string_to_metric_families


def value(v):
    return v if math.isfinite(v) else str(v)


def main():
    families = []
    for family in text_string_to_metric_families(sys.stdin.read()):
        families.append({
            "name": family.name,
            "type": family.type,
            "help": family.documentation,
            "samples": [
                {"name": s.name, "labels": dict(s.labels), "value": value(s.value)}
                for s in family.samples
            ],
        })
    json.dump(families, sys.stdout)


if __name__ == "__main__":
    main()
