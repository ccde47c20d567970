#!/bin/bash
# Prints bnet's version for binaries and packages, from git:
#   tag v1.2.3 exactly        -> 1.2.3
#   commits after a tag       -> 1.2.3+git5.abc1234
#   no tag (or shallow clone) -> 0.0.0+git20261204.abc1234 (commit date)
#   no git at all             -> 0.0.0+dev
# Package versions must start with a digit and sort upward, which a bare
# commit hash does not.
set -u
cd "$(dirname "$0")/.." || exit 1
if ! git rev-parse --git-dir >/dev/null 2>&1; then
	echo "0.0.0+dev"
	exit 0
fi
hash=$(git rev-parse --short=7 HEAD 2>/dev/null) || { echo "0.0.0+dev"; exit 0; }
dirty=""
git diff --quiet HEAD -- 2>/dev/null || dirty=".dirty"
if desc=$(git describe --tags --match 'v[0-9]*' --long 2>/dev/null); then
	# v1.2.3-5-gabc1234
	tag=${desc%-*-g*}
	n=${desc#"$tag"-}
	n=${n%%-*}
	if [ "$n" = 0 ] && [ -z "$dirty" ]; then
		echo "${tag#v}"
	else
		echo "${tag#v}+git$n.$hash$dirty"
	fi
	exit 0
fi
echo "0.0.0+git$(git log -1 --format=%cd --date=format:%Y%m%d 2>/dev/null || echo 0).$hash$dirty"
