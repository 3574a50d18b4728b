#!/bin/bash
# The command line's shape: help, version, exit codes, configuration
# precedence and errors, init (idempotent, refuses a newer schema).
. "$(dirname "$0")/tap.sh"
B=$BULLETIN
cd "$WORK"

expect_out "--help lists the commands" 0 "import.*export" $B --help
expect_out "--help documents exit codes" 0 "exit codes: 0 ok, 1 usage" $B --help
expect_out "--version" 0 "^bulletin [0-9]+\.[0-9]+" $B --version
expect_out "no command is a usage error" 1 "usage:" $B
expect_out "unknown command" 1 "unknown command \"frobnicate\"" $B frobnicate
for cmd in init "list" subscriber import export config; do
	expect_out "$cmd --help" 0 "usage: bulletin $cmd" $B $cmd --help
done
expect_out "list create --help" 0 "usage: bulletin list create" $B list create --help
expect_out "unknown list subcommand" 1 "unknown list command" $B list fly

DB=$(new_db)
expect_out "commands refuse a missing or uninitialised database" 3 "(not initialised; run|does not exist; create it with) .bulletin init." $B --db "$DB" list ls
expect_out "init creates the schema" 0 "initialised database .* \(schema 7\)" $B --db "$DB" init
expect_out "init again changes nothing" 0 "up to date \(schema 7\)" $B --db "$DB" init
expect_out "--db=URI form and the option after the command" 0 "no lists yet" $B list ls --db="$DB"
expect_out "unknown database scheme" 1 "unknown database \"mysql://x\"" $B --db mysql://x list ls
expect_out "missing directory" 3 "directory /nonexistent/dir does not exist" $B --db sqlite:/nonexistent/dir/x.db init
if [ "$BL_CLI_BACKEND" = sqlite ]; then
	expect_out "a missing database is not created by other commands" 3 "does not exist; create it with .bulletin init." $B --db "sqlite:$WORK/absent.db" list ls
	if [ "$RC" = 3 ] && [ ! -e "$WORK/absent.db" ]; then ok "no empty file left behind"; else not_ok "no empty file left behind" "exit $RC"; fi
fi

if [ "$BL_CLI_BACKEND" = sqlite ]; then
	NEWER=$(new_db)
	$B --db "$NEWER" init >/dev/null
	sqlite3 "${NEWER#sqlite:}" "INSERT INTO schema_migrations VALUES (99, '099_future.sql', 0)"
	expect_out "init refuses a newer schema" 3 "schema version 99, newer than this bulletin" $B --db "$NEWER" init
	expect_out "commands refuse a newer schema" 3 "newer than this bulletin" $B --db "$NEWER" list ls
else
	NEWER=$(new_db)
	$B --db "$NEWER" init >/dev/null
	psql -q "$NEWER" -c "INSERT INTO schema_migrations (version, name, applied_at) VALUES (99, '099_future.sql', now())" >/dev/null
	expect_out "init refuses a newer schema" 3 "99" $B --db "$NEWER" init
	expect_out "commands refuse a newer schema" 3 "newer than this bulletin" $B --db "$NEWER" list ls
fi

# Configuration: default < file < env < flag, each shown with its origin.
expect_out "default db" 0 "^db = sqlite:bulletin.db" $B config dump
printf 'db = sqlite:from-file.db\nimport_batch = 77\n' > bulletin.conf
expect_out "./bulletin.conf is read" 0 "db = sqlite:from-file.db" $B config dump
expect_out "file origin names file:line" 0 "from file bulletin.conf:2" $B config dump
run env BULLETIN_DB=sqlite:from-env.db $B config dump
same "env beats file" "$(printf '%s\n' "$OUT" | grep '^db = ')" "db = sqlite:from-env.db"
run env BULLETIN_DB=sqlite:from-env.db $B --db sqlite:flag.db config dump
same "flag beats env" "$(printf '%s\n' "$OUT" | grep '^db = ')" "db = sqlite:flag.db"
run env BULLETIN_WEBHOOK_MAILGUN_KEY=key-s3cr3t BULLETIN_WEBHOOK_POSTMARK_AUTH=pm:pw $B config dump
same "webhook secrets are masked" "$(printf '%s\n' "$OUT" | grep -E '^webhook_(mailgun_key|postmark_auth) = ' | tr '\n' ' ')" "webhook_mailgun_key = *** webhook_postmark_auth = *** "
run env BULLETIN_CONFIG="$WORK/bulletin.conf" $B config dump --json
same "config dump --json" "$(printf '%s' "$OUT" | jq -r '.[] | select(.key=="import_batch") | .value + " " + .origin')" "77 file"
printf 'db = sqlite:x.db\nrelayy = smtp://127.0.0.1\n' > bad.conf
expect_out "unknown key: error names key and line" 2 "bad.conf:2: unknown configuration key \"relayy\"" $B --config bad.conf config dump
printf 'import_batch = lots\n' > bad.conf
expect_out "bad value: error names the allowed range" 2 "import_batch must be a whole number from 1 to 10000000" $B --config bad.conf list ls
expect_out "missing config file" 2 "cannot read config file nope.conf" $B --config nope.conf config dump
expect_out "bad env value" 2 "BULLETIN_SMTPUTF8.*true or false" env BULLETIN_SMTPUTF8=perhaps $B config dump
run env BULLETIN_NOSUCH=1 $B config dump
if printf '%s' "$ERR" | grep -q "BULLETIN_NOSUCH matches no configuration key"; then ok "unknown BULLETIN_ variable warned about"; else not_ok "unknown BULLETIN_ variable warned about" "stderr: $ERR"; fi
printf 'db = postgresql://user:secret@127.0.0.1/db\n' > pw.conf
run $B --config pw.conf config dump
if [ "$RC" = 0 ] && printf '%s' "$OUT" | grep -q "^db = postgresql://user:\*\*\*@127.0.0.1/db$" &&
	! printf '%s' "$OUT" | grep -q "secret"; then
	ok "password masked in dump"
else
	not_ok "password masked in dump" "exit $RC" "$OUT"
fi
printf 'relay = smtp://mailer:hunter22@127.0.0.1:2525, maildir:out\nbounce_mailbox = imaps://bounces:pop-pw@127.0.0.1/INBOX\n' > pw.conf
run $B --config pw.conf config dump
if [ "$RC" = 0 ] && printf '%s' "$OUT" | grep -qx "relay = smtp://mailer:\*\*\*@127.0.0.1:2525, maildir:out" &&
	printf '%s' "$OUT" | grep -qx "bounce_mailbox = imaps://bounces:\*\*\*@127.0.0.1/INBOX" &&
	! printf '%s' "$OUT" | grep -Eq "hunter22|pop-pw"; then
	ok "relay and mailbox passwords masked in dump"
else
	not_ok "relay and mailbox passwords masked in dump" "exit $RC" "$OUT"
fi
run $B --db 'postgresql://u:se%zzSECRETZ@127.0.0.1:1/x' list ls
if [ "$RC" = 3 ] && printf '%s' "$ERR" | grep -q "invalid percent-encoded token" && ! printf '%s%s' "$OUT" "$ERR" | grep -q SECRETZ; then
	ok "libpq's echo of a URI it cannot parse is scrubbed of the password"
else
	not_ok "libpq's echo of a URI it cannot parse is scrubbed of the password" "exit $RC" "$ERR"
fi
run env 'BULLETIN_DB=postgresql://127.0.0.1/x?user=u&pass%77ord=SECRETQ&sslpassword=SECRETS' $B config dump
if [ "$RC" = 0 ] && ! printf '%s' "$OUT" | grep -Eq "SECRETQ|SECRETS"; then ok "password parameters masked in dump"; else not_ok "password parameters masked in dump" "$OUT"; fi
rm -f bulletin.conf

done_testing
