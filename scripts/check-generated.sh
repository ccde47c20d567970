#!/bin/bash
# Regenerates the bpf2go output and fails if it differs from what is committed.
set -eu
cd "$(dirname "$0")/.."
go generate ./maps
if ! git diff --quiet -- maps/ 2>/dev/null; then
	echo "generated BPF objects differ from the C sources: run 'make generate' and commit" >&2
	git diff --stat -- maps/ >&2
	exit 1
fi
echo "generated BPF objects match the C sources"
