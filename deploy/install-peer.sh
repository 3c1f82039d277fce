#!/usr/bin/env bash
# Installs the independent peer client used by the tests: librdkafka 2.x through the
# confluent-kafka wheel (it bundles librdkafka), plus kafka-python, in a venv in the tools cache;
# and prometheus-client, whose exposition-format parser reads /metrics in tests/metrics.rs.
# Debian's kcat (librdkafka 2.0.2) fails the ApiVersions handshake against Nisshi, so it is not used.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

CONFLUENT_KAFKA_VERSION=2.16.1
KAFKA_PYTHON_VERSION=3.0.12
PROMETHEUS_CLIENT_VERSION=0.26.0
stamp="$PEER_VENV/.installed-$CONFLUENT_KAFKA_VERSION-$KAFKA_PYTHON_VERSION-$PROMETHEUS_CLIENT_VERSION"
if [ -f "$stamp" ] && [ -x "$PEER_PY" ]; then
    exit 0
fi
say "installing the peer client (confluent-kafka $CONFLUENT_KAFKA_VERSION, kafka-python $KAFKA_PYTHON_VERSION, prometheus-client $PROMETHEUS_CLIENT_VERSION) into $PEER_VENV"
mkdir -p "$TOOLS"
python3 -m venv "$PEER_VENV"
"$PEER_PY" -m pip install --quiet --disable-pip-version-check \
    "confluent-kafka==$CONFLUENT_KAFKA_VERSION" "kafka-python==$KAFKA_PYTHON_VERSION" \
    "prometheus-client==$PROMETHEUS_CLIENT_VERSION"
"$PEER_PY" -c 'import confluent_kafka; print("[usercenter] peer librdkafka", confluent_kafka.libversion()[0])' >&2
touch "$stamp"
