#!/bin/bash
# bulletin user add|ls|passwd|role|rm and token create|ls|rm: generated
# secrets as the last word of the output, passwords typed on a terminal (a
# pty: asked twice, not echoed), what the store keeps (argon2id hashes, the
# SHA-256 of a token, never the secret), names, duplicates, roles, --json,
# sessions ended by passwd and rm, the audit log, --help and exit codes.
. "$(dirname "$0")/tap.sh"
B=$BULLETIN
DB=$(new_db)
export BULLETIN_DB=$DB
$B init >/dev/null

# sql QUERY: one value per line, fields joined by '|', on either backend.
sql() {
	if [ "$BL_CLI_BACKEND" = postgres ]; then
		psql -qAtX "$DB" -c "$1"
	else
		sqlite3 "${DB#sqlite:}" "$1"
	fi
}

# last_word TEXT: the last whitespace-separated word.
last_word() { printf '%s\n' "$1" | awk 'NF { w = $NF } END { print w }'; }

# on_tty ANSWER1 ANSWER2 CMD...: run CMD on a pseudo-terminal, typing each answer
# after each "Password" prompt; its output (the terminal's) in $OUT, exit code in $RC.
on_tty() {
	OUT=$(python3 - "$@" <<'PY'
import os, pty, select, sys
answers, argv = sys.argv[1:3], sys.argv[3:]
pid, fd = pty.fork()
if pid == 0:
    os.execvp(argv[0], argv)
out, typed = b"", 0
while True:
    r, _, _ = select.select([fd], [], [], 20)
    if not r:
        out += b"\n[timeout]"
        os.kill(pid, 9)
        break
    try:
        data = os.read(fd, 4096)
    except OSError:
        break
    if not data:
        break
    out += data
    while typed < len(answers) and out.count(b"Password: ") + out.count(b"Password again: ") > typed:
        os.write(fd, answers[typed].encode() + b"\n")
        typed += 1
_, status = os.waitpid(pid, 0)
sys.stdout.write(out.decode(errors="replace").replace("\r", ""))
sys.exit(os.waitstatus_to_exitcode(status))
PY
)
	RC=$?
}

# ---- user add ----
run $B user add alice --role admin --generate
pw_alice=$(last_word "$OUT")
if [ "$RC" = 0 ] && [[ $pw_alice =~ ^[A-Za-z0-9_][A-Za-z0-9_-]{23}$ ]]; then
	ok "user add --generate prints a 24-character password as the last word"
else
	not_ok "user add --generate prints a 24-character password as the last word" \
		"exit $RC" "stdout: $OUT" "stderr: $ERR"
fi
expect_out "the output names the user and role" 0 "created user bob \(editor\)" $B user add bob --role editor </dev/null
pw_bob=$(last_word "$OUT")
if [[ $pw_bob =~ ^[A-Za-z0-9_-]{24}$ ]] && [ "$pw_bob" != "$pw_alice" ]; then
	ok "without a terminal the password is generated (last word, a new one)"
else
	not_ok "without a terminal the password is generated (last word, a new one)" "got: $OUT"
fi
same "the store keeps an argon2id hash, not the password" \
	"$(sql "SELECT name, substr(pass_hash, 1, 31) FROM users ORDER BY name")" \
	"$(printf 'alice|$argon2id$v=19$m=65536,t=2,p=1$\nbob|$argon2id$v=19$m=65536,t=2,p=1$')"
same "the password is nowhere in the database" \
	"$(sql "SELECT count(*) FROM users WHERE pass_hash LIKE '%$pw_alice%'")" "0"

on_tty "typed-secret-1" "typed-secret-1" $B user add carol --role viewer
if [ "$RC" = 0 ] && printf '%s' "$OUT" | grep -q "Password: " &&
	printf '%s' "$OUT" | grep -q "Password again: " &&
	printf '%s' "$OUT" | grep -q "created user carol (viewer)$" &&
	! printf '%s' "$OUT" | grep -q "typed-secret-1"; then
	ok "on a terminal the password is asked twice, not echoed, not printed"
else
	not_ok "on a terminal the password is asked twice, not echoed, not printed" \
		"exit $RC" "output: $OUT"
fi
on_tty "typed-secret-1" "typed-secret-2" $B user add dave --role viewer
if [ "$RC" = 2 ] && printf '%s' "$OUT" | grep -q "the passwords differ"; then
	ok "two different passwords: refused"
else not_ok "two different passwords: refused" "exit $RC" "output: $OUT"; fi
on_tty "short" "short" $B user add dave --role viewer
if [ "$RC" = 2 ] && printf '%s' "$OUT" | grep -q "use at least 8"; then
	ok "a password under 8 characters: refused"
else not_ok "a password under 8 characters: refused" "exit $RC" "output: $OUT"; fi
on_tty "x" "x" $B user add dave --role viewer --generate
if [ "$RC" = 0 ] && ! printf '%s' "$OUT" | grep -q "Password:" &&
	[[ $(last_word "$OUT") =~ ^[A-Za-z0-9_-]{24}$ ]]; then
	ok "--generate on a terminal asks nothing"
else not_ok "--generate on a terminal asks nothing" "exit $RC" "output: $OUT"; fi
same "refused users were not created" "$(sql "SELECT name FROM users ORDER BY name" | tr '\n' ' ')" \
	"alice bob carol dave "

expect_out "a duplicate name is refused" 2 'a user named "alice" already exists' $B user add alice --role viewer --generate
expect_out "--role is required" 1 "user add needs --role" $B user add erin --generate
expect_out "an unknown role is refused" 1 "--role must be admin, editor or viewer" $B user add erin --role owner
expect_out "no name" 1 "user add needs exactly one NAME" $B user add --role admin
long=$(printf 'a%.0s' $(seq 65))
for bad in "bad name" "" "$long" "élodie" "a/b" "a:b" "a;b" '<x>'; do
	expect_out "invalid user name \"${bad:0:20}\" refused" 2 "invalid user name" $B user add "$bad" --role viewer --generate
done
expect_out "64 characters of the whole alphabet are a name" 0 "created user" \
	$B user add "Az09._@-$(printf 'x%.0s' $(seq 56))" --role viewer --generate
$B user rm "Az09._@-$(printf 'x%.0s' $(seq 56))" >/dev/null

# ---- user ls ----
expect_out "ls lists users with their role" 0 "alice +admin" $B user ls
run $B user ls --json
same "ls --json has the documented shape, no hash" \
	"$(printf '%s' "$OUT" | jq -c '[.[] | {name, role, keys: (keys | join(","))}]')" \
	'[{"name":"alice","role":"admin","keys":"created_at,last_login_at,name,password_changed_at,role"},{"name":"bob","role":"editor","keys":"created_at,last_login_at,name,password_changed_at,role"},{"name":"carol","role":"viewer","keys":"created_at,last_login_at,name,password_changed_at,role"},{"name":"dave","role":"viewer","keys":"created_at,last_login_at,name,password_changed_at,role"}]'
same "never logged in: last_login_at is null" "$(printf '%s' "$OUT" | jq -c '.[0].last_login_at')" "null"
if printf '%s' "$OUT" | jq -e '.[0].created_at | test("^[0-9]{4}-[0-9]{2}-[0-9]{2}T[0-9:]{8}Z$")' >/dev/null; then
	ok "times are RFC 3339"
else not_ok "times are RFC 3339" "got: $OUT"; fi

# ---- user passwd ----
alice_id=$(sql "SELECT id FROM users WHERE name = 'alice'")
sql "INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at) VALUES ('h1', $alice_id, 'c', 1, 99999999999), ('h2', $alice_id, 'c', 1, 99999999999)" >/dev/null
bob_id=$(sql "SELECT id FROM users WHERE name = 'bob'")
sql "INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at) VALUES ('h3', $bob_id, 'c', 1, 99999999999)" >/dev/null
old_hash=$(sql "SELECT pass_hash FROM users WHERE name = 'alice'")
run $B user passwd alice --generate
new_pw=$(last_word "$OUT")
if [ "$RC" = 0 ] && [[ $new_pw =~ ^[A-Za-z0-9_-]{24}$ ]] && [ "$new_pw" != "$pw_alice" ]; then
	ok "passwd --generate prints the new password as the last word"
else not_ok "passwd --generate prints the new password as the last word" "exit $RC" "$OUT" "$ERR"; fi
same "passwd stored a new hash" "$(sql "SELECT pass_hash = '$old_hash' FROM users WHERE name = 'alice'" | sed 's/^f$/0/')" "0"
same "passwd ended every session of the user, not of others" \
	"$(sql "SELECT id_hash FROM sessions ORDER BY id_hash" | tr '\n' ' ')" "h3 "
run $B user passwd bob </dev/null
same "passwd without a terminal generates" "$(last_word "$OUT" | grep -cE '^[A-Za-z0-9_-]{24}$')" "1"
on_tty "another-secret" "another-secret" $B user passwd carol
if [ "$RC" = 0 ] && printf '%s' "$OUT" | grep -q "changed the password of carol and ended its sessions$"; then
	ok "passwd on a terminal"
else not_ok "passwd on a terminal" "exit $RC" "output: $OUT"; fi
expect_out "passwd of an unknown user" 2 'no user "nobody"' $B user passwd nobody --generate
expect_out "passwd with a bad name" 2 "invalid user name" $B user passwd "a b" --generate

# ---- user role ----
expect_out "role changes the role" 0 "bob is now admin \(was editor\)" $B user role bob admin
same "the new role is stored" "$(sql "SELECT role FROM users WHERE name = 'bob'")" "admin"
expect_out "role: an unknown role" 1 "ROLE must be admin, editor or viewer" $B user role bob boss
expect_out "role: an unknown user" 2 'no user "nobody"' $B user role nobody viewer
expect_out "role: missing ROLE" 1 "needs a NAME and a ROLE" $B user role bob

# ---- user rm ----
sql "INSERT INTO sessions (id_hash, user_id, csrf, created_at, expires_at) VALUES ('h4', $bob_id, 'c', 1, 99999999999)" >/dev/null
expect_out "rm removes a user" 0 "removed user bob" $B user rm bob
same "rm ended the user's sessions" "$(sql "SELECT count(*) FROM sessions")" "0"
expect_out "rm of a removed user" 2 'no user "bob"' $B user rm bob
run $B user ls --json
same "ls no longer shows it" "$(printf '%s' "$OUT" | jq -c '[.[] | .name]')" '["alice","carol","dave"]'

# ---- the last admin (alice, now bob is gone) is never demoted nor removed ----
expect_out "role: the last admin is not demoted" 2 "^bulletin: alice is the last admin: make another user admin first$" $B user role alice editor
expect_out "rm: the last admin is not removed" 2 "^bulletin: alice is the last admin: make another user admin first$" $B user rm alice
same "the last admin is still there, still admin" "$(sql "SELECT role FROM users WHERE name = 'alice'")" "admin"

# ---- tokens ----
run $B token create deploy --role editor
tok=$(last_word "$OUT")
if [ "$RC" = 0 ] && [[ $tok =~ ^blt_[A-Za-z0-9_-]{43}$ ]]; then
	ok "token create prints blt_ and 43 base64url characters as the last word"
else not_ok "token create prints blt_ and 43 base64url characters as the last word" "exit $RC" "$OUT" "$ERR"; fi
same "the store keeps the token's SHA-256 only" \
	"$(sql "SELECT name, role, hash FROM api_tokens")" \
	"deploy|editor|$(printf '%s' "$tok" | sha256sum | cut -d' ' -f1)"
run $B token create reader --role viewer
tok2=$(last_word "$OUT")
[ "$tok2" != "$tok" ] && ok "each token is new" || not_ok "each token is new" "$tok twice"
expect_out "token: a duplicate name" 2 'an API token named "deploy" already exists' $B token create deploy --role viewer
expect_out "token: --role is required" 1 "token create needs --role" $B token create ci
expect_out "token: an unknown role" 1 "--role must be admin, editor or viewer" $B token create ci --role root
expect_out "token: a bad name" 2 "invalid API token name" $B token create "ci token" --role viewer
expect_out "token ls" 0 "deploy +editor .* never" $B token ls
if ! printf '%s' "$OUT" | grep -q -- "${tok:4}"; then ok "token ls never shows the token"; else
	not_ok "token ls never shows the token" "$OUT"; fi
run $B token ls --json
same "token ls --json has the documented shape" \
	"$(printf '%s' "$OUT" | jq -c '[.[] | {name, role, last_used_at, keys: (keys | join(","))}]')" \
	'[{"name":"deploy","role":"editor","last_used_at":null,"keys":"created_at,last_used_at,name,role"},{"name":"reader","role":"viewer","last_used_at":null,"keys":"created_at,last_used_at,name,role"}]'
expect_out "token rm" 0 "removed API token reader" $B token rm reader
expect_out "token rm of a removed token" 2 'no API token "reader"' $B token rm reader
same "only the other token is left" "$(sql "SELECT name FROM api_tokens")" "deploy"

# ---- the audit log ----
same "every change is in the audit log, actor cli" \
	"$(sql "SELECT actor || ' ' || action || ' ' || target FROM audit_log ORDER BY id" | tr '\n' ';')" \
	"cli user.add user:alice;cli user.add user:bob;cli user.add user:carol;cli user.add user:dave;cli user.add user:Az09._@-$(printf 'x%.0s' $(seq 56));cli user.rm user:Az09._@-$(printf 'x%.0s' $(seq 56));cli user.passwd user:alice;cli user.passwd user:bob;cli user.passwd user:carol;cli user.role user:bob;cli user.rm user:bob;cli token.create token:deploy;cli token.create token:reader;cli token.rm token:reader;"
same "the audit detail says the role" \
	"$(sql "SELECT detail FROM audit_log WHERE action = 'user.role'")" '{"role":"admin","was":"editor"}'
same "no secret is in the audit log" \
	"$(sql "SELECT count(*) FROM audit_log WHERE detail LIKE '%$new_pw%' OR detail LIKE '%${tok:4}%'")" "0"

# ---- help and usage ----
for sub in "user add" "user ls" "user passwd" "user role" "user rm" "token create" "token ls" "token rm"; do
	# shellcheck disable=SC2086 # the words are meant to split
	expect_out "$sub --help" 0 "^usage: bulletin ${sub%% *} " $B $sub --help
done
expect_out "user without a subcommand" 1 "usage: bulletin user" $B user
expect_out "an unknown user subcommand" 1 'unknown user command "show"' $B user show alice
expect_out "an unknown token subcommand" 1 'unknown token command "new"' $B token new x
expect_out "bulletin --help lists user and token" 0 "token +create, list and remove API tokens" $B --help

done_testing
