#!/usr/bin/env python3
"""librdkafka's side of the `perf produce` comparison (docs/performance.md, "Produce"): N
records of S bytes through confluent-kafka's Producer with the settings ours runs with, then
one summary line in `usercenter perf produce`'s format.

    perf_produce.py --brokers HOST:PORT --topic T --records N --record-size S --partitions P
        [--codec none|snappy|...] [--linger-ms 5] [--idempotence true|false] [--headers]

acks=all, enable.idempotence as given (max.in.flight 5, librdkafka's limit with idempotence),
unkeyed records (sticky partitioning, as `perf produce --keys 0`). The topic is created with P
partitions when missing. --headers adds three headers per record the size of ours (ce_producerid,
ce_sequence, ce_id). CPU is getrusage(RUSAGE_SELF): librdkafka's threads plus the Python loop
that calls produce() once per record, so it overstates librdkafka's own cost.
"""
import argparse
import resource
import sys
import time
import uuid

from confluent_kafka import KafkaException, Producer
from confluent_kafka.admin import AdminClient, NewTopic


def cpu_seconds():
    r = resource.getrusage(resource.RUSAGE_SELF)
    return r.ru_utime + r.ru_stime


def ensure_topic(brokers, topic, partitions):
    admin = AdminClient({"bootstrap.servers": brokers})
    if topic in admin.list_topics(timeout=10).topics:
        return
    for f in admin.create_topics([NewTopic(topic, partitions, 1)]).values():
        try:
            f.result()
        except KafkaException as e:
            if "TOPIC_ALREADY_EXISTS" not in str(e):
                raise


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--brokers", required=True)
    p.add_argument("--topic", required=True)
    p.add_argument("--records", type=int, default=1_000_000)
    p.add_argument("--record-size", type=int, default=100)
    p.add_argument("--partitions", type=int, default=1)
    p.add_argument("--codec", default="none")
    p.add_argument("--linger-ms", type=int, default=5)
    p.add_argument("--idempotence", default="true", choices=["true", "false"])
    p.add_argument("--headers", action="store_true")
    args = p.parse_args()
    ensure_topic(args.brokers, args.topic, args.partitions)
    producer = Producer({
        "bootstrap.servers": args.brokers,
        "acks": "all",
        "enable.idempotence": args.idempotence == "true",
        "max.in.flight.requests.per.connection": 5,
        "linger.ms": args.linger_ms,
        "batch.size": 1 << 20,
        "compression.codec": args.codec,
        "queue.buffering.max.messages": 1_000_000,
        "queue.buffering.max.kbytes": 1 << 20,
        # A Python callback per acknowledged record would cost more than librdkafka itself.
        "delivery.report.only.error": True,
    })
    errors = [0]

    def report(err, _msg):
        if err is not None:
            errors[0] += 1

    value = b"x" * args.record_size
    pid = (uuid.uuid4().int >> 65).to_bytes(8, "big")
    cpu0, t0 = cpu_seconds(), time.monotonic()
    for i in range(args.records):
        headers = None
        if args.headers:
            headers = [("ce_producerid", pid), ("ce_sequence", i.to_bytes(8, "big")),
                       ("ce_id", uuid.uuid4().bytes)]
        while True:
            try:
                producer.produce(args.topic, value, headers=headers, on_delivery=report)
                break
            except BufferError:
                producer.poll(0.001)
        if i % 1024 == 0:
            producer.poll(0)
    left = producer.flush(300)
    seconds = time.monotonic() - t0
    cpu = cpu_seconds() - cpu0
    # Only failures are reported: what is neither failed nor still queued was acknowledged.
    n = args.records - errors[0] - left
    print(f"records={n} errors={errors[0]} records_per_s={n / seconds:.0f} "
          f"mb_per_s={n * args.record_size / 1e6 / seconds:.2f} cpu_s={cpu:.2f} "
          f"cpu_s_per_million={cpu / max(n, 1) * 1e6:.2f}")
    return 0 if errors[0] == 0 and n == args.records else 1


if __name__ == "__main__":
    sys.exit(main())
