#!/usr/bin/env bash
# Stops the Kafka broker started by infra/up.sh (the local PostgreSQL is left running).
set -euo pipefail
bash "$(cd "$(dirname "$0")" && pwd)/kafka/kafka.sh" stop
