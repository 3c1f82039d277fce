#!/usr/bin/env python3
"""The independent peer: librdkafka 2.x (confluent-kafka) reading and writing our topics from outside.

Every subcommand prints one JSON document on stdout, so Rust tests can parse it.

    peer.py --brokers HOST:PORT list-topics
    peer.py --brokers HOST:PORT wait-ready [--timeout S]
    peer.py --brokers HOST:PORT produce --topic T --count N [--codec C] [--key-prefix P] [--value-size B]
    peer.py --brokers HOST:PORT consume --topic T --expect N [--timeout S]
    peer.py --brokers HOST:PORT consume-json --topic T --expect N [--timeout S]
        (as a JSON-only consumer: json.loads of each value; headers as UTF-8 text)
    peer.py --brokers HOST:PORT produce-raw --topic T < records.jsonl   (one {"key","value","headers"} per line, hex)
    peer.py --brokers HOST:PORT copy --from T --to U --expect N         (same key, value and headers)
    peer.py --brokers HOST:PORT partition --topic T [--topic U...] --partitioner P < keys.jsonl
        (one key a line, a hex JSON string or null; prints librdkafka's partition of each per topic)

Bytes (keys, values, header values) travel as hex in the JSON.
TLS and SASL: --ssl-ca FILE (TLS, brokers verified against FILE) and
--sasl MECHANISM:USER:PASSWORD (PLAIN, SCRAM-SHA-256 or SCRAM-SHA-512) before the subcommand.
"""
import argparse
import json
import sys
import time

from confluent_kafka import Consumer, Producer, TopicPartition
from confluent_kafka.admin import AdminClient

# librdkafka security settings from --ssl-ca / --sasl, merged into every client's config.
SECURITY = {}


def security(ssl_ca, sasl):
    conf = {}
    if sasl:
        mechanism, user, password = sasl.split(":", 2)
        conf.update({"sasl.mechanism": mechanism, "sasl.username": user, "sasl.password": password})
    if ssl_ca:
        conf.update({"ssl.ca.location": ssl_ca})
    if ssl_ca or sasl:
        conf["security.protocol"] = ("SASL_" if sasl else "") + ("SSL" if ssl_ca else "PLAINTEXT")
    return conf


def admin(brokers):
    return AdminClient({**SECURITY, "bootstrap.servers": brokers, "socket.timeout.ms": 5000})


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


def produce(args):
    """Writes COUNT records keyed KEY_PREFIX<i>, partitioned like the Java client (murmur2)."""
    p = Producer({
        **SECURITY,
        "bootstrap.servers": args.brokers,
        "compression.type": args.codec,
        "partitioner": "murmur2_random",
        "linger.ms": 5,
        "enable.idempotence": True,
    })
    delivered, errors = [], []

    def report(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            delivered.append({"key": msg.key().decode(), "partition": msg.partition(), "offset": msg.offset()})

    for i in range(args.count):
        key = f"{args.key_prefix}{i}"
        value = (f"value-{i}-" + "x" * args.value_size)[: max(args.value_size, 1)]
        while True:
            try:
                p.produce(args.topic, key=key, value=value.encode(), headers=[("peer", b"librdkafka")], on_delivery=report)
                break
            except BufferError:
                p.poll(0.1)
        p.poll(0)
    left = p.flush(60)
    return {"delivered": delivered, "errors": errors, "unflushed": left}


def consume(args):
    """Reads every partition from the beginning until EXPECT records arrived or TIMEOUT passed."""
    c = Consumer({
        **SECURITY,
        "bootstrap.servers": args.brokers,
        "group.id": "usercenter-peer",
        "enable.auto.commit": False,
        "auto.offset.reset": "earliest",
    })
    md = c.list_topics(args.topic, timeout=10)
    parts = sorted(md.topics[args.topic].partitions)
    c.assign([TopicPartition(args.topic, p, 0) for p in parts])
    records = []
    deadline = time.monotonic() + args.timeout
    while len(records) < args.expect and time.monotonic() < deadline:
        msg = c.poll(0.5)
        if msg is None:
            continue
        if msg.error():
            print(json.dumps({"error": str(msg.error())}), file=sys.stderr)
            continue
        records.append({
            "partition": msg.partition(),
            "offset": msg.offset(),
            "key": (msg.key() or b"").hex() if msg.key() is not None else None,
            "value": (msg.value() or b"").hex(),
            "headers": {k: (v or b"").hex() for k, v in (msg.headers() or [])},
        })
    c.close()
    return {"records": records}


def consume_json(args):
    """Reads like `consume`, then decodes each value as a consumer that knows only JSON would:
    json.loads, headers as text. Values that are not JSON are listed apart, with the error."""
    events, not_json = [], []
    for r in consume(args)["records"]:
        headers = {k: bytes.fromhex(v).decode("utf-8", "replace") for k, v in r["headers"].items()}
        try:
            value = json.loads(bytes.fromhex(r["value"]))
        except ValueError as e:
            not_json.append({"headers": headers, "error": str(e)})
            continue
        events.append({"partition": r["partition"], "offset": r["offset"], "headers": headers, "value": value})
    return {"events": events, "not_json": not_json}


def _producer(brokers):
    return Producer({**SECURITY, "bootstrap.servers": brokers, "partitioner": "murmur2_random", "linger.ms": 5})


def _flush(p, delivered, errors):
    left = p.flush(60)
    return {"delivered": delivered, "errors": errors, "unflushed": left}


def produce_raw(args):
    """Writes the records given on stdin, in order, with exactly the bytes given."""
    p = _producer(args.brokers)
    delivered, errors = [], []

    def report(err, msg):
        if err is not None:
            errors.append(str(err))
        else:
            delivered.append({"partition": msg.partition(), "offset": msg.offset()})

    for line in sys.stdin:
        if not line.strip():
            continue
        r = json.loads(line)
        key = bytes.fromhex(r["key"]) if r.get("key") is not None else None
        headers = [(k, bytes.fromhex(v)) for k, v in (r.get("headers") or {}).items()]
        p.produce(args.topic, key=key, value=bytes.fromhex(r["value"]), headers=headers, on_delivery=report)
        p.poll(0)
    return _flush(p, delivered, errors)


def copy(args):
    """Reads EXPECT records of FROM and writes them again to TO, key, value and headers as they were."""
    args.topic, args.timeout = args.src, 60.0
    records = consume(args)["records"]
    p = _producer(args.brokers)
    delivered, errors = [], []

    def report(err, msg):
        (errors.append(str(err)) if err is not None else delivered.append(msg.offset()))

    for r in records:
        key = bytes.fromhex(r["key"]) if r["key"] is not None else None
        headers = [(k, bytes.fromhex(v)) for k, v in r["headers"].items()]
        p.produce(args.dst, key=key, value=bytes.fromhex(r["value"]), headers=headers, on_delivery=report)
        p.poll(0)
    out = _flush(p, delivered, errors)
    out["copied"] = len(records)
    return out


def partition(args):
    """Produces one record per key given on stdin to each TOPIC with librdkafka's PARTITIONER and
    reports the partition it chose for each key, in input order (None where delivery failed)."""
    keys = [json.loads(line) for line in sys.stdin if line.strip()]
    keys = [bytes.fromhex(k) if k is not None else None for k in keys]
    p = Producer({**SECURITY, "bootstrap.servers": args.brokers, "partitioner": args.partitioner, "linger.ms": 5})
    partitions = {topic: [None] * len(keys) for topic in args.topic}
    errors = []

    def report(topic, i):
        def on_delivery(err, msg):
            if err is not None:
                errors.append(str(err))
            else:
                partitions[topic][i] = msg.partition()
        return on_delivery

    for topic in args.topic:
        for i, key in enumerate(keys):
            p.produce(topic, key=key, value=b"v", on_delivery=report(topic, i))
            p.poll(0)
    left = p.flush(60)
    return {"partitions": partitions, "errors": errors, "unflushed": left}


def main():
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--brokers", required=True)
    p.add_argument("--ssl-ca", help="TLS: PEM file of the CA that signs the brokers' certificates")
    p.add_argument("--sasl", help="SASL: MECHANISM:USER:PASSWORD")
    sub = p.add_subparsers(dest="cmd", required=True)
    sub.add_parser("list-topics")
    w = sub.add_parser("wait-ready")
    w.add_argument("--timeout", type=float, default=30.0)
    pr = sub.add_parser("produce")
    pr.add_argument("--topic", required=True)
    pr.add_argument("--count", type=int, required=True)
    pr.add_argument("--codec", default="none", choices=["none", "gzip", "snappy", "lz4", "zstd"])
    pr.add_argument("--key-prefix", default="key-")
    pr.add_argument("--value-size", type=int, default=16)
    co = sub.add_parser("consume")
    co.add_argument("--topic", required=True)
    co.add_argument("--expect", type=int, required=True)
    co.add_argument("--timeout", type=float, default=60.0)
    cj = sub.add_parser("consume-json")
    cj.add_argument("--topic", required=True)
    cj.add_argument("--expect", type=int, required=True)
    cj.add_argument("--timeout", type=float, default=60.0)
    raw = sub.add_parser("produce-raw")
    raw.add_argument("--topic", required=True)
    cp = sub.add_parser("copy")
    cp.add_argument("--from", dest="src", required=True)
    cp.add_argument("--to", dest="dst", required=True)
    cp.add_argument("--expect", type=int, required=True)
    pa = sub.add_parser("partition")
    pa.add_argument("--topic", required=True, action="append", help="repeat for several topics")
    pa.add_argument("--partitioner", required=True)
    args = p.parse_args()
    SECURITY.update(security(args.ssl_ca, args.sasl))
    commands = {
        "list-topics": list_topics,
        "wait-ready": wait_ready,
        "produce": produce,
        "consume": consume,
        "consume-json": consume_json,
        "produce-raw": produce_raw,
        "copy": copy,
        "partition": partition,
    }
    out = commands[args.cmd](args)
    print(json.dumps(out))


if __name__ == "__main__":
    main()
