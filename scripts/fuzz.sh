#!/bin/bash
# Runs every Go fuzz target for FUZZTIME each (go test -fuzz takes one
# target per run). A failing input is written to the package's
# testdata/fuzz/<target>/ and from then on runs as a regression seed in
# `make unit`; commit it with the fix.
#   scripts/fuzz.sh [package...]     FUZZTIME=5s by default
set -eu
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-5s}
pkgs=("$@")
if [ ${#pkgs[@]} -eq 0 ]; then
	mapfile -t pkgs < <(grep -rl --include='*_test.go' '^func Fuzz' . | xargs -n1 dirname | sort -u)
fi
fail=0
n=0
for pkg in "${pkgs[@]}"; do
	targets=$("$GO" test -list '^Fuzz' "$pkg" | grep '^Fuzz' || true)
	for t in $targets; do
		n=$((n + 1))
		echo "fuzz: $pkg $t for $FUZZTIME"
		if ! "$GO" test -run '^$' -fuzz "^$t\$" -fuzztime "$FUZZTIME" "$pkg" >"${TMPDIR:-/tmp}/bnet-fuzz-$t.log" 2>&1; then
			fail=1
			echo "fuzz: $pkg $t FAILED (input saved under $pkg/testdata/fuzz/$t/):" >&2
			grep -v '^fuzz: elapsed' "${TMPDIR:-/tmp}/bnet-fuzz-$t.log" | tail -30 >&2
		else
			grep '^fuzz: elapsed' "${TMPDIR:-/tmp}/bnet-fuzz-$t.log" | tail -1 | sed "s/^/fuzz: $t: /"
		fi
	done
done
if [ "$n" -eq 0 ]; then
	echo "fuzz: no fuzz targets found" >&2
	exit 1
fi
exit "$fail"
