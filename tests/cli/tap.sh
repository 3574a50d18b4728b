# Shared helpers for the command-line tests: TAP output and a fresh database
# per test on the backend named by BL_CLI_BACKEND (sqlite, the default, or
# postgres: a new database on the server in BL_TEST_PG, dropped at exit).
# Source it; then call the checks; `done_testing` prints the plan.

set -u
BULLETIN=${BULLETIN:?BULLETIN must name the bulletin binary}
BL_CLI_BACKEND=${BL_CLI_BACKEND:-sqlite}
TAP_N=0
TAP_FAILED=0
WORK=$(mktemp -d /tmp/bl-cli-XXXXXX)
PG_DB=""

trap cleanup EXIT

if [ "$BL_CLI_BACKEND" = postgres ]; then
	if [ -z "${BL_TEST_PG:-}" ]; then
		echo "1..0 # SKIP BL_TEST_PG is not set (no PostgreSQL server configured)"
		exit 0
	fi
fi

# new_db: print the URI of a fresh, empty database.
new_db() {
	if [ "$BL_CLI_BACKEND" = postgres ]; then
		local name="bl_cli_$$_$RANDOM"
		psql -q "$BL_TEST_PG" -c "CREATE DATABASE $name" >/dev/null || return 1
		PG_DB="$PG_DB $name"
		PG_DB=${PG_DB# }
		# replace the database name (last path element) of the server URI
		echo "${BL_TEST_PG%/*}/$name"
	else
		echo "sqlite:$WORK/db-$RANDOM$RANDOM.db"
	fi
}

cleanup() {
	for name in $PG_DB; do
		psql -q "$BL_TEST_PG" -c "DROP DATABASE IF EXISTS $name" >/dev/null 2>&1
	done
	rm -rf "$WORK"
}

ok() { TAP_N=$((TAP_N + 1)); echo "ok $TAP_N - $1"; }
not_ok() {
	TAP_N=$((TAP_N + 1))
	TAP_FAILED=$((TAP_FAILED + 1))
	echo "not ok $TAP_N - $1"
	shift
	for line in "$@"; do printf '%s\n' "$line" | sed 's/^/# /'; done
}

# run CMD...: run it, keep stdout in $OUT, stderr in $ERR, exit code in $RC.
run() {
	OUT=$("$@" 2>"$WORK/stderr")
	RC=$?
	ERR=$(cat "$WORK/stderr")
}

# expect DESC CODE CMD...: the command exits with CODE.
expect() {
	local desc=$1 code=$2
	shift 2
	run "$@"
	if [ "$RC" = "$code" ]; then ok "$desc"; else
		not_ok "$desc" "got exit $RC, want $code" "stdout: $OUT" "stderr: $ERR"
	fi
}

# expect_out DESC CODE REGEX CMD...: exit CODE and stdout+stderr match the
# extended regular expression REGEX.
expect_out() {
	local desc=$1 code=$2 re=$3
	shift 3
	run "$@"
	if [ "$RC" = "$code" ] && printf '%s\n%s\n' "$OUT" "$ERR" | grep -Eq -- "$re"; then
		ok "$desc"
	else
		not_ok "$desc" "got exit $RC, want $code; want output matching: $re" \
			"stdout: $OUT" "stderr: $ERR"
	fi
}

# expect_fail DESC REGEX CMD...: any non-zero exit, output matching REGEX.
expect_fail() {
	local desc=$1 re=$2
	shift 2
	run "$@"
	if [ "$RC" != 0 ] && printf '%s\n%s\n' "$OUT" "$ERR" | grep -Eq -- "$re"; then
		ok "$desc"
	else
		not_ok "$desc" "got exit $RC, want failure; want output matching: $re" \
			"stdout: $OUT" "stderr: $ERR"
	fi
}

# same DESC GOT WANT: string equality.
same() {
	if [ "$2" = "$3" ]; then ok "$1"; else not_ok "$1" "got:  $2" "want: $3"; fi
}

# wait_for DESC SECONDS CMD...: until CMD succeeds, else not ok (with the end of
# $WORK/serve.err, where the tests that start `bulletin serve` put its log).
wait_for() {
	local desc=$1 secs=$2
	shift 2
	for _ in $(seq $((secs * 10))); do
		if "$@" >/dev/null 2>&1; then ok "$desc"; return 0; fi
		sleep 0.1
	done
	not_ok "$desc" "waited ${secs}s" "$(tail -20 "$WORK/serve.err" 2>/dev/null)"
}

done_testing() {
	echo "1..$TAP_N"
	[ "$TAP_FAILED" = 0 ]
}
