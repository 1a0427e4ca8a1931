#!/usr/bin/env bash
# Normalise a fixture bundle's file modes, rewrite its MANIFEST.sha256 and pack it as a
# reproducible .tar.gz under one top-level folder.
#
# Usage: scripts/pack-fixture.sh [BUNDLE_DIR [TARBALL [TOP_FOLDER]]]
#   BUNDLE_DIR  default: fixtures/old-cluster
#   TARBALL     default: fixtures/old-cluster.tar.gz
#   TOP_FOLDER  default: old-cluster-backup
#
# Key and password files get mode 0600, every other file 0644, directories 0755. Git
# keeps only the x bit, so a fresh checkout has 0644 everywhere: the tarball is where the
# 0600 modes are recorded. Run scripts/make-fixture-snapshot.sh first when config files
# changed (the snapshot holds their bytes).
set -euo pipefail

repo="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
bundle="$(cd "${1:-$repo/fixtures/old-cluster}" && pwd)"
tarball="${2:-$repo/fixtures/old-cluster.tar.gz}"
top="${3:-old-cluster-backup}"

cd "$bundle"

# Modes.
find . -type d -exec chmod 0755 {} +
find . -type f -exec chmod 0644 {} +
find . -type f \( -path '*/auth/priv-*' -o -name 'dsakeys.txt' -o -name '*.key' \
    -o -path '*/etcd/client/*/password' \) -exec chmod 0600 {} +

# Manifest: every file except the manifest itself, sorted bytewise by path.
manifest_tmp="$(mktemp)"
find . -type f ! -path ./MANIFEST.sha256 -printf '%P\n' | LC_ALL=C sort \
    | while IFS= read -r path; do sha256sum -- "$path"; done >"$manifest_tmp"
mv "$manifest_tmp" MANIFEST.sha256
chmod 0644 MANIFEST.sha256
sha256sum --quiet -c MANIFEST.sha256

# Tarball: fixed order, owner, group and mtime, so the archive is byte-reproducible
# (gzip reads from a pipe here, so its header carries no name and no timestamp).
parent="$(dirname "$bundle")"
name="$(basename "$bundle")"
tmp="$tarball.tmp"
tar --sort=name --owner=0 --group=0 --numeric-owner --mtime=@1700000000 \
    --transform "s,^${name},${top}," \
    -C "$parent" -czf "$tmp" "$name"
mv "$tmp" "$tarball"
echo "wrote $bundle/MANIFEST.sha256 ($(wc -l <MANIFEST.sha256) files) and $tarball"
