#!/usr/bin/env bash
# Runs the tests of one Meson build tree and counts their TAP results.
#
#   scripts/run-tests.sh [options] BUILD_DIR [LABEL]
#     -t GLOB        run only the tests whose name matches GLOB (repeatable),
#                    e.g. -t unit/csv or -t 'cli/*'
#     -j N           run up to N tests at once (default: number of cores;
#                    tests declared is_parallel: false always run alone)
#     -m N           multiply every test's timeout by N (integer; sanitizer trees)
#     --totals FILE  append "PASSED FAILED SKIPPED" to FILE for a caller to add up
#     --logs DIR     keep each test's stdout/stderr there (default BUILD_DIR/test-logs)
#
# The test list (command, environment, working directory, timeout) comes from
# `meson introspect BUILD_DIR --tests`; the tree must be built already. Meson's
# own harness is not used. Counting, per TAP case:
#   ok N / not ok N             one pass / one failure
#   ... # SKIP / not ok # TODO   one skip
#   1..0 # SKIP, or exit 77      the whole test counts as one skip
#   plus one failure for a test that exits non-zero without any "not ok",
#   dies of a signal, times out, bails out, has no plan, or prints fewer (or
#   more) results than its plans announce.
# Tests with protocol "exitcode" count as one result: 0 pass, 77 skip, else fail.
# Exit status: 0 when nothing failed, 1 when something did, 2 on usage errors.
set -uo pipefail
export LC_NUMERIC=C # $EPOCHREALTIME with a decimal point, for awk

usage() {
	sed -n '2,13p' "$0" | sed 's/^# \{0,1\}//' >&2
	exit 2
}

jobs=$(nproc 2>/dev/null || echo 2)
mult=1
totals=
logs=
filters=()
args=()
while [ $# -gt 0 ]; do
	case "$1" in
	-t) filters+=("${2:?}"); shift 2 ;;
	-j) jobs=${2:?}; shift 2 ;;
	-m) mult=${2:?}; shift 2 ;;
	--totals) totals=${2:?}; shift 2 ;;
	--logs) logs=${2:?}; shift 2 ;;
	-h | --help) usage ;;
	-*) echo "run-tests: unknown option $1" >&2; usage ;;
	*) args+=("$1"); shift ;;
	esac
done
set -- "${args[@]}"
[ $# -ge 1 ] && [ $# -le 2 ] || usage
build=$(cd "$1" 2>/dev/null && pwd) || { echo "run-tests: no such directory: $1" >&2; exit 2; }
label=${2:-$(basename "$build")}
case "$jobs$mult" in *[!0-9]*) echo "run-tests: -j and -m take integers" >&2; exit 2 ;; esac
[ "$jobs" -ge 1 ] || jobs=1

# What a run counts, kept even when the test list cannot be read.
n_pass=0 n_fail=0 n_skip=0
finish() {
	if [ -n "$totals" ]; then
		echo "$n_pass $n_fail $n_skip" >>"$totals"
	fi
	local line="$n_pass passed, $n_fail failed"
	[ "$n_skip" -gt 0 ] && line+=", $n_skip skipped"
	echo "$label: $line"
	[ "$n_fail" -eq 0 ]
	exit
}

json=$(meson introspect "$build" --tests 2>&1)
if [ $? -ne 0 ] || ! jq -e 'type == "array"' >/dev/null 2>&1 <<<"$json"; then
	echo "FAIL $label: cannot read the test list of $build (is it a configured Meson tree?)"
	printf '%s\n' "$json" | tail -n 20
	n_fail=1
	finish
fi

logs=${logs:-$build/test-logs}
rm -rf "$logs"
mkdir -p "$logs" || exit 2
failures="$logs/failures.txt"
: >"$failures"

# One row per test; the command and environment go to
# NUL-separated files so that any byte survives.
names=() timeouts=() workdirs=() parallel=() protocols=()
count=$(jq length <<<"$json")
selected=()
for ((i = 0; i < count; i++)); do
	# Fields joined by ASCII unit separators: tabs would merge an empty field.
	IFS=$'\x1f' read -r name tmo wd par proto < <(jq -r ".[$i] | [.name, (.timeout // 0 | tostring),
		(.workdir // \"\"), (.is_parallel | tostring), (.protocol // \"exitcode\")]
		| join(\"\u001f\")" <<<"$json")
	if [ ${#filters[@]} -gt 0 ]; then
		keep=0
		for f in "${filters[@]}"; do
			# shellcheck disable=SC2053 # GLOB is a pattern on purpose
			[[ $name == $f ]] && keep=1
		done
		[ $keep -eq 1 ] || continue
	fi
	names[i]=$name timeouts[i]=$tmo workdirs[i]=${wd:-$build} parallel[i]=$par protocols[i]=$proto
	jq -j ".[$i].cmd[] | (., \"\u0000\")" <<<"$json" >"$logs/$i.cmd"
	jq -j ".[$i].env // {} | to_entries[] | (\"\(.key)=\(.value)\", \"\u0000\")" <<<"$json" >"$logs/$i.env"
	selected+=("$i")
done
if [ ${#selected[@]} -eq 0 ]; then
	echo "FAIL $label: no test matched (of $count in $build)"
	n_fail=1
	finish
fi

# glibc fills fresh and freed memory with this byte (as `meson test` does), so
# reads of uninitialised memory show up as wrong values instead of zeros.
export MALLOC_PERTURB_=${MALLOC_PERTURB_:-$((RANDOM % 255 + 1))}
echo "running ${#selected[@]} tests of $build ($label), $jobs at a time, MALLOC_PERTURB_=$MALLOC_PERTURB_"

# run_one I: runs test I under timeout(1) in its own process group, stdin
# closed; leaves I.out, I.err, I.rc and I.secs in $logs.
run_one() {
	local i=$1 cmd=() env=() t=$((${timeouts[$1]} * mult))
	mapfile -d '' cmd <"$logs/$i.cmd"
	mapfile -d '' env <"$logs/$i.env"
	local t0=$EPOCHREALTIME
	(cd "${workdirs[i]}" && exec env "${env[@]}" timeout -k 10 "$t" "${cmd[@]}") \
		</dev/null >"$logs/$i.out" 2>"$logs/$i.err" &
	echo $! >"$logs/$i.pid"
	wait $!
	local rc=$?
	local t1=$EPOCHREALTIME
	echo "$rc" >"$logs/$i.rc"
	awk -v a="$t0" -v b="$t1" 'BEGIN { printf "%.2f\n", b - a }' >"$logs/$i.secs"
}

# tap_count FILE: prints "plan plans results pass fail skip bail" for the TAP
# on FILE's lines and writes the failing cases with their diagnostics to
# FILE.failing. Only results at the start of a line count (no subtests).
tap_count() {
	awk -v failing="$1.failing" '
	BEGIN { plan = 0; plans = 0; res = 0; pass = 0; fail = 0; skip = 0; bail = 0; diag = 0 }
	/^1\.\.[0-9]+/ {
		n = substr($0, 4); sub(/[^0-9].*$/, "", n)
		plan += n; plans++; diag = 0; next
	}
	/^Bail out!/ { bail = 1; print > failing; diag = 0; next }
	/^(not )?ok([ \t]|$)/ {
		res++; diag = 0
		isnot = ($0 ~ /^not ok/)
		directive = ""
		p = index($0, "#")
		if (p > 0) {
			d = toupper(substr($0, p + 1)); sub(/^[ \t]+/, "", d)
			if (d ~ /^SKIP/) directive = "skip"
			else if (d ~ /^TODO/) directive = "todo"
		}
		if (directive == "skip" || (directive == "todo" && isnot)) skip++
		else if (isnot) { fail++; print > failing; diag = 20 }
		else pass++
		next
	}
	diag > 0 && /^(#|[ \t])/ { print "    " $0 > failing; diag--; next }
	{ diag = 0 }
	END { print plan, plans, res, pass, fail, skip, bail }' "$1"
}

signame() {
	kill -l "$1" 2>/dev/null || echo "?"
}

# report I: counts test I's results, prints its one-line verdict and, for a
# failure, appends the details to $failures.
report() {
	local i=$1 name=${names[$1]} rc secs plan plans res pass fail skip bail
	rc=$(cat "$logs/$i.rc")
	secs=$(cat "$logs/$i.secs")
	read -r plan plans res pass fail skip bail < <(tap_count "$logs/$i.out")
	local reasons=()
	if [ "$rc" -eq 77 ]; then
		pass=0 fail=0 skip=1
	elif [ "${protocols[i]}" != tap ]; then
		pass=0 fail=0 skip=0
		if [ "$rc" -eq 0 ]; then pass=1; else fail=1; fi
		[ "$rc" -ne 0 ] && reasons+=("exit status $rc")
	else
		if [ "$rc" -eq 124 ]; then
			reasons+=("timed out after $((${timeouts[i]} * mult)) s")
		elif [ "$rc" -gt 128 ]; then
			reasons+=("killed by signal $((rc - 128)) (SIG$(signame $((rc - 128))))")
		elif [ "$rc" -ne 0 ] && [ "$fail" -eq 0 ]; then
			reasons+=("exit status $rc without a failing TAP result")
		fi
		[ "$bail" -eq 1 ] && reasons+=("bailed out")
		if [ "$plans" -eq 0 ]; then
			if [ "$res" -eq 0 ]; then reasons+=("no TAP output"); else reasons+=("no TAP plan"); fi
		elif [ "$res" -lt "$plan" ]; then
			reasons+=("only $res of $plan planned results")
		elif [ "$res" -gt "$plan" ]; then
			reasons+=("$res results but the plan says $plan")
		elif [ "$plan" -eq 0 ] && [ ${#reasons[@]} -eq 0 ]; then
			skip=1 # 1..0: nothing to run here
		fi
		[ ${#reasons[@]} -gt 0 ] && fail=$((fail + 1))
	fi
	n_pass=$((n_pass + pass)) n_fail=$((n_fail + fail)) n_skip=$((n_skip + skip))

	local verdict=PASS
	if [ "$fail" -gt 0 ]; then
		verdict=FAIL
	elif [ "$pass" -eq 0 ]; then
		verdict=SKIP
	fi
	printf '%s %-28s %3d passed, %d failed, %d skipped  (%ss)\n' \
		"$verdict" "$name" "$pass" "$fail" "$skip" "$secs"
	[ "$verdict" = FAIL ] || return 0

	{
		echo "---- FAIL $label: $name ----"
		local r
		for r in "${reasons[@]}"; do echo "reason: $r"; done
		if [ -s "$logs/$i.out.failing" ]; then
			echo "failing cases:"
			sed 's/^/  /' "$logs/$i.out.failing"
		fi
		local cmd=() env=()
		mapfile -d '' cmd <"$logs/$i.cmd"
		mapfile -d '' env <"$logs/$i.env"
		printf 'command: cd %q && env' "${workdirs[i]}"
		printf ' %q' "${env[@]}" "${cmd[@]}"
		echo
		local f n
		for f in out err; do
			n=$(wc -l <"$logs/$i.$f")
			if [ "$n" -gt 300 ]; then
				echo "--- std$f (last 300 of $n lines; all in $logs/$i.$f) ---"
				tail -n 300 "$logs/$i.$f"
			else
				echo "--- std$f ---"
				cat "$logs/$i.$f"
			fi
		done
		echo
	} >>"$failures"
}

declare -A pid2idx=()
on_signal() {
	local pid i
	for pid in "${!pid2idx[@]}"; do
		i=${pid2idx[$pid]}
		# timeout(1) leads its own process group: end the test and its children.
		[ -f "$logs/$i.pid" ] && kill -TERM -- "-$(cat "$logs/$i.pid")" 2>/dev/null
	done
	wait
	echo "run-tests: interrupted" >&2
	exit 130
}
trap on_signal INT TERM

wait_one() {
	local done_pid
	wait -n -p done_pid "${!pid2idx[@]}"
	report "${pid2idx[$done_pid]}"
	unset "pid2idx[$done_pid]"
}
wait_all() {
	while [ ${#pid2idx[@]} -gt 0 ]; do wait_one; done
}

for i in "${selected[@]}"; do
	if [ "${parallel[i]}" != true ]; then
		wait_all
		run_one "$i" &
		pid2idx[$!]=$i
		wait_all
		continue
	fi
	while [ ${#pid2idx[@]} -ge "$jobs" ]; do wait_one; done
	run_one "$i" &
	pid2idx[$!]=$i
done
wait_all

if [ -s "$failures" ]; then
	echo
	cat "$failures"
fi
finish
