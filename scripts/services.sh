# scripts/services.sh - throwaway PostgreSQL, Redis and SMTP sink on loopback.
#
# Sourced by scripts/test (and bench/).  services_start creates everything
# under one temporary directory, on free ports, and exports:
#   TEST_PG_URL     postgresql://auth:...@127.0.0.1:PORT/auth   (admin db for tests)
#   TEST_REDIS_URL  redis://:...@127.0.0.1:PORT/0
# services_stop tears it all down; callers run it from an EXIT trap so it
# happens even when tests fail.  PostgreSQL runs as the unprivileged
# `postgres` user (initdb refuses root).

free_port() {
	/usr/bin/python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1]); s.close()'
}

PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)

services_start() {
	SVC_DIR=$(mktemp -d)
	chmod 755 "$SVC_DIR"
	local pg_port redis_port pg_pw redis_pw
	pg_pw=pg-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')
	redis_pw=rd-$(od -An -N8 -tx1 /dev/urandom | tr -d ' \n')

	# PostgreSQL
	pg_port=$(free_port)
	mkdir -p "$SVC_DIR/pg"
	chown postgres:postgres "$SVC_DIR/pg"
	echo "$pg_pw" >"$SVC_DIR/pg.pw"
	chown postgres "$SVC_DIR/pg.pw"
	runuser -u postgres -- "$PG_BIN/initdb" -D "$SVC_DIR/pg/data" -U auth \
		--pwfile="$SVC_DIR/pg.pw" --auth=scram-sha-256 -E UTF8 >"$SVC_DIR/initdb.log" 2>&1
	runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$SVC_DIR/pg/data" -l "$SVC_DIR/pg/log" -w -t 60 \
		-o "-p $pg_port -k $SVC_DIR/pg -c listen_addresses=127.0.0.1 -c max_connections=300 -c fsync=off" \
		start >/dev/null
	PGPASSWORD=$pg_pw psql -h 127.0.0.1 -p "$pg_port" -U auth -d postgres -qc 'CREATE DATABASE auth' >/dev/null
	export TEST_PG_URL="postgresql://auth:$pg_pw@127.0.0.1:$pg_port/auth"
	export TEST_PG_PORT=$pg_port TEST_PG_DATA="$SVC_DIR/pg/data" TEST_PG_BIN="$PG_BIN"

	# Redis
	redis_port=$(free_port)
	redis-server --port "$redis_port" --bind 127.0.0.1 --requirepass "$redis_pw" \
		--save '' --appendonly no --dir "$SVC_DIR" --daemonize yes \
		--pidfile "$SVC_DIR/redis.pid" --logfile "$SVC_DIR/redis.log"
	for _ in $(seq 100); do
		redis-cli -p "$redis_port" -a "$redis_pw" --no-auth-warning ping 2>/dev/null | grep -q PONG && break
		sleep 0.1 # polling for readiness with a bound, not synchronisation by sleep
	done
	export TEST_REDIS_URL="redis://:$redis_pw@127.0.0.1:$redis_port/0"
	export TEST_REDIS_PORT=$redis_port TEST_REDIS_DIR="$SVC_DIR"
	echo "services: postgresql on 127.0.0.1:$pg_port, redis on 127.0.0.1:$redis_port"
}

services_stop() {
	[ -n "${SVC_DIR:-}" ] || return 0
	if [ -f "$SVC_DIR/pg/data/postmaster.pid" ]; then
		runuser -u postgres -- "$PG_BIN/pg_ctl" -D "$SVC_DIR/pg/data" -m immediate -w stop >/dev/null 2>&1 || true
	fi
	if [ -f "$SVC_DIR/redis.pid" ]; then
		kill "$(cat "$SVC_DIR/redis.pid")" 2>/dev/null || true
	fi
	rm -rf "$SVC_DIR"
	SVC_DIR=
}
