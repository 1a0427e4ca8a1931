#!/usr/bin/env bash
# Installs what dh-migrate's build, tests and demo need when it is missing:
# Debian etcd-server and etcd-client (a real etcd for tests and the demo),
# protobuf-compiler (etcd-client's build needs protoc), and mariadb-server and
# mariadb-client (a real MariaDB for the backup/restore tests: mariadbd,
# mariadb-install-db, mariadb, mysqldump). Safe to run repeatedly.
set -euo pipefail

missing=()
command -v etcd >/dev/null 2>&1 || missing+=(etcd-server)
command -v etcdctl >/dev/null 2>&1 || missing+=(etcd-client)
command -v protoc >/dev/null 2>&1 || missing+=(protobuf-compiler)
{ [ -x /usr/sbin/mariadbd ] && [ -x /usr/bin/mariadb-install-db ]; } || missing+=(mariadb-server)
{ command -v mariadb >/dev/null 2>&1 && command -v mysqldump >/dev/null 2>&1; } || missing+=(mariadb-client)

if [ ${#missing[@]} -gt 0 ]; then
  echo "installing: ${missing[*]}" >&2
  sudo=""
  if [ "$(id -u)" -ne 0 ]; then sudo="sudo"; fi
  $sudo apt-get update -qq >&2
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >&2
fi
command -v cargo >/dev/null 2>&1 || { echo "cargo is missing: install Rust (rustup) first" >&2; exit 1; }
