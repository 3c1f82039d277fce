#!/usr/bin/env bash
# Installs the independent peer client used by the tests: librdkafka 2.x through the
# confluent-kafka wheel (it bundles librdkafka), plus kafka-python, in a venv in the tools cache;
# and prometheus-client, whose exposition-format parser reads /metrics in tests/it/service/metrics.rs.
# Debian's kcat (librdkafka 2.0.2) fails the ApiVersions handshake against Nisshi, so it is not used.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"

CONFLUENT_KAFKA_VERSION=2.16.1
KAFKA_PYTHON_VERSION=3.0.12
PROMETHEUS_CLIENT_VERSION=0.26.0
pip_venv "$PEER_VENV" "$CONFLUENT_KAFKA_VERSION-$KAFKA_PYTHON_VERSION-$PROMETHEUS_CLIENT_VERSION" \
    "confluent-kafka==$CONFLUENT_KAFKA_VERSION" "kafka-python==$KAFKA_PYTHON_VERSION" \
    "prometheus-client==$PROMETHEUS_CLIENT_VERSION"
