#!/usr/bin/env bash
# fuzz.sh: run every Go fuzz target of the repository, one after the other, for FUZZTIME each.
#
# The targets are found by grep (every `func FuzzX(` in a _test.go file), so a new one is run
# without being listed anywhere. go test fuzzes one target per invocation:
#   go test -run '^$' -fuzz '^FuzzX$' -fuzztime FUZZTIME ./pkg
# A failing input is written by go test under ./pkg/testdata/fuzz/FuzzX/ (commit it with the
# fix: it is then a seed that every plain `go test` runs). The run goes on past a failure and
# exits 1 at the end, listing the targets that failed.
#
# Settings (environment): FUZZTIME (default 1m, any -fuzztime value: 30s, 10000x), GO (go),
# FUZZ_MATCH (a grep -E pattern over "dir FuzzX" to run some targets only; default all).
set -uo pipefail
cd "$(dirname "$0")/.."
GO=${GO:-go}
FUZZTIME=${FUZZTIME:-1m}
FUZZ_MATCH=${FUZZ_MATCH:-.}

mapfile -t targets < <(grep -rE --include='*_test.go' -o '^func Fuzz[A-Za-z0-9_]*\(' . |
	sed -E 's#^\./(.*)/[^/]+_test\.go:func (Fuzz[A-Za-z0-9_]*)\($#\1 \2#' | sort -u | grep -E -- "$FUZZ_MATCH")
if [ ${#targets[@]} -eq 0 ]; then
	echo "fuzz: no targets" >&2
	exit 1
fi
echo "fuzz: ${#targets[@]} targets, $FUZZTIME each"
failed=()
for t in "${targets[@]}"; do
	dir=${t% *}
	name=${t#* }
	echo "== ./$dir $name"
	start=$SECONDS
	if out=$("$GO" test -run '^$' -fuzz "^${name}\$" -fuzztime "$FUZZTIME" "./$dir" 2>&1); then
		echo "$out" | grep -E '^fuzz: elapsed' | tail -1
		echo "ok ($((SECONDS - start)) s)"
	else
		echo "$out" | tail -40
		echo "FAILED ($((SECONDS - start)) s)"
		failed+=("./$dir $name")
	fi
done
if [ ${#failed[@]} -gt 0 ]; then
	printf 'fuzz: failed: %s\n' "${failed[@]}"
	exit 1
fi
echo "fuzz: all ${#targets[@]} targets passed"
