#!/usr/bin/env bash
# The no-Docker path to production-like infrastructure: the local PostgreSQL and
# the Kafka broker assembled from Maven Central jars. Prints the variables to use.
set -euo pipefail
here="$(cd "$(dirname "$0")" && pwd)"
if ! pg_isready -h 127.0.0.1 -p 5432 -q; then
  pg_ctlcluster --skip-systemctl-redirect "$(ls /etc/postgresql)" main start
fi
psql -h 127.0.0.1 -U postgres -tc "SELECT 1 FROM pg_database WHERE datname = 'onestop'" | grep -q 1 \
  || psql -h 127.0.0.1 -U postgres -c 'CREATE DATABASE onestop' >/dev/null
brokers=$(bash "$here/kafka/kafka.sh" start)
echo "export ONESTOP_STORE=postgres DATABASE_URL=postgres://postgres@127.0.0.1:5432/onestop ONESTOP_BUS=kafka ${brokers}"
