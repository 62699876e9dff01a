#!/usr/bin/env bash
# Build a Sigstore server from its module source with its metrics listener
# moved from ":2112" (hard-coded, every interface) to an ephemeral loopback
# port. timestamp-server v2.1.3 exits when :2112 is taken and rekor-server
# v1.5.3 holds it for its lifetime, so two stacks (two test binaries, or a
# stack and another test's TSA) could not otherwise run side by side, and
# the stack would listen beyond loopback. Nothing else changes.
#
#   hack/sigstack-build-loopback.sh MODULE@VERSION FILE PACKAGE OUTPUT
set -euo pipefail
mod=$1 file=$2 pkg=$3 out=$4
go=${GO:-go}
src=$(GOFLAGS=-mod=mod "$go" mod download -json "$mod" | sed -n 's/^\t"Dir": "\(.*\)",$/\1/p')
[ -d "$src" ] || { echo "module $mod not downloaded" >&2; exit 1; }
work=$(mktemp -d)
trap 'chmod -R u+w "$work"; rm -rf "$work"' EXIT
cp -r "$src/." "$work/"
chmod -R u+w "$work"
grep -q 'Addr: *":2112",' "$work/$file" || { echo "no \":2112\" listener in $mod $file" >&2; exit 1; }
sed -i 's|Addr: *":2112",|Addr: "127.0.0.1:0",|' "$work/$file"
(cd "$work" && GOFLAGS=-mod=readonly "$go" build -trimpath -o "$out.tmp" "./$pkg")
mv "$out.tmp" "$out"
