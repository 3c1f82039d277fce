#!/usr/bin/env python3
"""The independent peer: librdkafka 2.x (confluent-kafka) reading and writing our topics from outside.

Every subcommand prints one JSON document on stdout, so Rust tests can parse it.

    peer.py --brokers HOST:PORT list-topics
    peer.py --brokers HOST:PORT wait-ready [--timeout S]
"""
import argparse
import json
import sys
import time

from confluent_kafka.admin import AdminClient


def admin(brokers):
    return AdminClient({"bootstrap.servers": brokers, "socket.timeout.ms": 5000})


def list_topics(args):
    md = admin(args.brokers).list_topics(timeout=10)
    topics = {
        name: {"partitions": len(t.partitions), "error": str(t.error) if t.error else None}
        for name, t in md.topics.items()
    }
    return {"brokers": [f"{b.host}:{b.port}" for b in md.brokers.values()], "topics": topics}


def wait_ready(args):
    deadline = time.monotonic() + args.timeout
    last = None
    while time.monotonic() < deadline:
        try:
            md = admin(args.brokers).list_topics(timeout=2)
            if md.brokers:
                return {"ready": True}
        except Exception as e:  # noqa: BLE001 - any failure means "not yet"
            last = str(e)
        time.sleep(0.2)
    print(json.dumps({"ready": False, "error": last}))
    sys.exit(1)


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--brokers", required=True)
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list-topics")
    w = sub.add_parser("wait-ready")
    w.add_argument("--timeout", type=float, default=30.0)
    args = p.parse_args()
    out = {"list-topics": list_topics, "wait-ready": wait_ready}[args.cmd](args)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
