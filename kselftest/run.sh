#!/bin/bash
# SPDX-License-Identifier: Apache-2.0
# Runs every kselftest here (or those named) and prints TAP.
cd "$(dirname "$0")" || exit 1
tests=("$@")
if [ ${#tests[@]} -eq 0 ]; then
	for t in *.sh; do
		case $t in lib.sh | run.sh | peer.sh) continue ;; esac
		# Tests booting a VM peer (peer.sh) run in `make test-interop`.
		grep -q '^source .*peer\.sh' "$t" && continue
		tests+=("$t")
	done
fi
echo "TAP version 13"
echo "1..${#tests[@]}"
n=0 fail=0 pass=0 skip=0
for t in "${tests[@]}"; do
	n=$((n + 1))
	echo "# === $t"
	start=$(date +%s)
	timeout 300 bash "./$t" 2>&1 | sed 's/^/# /'
	rc=${PIPESTATUS[0]}
	secs=$(($(date +%s) - start))
	case $rc in
	0) echo "ok $n $t # ${secs}s"; pass=$((pass + 1)) ;;
	4) echo "ok $n $t # SKIP"; skip=$((skip + 1)) ;;
	*) echo "not ok $n $t # exit $rc, ${secs}s"; fail=$((fail + 1)) ;;
	esac
done
echo "kselftest: $pass passed, $fail failed, $skip skipped"
[ $fail -eq 0 ]
