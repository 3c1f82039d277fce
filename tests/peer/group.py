#!/usr/bin/env python3
"""librdkafka (confluent-kafka) as a consumer-group peer of the service. Prints one JSON document.

    group.py --brokers HOST:PORT committed --group G --topic T
        (the group's committed offset per partition, as librdkafka's Consumer.committed() sees it)
    group.py --brokers HOST:PORT member --group G --topic T --strategy S --seconds N
        [--commit]
        (joins the group, polls for N seconds; prints the assignment it ended with, how many
         records it read and their ce_id headers; with --commit it commits what it read before
         it leaves, else it commits nothing)
"""
import argparse
import json
import time

from confluent_kafka import Consumer, TopicPartition


def consumer(args, extra=None):
    return Consumer({
        "bootstrap.servers": args.brokers,
        "group.id": args.group,
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
        **(extra or {}),
    })


def committed(args):
    c = consumer(args)
    md = c.list_topics(args.topic, timeout=10)
    parts = sorted(md.topics[args.topic].partitions)
    offsets = c.committed([TopicPartition(args.topic, p) for p in parts], timeout=10)
    c.close()
    return {"offsets": {str(tp.partition): tp.offset for tp in offsets}}


def member(args):
    c = consumer(args, {
        "partition.assignment.strategy": args.strategy,
        "session.timeout.ms": 10000,
        "heartbeat.interval.ms": 1000,
    })
    c.subscribe([args.topic])
    read = 0
    ids = []
    deadline = time.monotonic() + args.seconds
    while time.monotonic() < deadline:
        msg = c.poll(0.2)
        if msg is not None and not msg.error():
            read += 1
            ids += [v.decode() for k, v in (msg.headers() or []) if k == "ce_id"]
    assignment = sorted(tp.partition for tp in c.assignment())
    if args.commit and read:
        c.commit(asynchronous=False)
    c.close()
    return {"assignment": assignment, "read": read, "ids": ids}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--brokers", required=True)
    sub = p.add_subparsers(dest="cmd", required=True)
    co = sub.add_parser("committed")
    co.add_argument("--group", required=True)
    co.add_argument("--topic", required=True)
    me = sub.add_parser("member")
    me.add_argument("--group", required=True)
    me.add_argument("--topic", required=True)
    me.add_argument("--strategy", default="roundrobin")
    me.add_argument("--seconds", type=float, default=20.0)
    me.add_argument("--commit", action="store_true")
    args = p.parse_args()
    print(json.dumps({"committed": committed, "member": member}[args.cmd](args)))


if __name__ == "__main__":
    main()
