#!/bin/sh
# The worker's two KV buckets for the nats CLI: the same as
# deploy/nack/keyvalues.yaml and as what the worker creates when
# WORKER_PROVISION=true (internal/lease and internal/ledger BucketConfig).
# Three replicas for a three-node cluster; use --replicas 1 on one server.
set -eu
# Leases: TTL = WORKER_LEASE_TTL (15s); --marker-ttl lets waiters see an
# expiry at once (nats-server 2.11 or later).
nats kv add waba_locks --description "waba-worker leases: one writer per WABA, one sweep at a time" \
	--history 1 --ttl 15s --marker-ttl 15s --storage file --replicas 3
# The ledger: no TTL.
nats kv add waba_state --description "waba-worker ledger: the last known state of every WABA" \
	--history 1 --storage file --replicas 3
