#!/usr/bin/env bash
# The whole test run (`make check`, and CI through .ci/run). Works from a fresh
# clone on a fresh Debian 12 machine, as root or as a normal user:
#   1. installs the packages (scripts/install-deps.sh --check)
#   2. checks formatting (scripts/format-check.sh)                  1 test
#   3. builds three trees: build (gcc, -Dwerror=true), build-san (gcc, ASan +
#      UBSan, non-recovering), build-fuzz (clang, libFuzzer, ASan + UBSan)
#   4. starts a private PostgreSQL on 127.0.0.1 (BL_TEST_PG)
#   5. runs the tests of build and build-san (scripts/run-tests.sh)  per TAP case
#   6. runs each fuzz harness for FUZZ_SECONDS (default 30)          1 test each
#   7. stops PostgreSQL and removes its data, also on failure or interrupt
# The last line of output is "N passed, N failed[, N skipped]"; the exit
# status is non-zero when anything failed, a failed build or server start
# included. Scratch state lives in .check/ (git-ignored).
# Environment: FUZZ_SECONDS, BL_TEST_JOBS (tests run at once, default: cores).
set -uo pipefail
export LC_NUMERIC=C # $EPOCHREALTIME with a decimal point, for awk

# shellcheck source=scripts/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
cd "$BL_ROOT" || exit 1

FUZZ_SECONDS=${FUZZ_SECONDS:-30}
JOBS=${BL_TEST_JOBS:-$(nproc 2>/dev/null || echo 2)}
STATE=$BL_ROOT/.check
LOGS=$STATE/logs
mkdir -p "$STATE" && rm -rf "$LOGS" && mkdir -p "$LOGS" || exit 1
TOTALS=$LOGS/totals
: >"$TOTALS"

n_pass=0 n_fail=0 n_skip=0
stage_name=
problems=()     # one line per failed stage or test, recapped at the end
stage_names=() stage_secs=() stage_results=()
stage_t0=

# stage NAME: starts timing a stage; stage_end RESULT records it.
stage() {
	stage_name=$1
	stage_t0=$EPOCHREALTIME
	printf '\n==> %s\n' "$1"
}
stage_end() {
	local secs
	secs=$(awk -v a="$stage_t0" -v b="$EPOCHREALTIME" 'BEGIN { printf "%.1f", b - a }')
	stage_names+=("$stage_name") stage_secs+=("$secs") stage_results+=("$1")
	echo "    ($stage_name: $1, ${secs}s)"
	stage_name=
}
# problem TEXT: one failure that is not a TAP case (a build, the server, a harness).
problem() {
	problems+=("$1")
	n_fail=$((n_fail + 1))
	echo "FAIL: $1"
}

summary() {
	local i line
	printf '\n==> summary\n'
	for i in "${!stage_names[@]}"; do
		printf '    %-24s %8ss  %s\n' "${stage_names[i]}" "${stage_secs[i]}" "${stage_results[i]}"
	done
	printf '    %-24s %8ss\n' total "$SECONDS"
	if [ ${#problems[@]} -gt 0 ]; then
		echo "failed:"
		printf '    %s\n' "${problems[@]}"
	fi
	line="$n_pass passed, $n_fail failed"
	[ "$n_skip" -gt 0 ] && line+=", $n_skip skipped"
	echo "$line"
}

# ---------------------------------------------------------------- PostgreSQL

PG_DIR='' PG_BIN='' PG_PORT=''
as_pg() {
	if [ "$(id -u)" -eq 0 ]; then
		(cd / && runuser -u postgres -- "$@")
	else
		"$@"
	fi
}

pg_stop() {
	[ -n "$PG_DIR" ] || return 0
	if [ -f "$PG_DIR/data/postmaster.pid" ]; then
		as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DIR/data" -m fast -w -t 30 >/dev/null 2>&1 ||
			as_pg "$PG_BIN/pg_ctl" stop -D "$PG_DIR/data" -m immediate -w -t 30 >/dev/null 2>&1
	fi
	rm -rf "$PG_DIR"
	PG_DIR=
}

# A port nobody listens on, below Linux's ephemeral range (32768-60999).
free_port() {
	local port used
	used=$(ss -Htln 2>/dev/null | awk '{ n = split($4, a, ":"); print a[n] }')
	while :; do
		port=$((20000 + RANDOM % 12000))
		grep -qxF "$port" <<<"$used" || break
	done
	echo "$port"
}

# pg_start: initdb + start a throwaway cluster (trust auth, loopback only,
# socket in its own directory, no fsync), then sets PG_PORT. Run as the
# postgres user when we are root: the server refuses to run as root.
pg_start() {
	PG_BIN=$(ls -d /usr/lib/postgresql/*/bin 2>/dev/null | sort -V | tail -n 1)
	if [ -z "$PG_BIN" ] || [ ! -x "$PG_BIN/initdb" ]; then
		echo "no PostgreSQL server binaries under /usr/lib/postgresql (package postgresql)"
		return 1
	fi
	echo "server: $PG_BIN"

	# Leftovers of an interrupted run (a kill -9 skips the trap).
	if [ -f "$STATE/pg/data/postmaster.pid" ]; then
		PG_DIR=$STATE/pg
		pg_stop
	fi
	rm -rf "$STATE/pg"

	# The data directory lives under the repo unless the postgres user cannot
	# reach it there (a clone under a private home) or the socket path would
	# be too long (108 bytes); then under /tmp.
	PG_DIR=$STATE/pg
	mkdir -p "$PG_DIR"
	[ "$(id -u)" -eq 0 ] && chown postgres: "$PG_DIR"
	if ! as_pg test -w "$PG_DIR" || [ ${#PG_DIR} -gt 80 ]; then
		rm -rf "$PG_DIR"
		PG_DIR=$(mktemp -d /tmp/bulletin-pg.XXXXXX) || return 1
		[ "$(id -u)" -eq 0 ] && chown postgres: "$PG_DIR"
	fi
	echo "data: $PG_DIR"

	if ! as_pg "$PG_BIN/initdb" -D "$PG_DIR/data" -U bulletin -A trust -E UTF8 --no-locale \
		>"$PG_DIR/initdb.log" 2>&1; then
		cat "$PG_DIR/initdb.log"
		return 1
	fi
	# One line: pg_ctl hands -o to a shell. Durability is not needed here.
	local try PG_FAST="-c fsync=off -c synchronous_commit=off -c full_page_writes=off"
	for try in 1 2 3 4 5; do
		PG_PORT=$(free_port)
		if as_pg "$PG_BIN/pg_ctl" start -D "$PG_DIR/data" -l "$PG_DIR/server.log" -w -t 60 \
			-o "-c listen_addresses=127.0.0.1 -p $PG_PORT -k '$PG_DIR' $PG_FAST" \
			>/dev/null 2>&1; then
			echo "listening on 127.0.0.1:$PG_PORT"
			return 0
		fi
		echo "start on port $PG_PORT failed (try $try):"
		tail -n 5 "$PG_DIR/server.log"
	done
	return 1
}

# pg_createdb NAME: a fresh database; prints its URI.
pg_createdb() {
	as_pg "$PG_BIN/createdb" -h 127.0.0.1 -p "$PG_PORT" -U bulletin "$1" >&2 || return
	echo "postgresql://bulletin@127.0.0.1:$PG_PORT/$1"
}

# run_bg CMD...: runs CMD in the background and waits for it, so that an
# interrupt reaches our traps at once (bash defers traps while a foreground
# command runs, and the tests and fuzzers sit in process groups of their own,
# out of reach of the terminal's Ctrl-C). Returns CMD's exit status.
CHILD=
run_bg() {
	"$@" &
	CHILD=$!
	wait "$CHILD"
	local rc=$?
	CHILD=
	return $rc
}

cleanup() {
	if [ -n "$CHILD" ]; then
		# A test runner ends its tests itself; a fuzzer runs under timeout(1),
		# which leads its own process group.
		kill -TERM -- "-$CHILD" 2>/dev/null || kill -TERM "$CHILD" 2>/dev/null
		wait "$CHILD" 2>/dev/null
	fi
	if [ -n "$PG_DIR" ]; then
		echo "==> stopping PostgreSQL"
		pg_stop
	fi
}
# interrupted SIGNAL: counts the interruption as a failure, cleans up and
# still ends with the summary line.
interrupted() {
	trap - INT TERM
	echo
	problem "interrupted by SIG$1${stage_name:+ during \"$stage_name\"}"
	cleanup
	summary
	trap - EXIT
	[ "$1" = INT ] && exit 130
	exit 143
}
trap cleanup EXIT
trap 'interrupted INT' INT
trap 'interrupted TERM' TERM

# ---------------------------------------------------------------- stages

stage "install packages"
if ! scripts/install-deps.sh --check; then
	problem "install-deps: could not install the packages (see above)"
	stage_end failed
	summary
	exit 1
fi
stage_end ok

stage "format check"
if scripts/format-check.sh; then
	n_pass=$((n_pass + 1))
	stage_end ok
else
	problem "format check (fix with: make format)"
	stage_end failed
fi

# build_tree DIR CC [MESON_OPTION...]: configure + build; on failure, count
# one failure and show the end of the log. CC empty means Meson's default.
declare -A built=()
build_tree() {
	local dir=$1 cc=$2 log=$LOGS/build-$1.log
	shift 2
	stage "build $dir"
	if (
		[ -n "$cc" ] && export CC=$cc
		bl_setup_tree "$dir" "$@" && ninja -C "$dir"
	) >"$log" 2>&1; then
		built[$dir]=1
		echo "built $dir ($(grep -c 'warning:' "$log") warnings; log: $log)"
		stage_end ok
	else
		echo "---- build of $dir failed; from $log ----"
		# The compiler's errors when ninja ran, else the end of Meson's output.
		if grep -q '^FAILED: ' "$log"; then
			sed -n '/^FAILED: /,$p' "$log" | head -n 100
		else
			tail -n 40 "$log"
		fi
		problem "build of $dir failed (log: $log)"
		stage_end failed
	fi
}

# shellcheck disable=SC2054 # the commas belong to the option values
san_args=(-Db_sanitize=address,undefined -Db_lundef=false
	"-Dc_args=-fno-sanitize-recover=all -fno-omit-frame-pointer")
build_tree build "" "${BL_BUILD_OPTS[@]}" -Dtests=true
build_tree build-san gcc -Dwerror=true -Dtests=true "${san_args[@]}"
build_tree build-fuzz clang -Dfuzz=true -Dtests=false "${san_args[@]}"

# LeakSanitizer needs ptrace-like access to the process; some containers
# forbid it and LSan then dies with a fatal error at exit. Probe once.
stage "sanitizer setup"
lsan=0
probe=$STATE/lsan-probe
printf '#include <stdlib.h>\nvoid *p;\nint main(void) { p = malloc(7); p = 0; return 0; }\n' >"$probe.c"
probe_out=
if gcc -fsanitize=address -g -o "$probe" "$probe.c" 2>/dev/null; then
	probe_out=$(ASAN_OPTIONS=detect_leaks=1 "$probe" 2>&1)
fi
if grep -q 'LeakSanitizer: detected memory leaks' <<<"$probe_out"; then
	lsan=1
	echo "LeakSanitizer works here: leak detection on"
else
	echo "LeakSanitizer does not work here: leak detection off. The probe said:"
	tail -n 3 <<<"$probe_out" | sed 's/^/    /'
fi
rm -f "$probe" "$probe.c"
symbolizer=$(ls /usr/lib/llvm-*/bin/llvm-symbolizer 2>/dev/null | sort -V | tail -n 1)
san_env=(
	"ASAN_OPTIONS=halt_on_error=1:abort_on_error=0:detect_leaks=$lsan:strict_string_checks=1:detect_stack_use_after_return=1:check_initialization_order=1:strict_init_order=1"
	"UBSAN_OPTIONS=halt_on_error=1:print_stacktrace=1:report_error_type=1"
	"LSAN_OPTIONS=print_suppressions=0"
)
[ -n "$symbolizer" ] && san_env+=("ASAN_SYMBOLIZER_PATH=$symbolizer")
printf '    %s\n' "${san_env[@]}"
stage_end ok

stage "start PostgreSQL"
pg_ok=0
if pg_start; then
	pg_ok=1
	stage_end ok
else
	problem "PostgreSQL did not start; its tests skip (see above)"
	stage_end failed
fi

# run_tree DIR TIMEOUT_MULTIPLIER [ENV...]: the tests of one tree, each tree
# with a database of its own.
run_tree() {
	local dir=$1 mult=$2 db
	shift 2
	stage "tests $dir"
	if [ -z "${built[$dir]:-}" ]; then
		echo "not run: $dir did not build"
		stage_end "not run"
		return
	fi
	local env=("$@")
	if [ $pg_ok -eq 1 ]; then
		if db=$(pg_createdb "bl_${dir//-/_}"); then
			env+=("BL_TEST_PG=$db")
			echo "BL_TEST_PG=$db"
		else
			problem "could not create the PostgreSQL database for $dir"
		fi
	fi
	local before=$n_fail
	run_bg env "${env[@]}" scripts/run-tests.sh -j "$JOBS" -m "$mult" --totals "$TOTALS.$dir" \
		--logs "$LOGS/tests-$dir" "$dir" "$dir"
	local p f s
	read -r p f s <"$TOTALS.$dir" || { p=0 f=1 s=0; }
	n_pass=$((n_pass + p)) n_fail=$((n_fail + f)) n_skip=$((n_skip + s))
	[ "$f" -gt 0 ] && problems+=("$f failing test result(s) in $dir (see FAIL above)")
	if [ "$n_fail" -gt "$before" ]; then stage_end failed; else stage_end ok; fi
}
run_tree build 1
run_tree build-san 3 "${san_env[@]}"

stage "fuzz (${FUZZ_SECONDS}s per harness)"
if [ -z "${built[build-fuzz]:-}" ]; then
	echo "not run: build-fuzz did not build"
	stage_end "not run"
else
	fuzz_fail=$n_fail
	harnesses=$(meson introspect build-fuzz --targets |
		jq -r '.[] | select(.type == "executable" and (.name | startswith("fuzz_"))) | .filename[0]')
	[ -n "$harnesses" ] || echo "no fuzz harnesses in build-fuzz"
	for exe in $harnesses; do
		name=$(basename "$exe")
		name=${name#fuzz_}
		work=$STATE/fuzz/$name
		rm -rf "$work"
		mkdir -p "$work/corpus" "$work/artifacts"
		if [ -d "fuzz/seeds/$name" ]; then
			cp -R "fuzz/seeds/$name/." "$work/corpus/"
		else
			echo "fuzz_$name: no seeds in fuzz/seeds/$name; starting from an empty corpus"
		fi
		dict=()
		[ -f "fuzz/$name.dict" ] && dict=("-dict=$BL_ROOT/fuzz/$name.dict")
		# The log is opened inside the child: a redirection on run_bg would
		# also catch what our traps print.
		run_bg bash -c 'cd "$1" && exec >"$2" 2>&1 && shift 2 && exec "$@"' fuzz \
			"$work" "$work/fuzz.log" \
			env "${san_env[@]}" timeout -k 10 $((FUZZ_SECONDS + 120)) "$exe" \
			-max_total_time="$FUZZ_SECONDS" -timeout=10 -rss_limit_mb=2048 \
			-detect_leaks=$lsan -print_final_stats=1 "${dict[@]}" \
			-artifact_prefix="$work/artifacts/" "$work/corpus"
		rc=$?
		stats=$(awk '/^stat::number_of_executed_units:/ { runs = $2 }
			/^stat::peak_rss_mb:/ { rss = $2 }
			END { printf "%s runs, peak RSS %s MB", runs, rss }' "$work/fuzz.log")
		if [ $rc -eq 0 ]; then
			n_pass=$((n_pass + 1))
			echo "PASS fuzz_$name: $stats, corpus $(ls "$work/corpus" | wc -l) files"
		else
			echo "---- FAIL fuzz_$name (exit $rc); the report from $work/fuzz.log ----"
			# From the sanitizer's or libFuzzer's first error line, without
			# ASan's shadow-memory dump; the whole log if there is none.
			awk 'start == 0 && /ERROR: |runtime error:|deadly signal|out-of-memory|timeout after/ { start = 1 }
			     start && /^Shadow bytes around/ { skip = 1 }
			     start && skip && /^==[0-9]+==ABORTING/ { skip = 0 }
			     start && !skip && shown < 80 { print; shown++ }
			     { last[NR % 20] = $0 }
			     END { if (!start) for (i = NR - 19; i <= NR; i++) if (i > 0) print last[i % 20] }' \
				"$work/fuzz.log"
			for a in "$work"/artifacts/*; do
				[ -e "$a" ] || continue
				echo "reproducer: $a"
				echo "  reproduce: $exe $a"
			done
			problem "fuzz_$name found a crash (artifacts: $work/artifacts)"
		fi
	done
	if [ "$n_fail" -gt "$fuzz_fail" ]; then stage_end failed; else stage_end ok; fi
fi

stage "stop PostgreSQL"
pg_stop
stage_end ok

summary
[ "$n_fail" -eq 0 ]
