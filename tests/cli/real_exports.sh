#!/bin/bash
# Moving from another tool is one command: every file of
# ../shared/corpora/real-exports imports with the counts its SOURCE.md
# describes (statuses are checked field by field in tests/unit/test_import.c).
. "$(dirname "$0")/tap.sh"
B=$BULLETIN
R=${BL_CORPORA:?}/real-exports
DB=$(new_db)
export BULLETIN_DB=$DB
$B init >/dev/null
for l in mailchimp beehiiv medium ghost listmonk keila mailpoet; do $B list create $l --name $l >/dev/null; done

check() { # LIST FILE WANT-LINE [ARGS]: exit 2 when the line counts invalid rows
	local list=$1 file=$2 want=$3 code=0
	shift 3
	case $want in *"invalid 0"*) ;; *) code=2 ;; esac
	expect_out "$(basename "$(dirname "$file")")/$(basename "$file")" $code "^$want$" $B import "$R/$file" --list "$list" --confirmed "$@"
}
check mailchimp tryghost-migrate/mailchimp/subscribed.csv "imported 5, updated 0, skipped 0 \(invalid 0, duplicate 0\)"
check mailchimp tryghost-migrate/mailchimp/unsubscribed.csv "imported 5, updated 0, skipped 0 \(invalid 0, duplicate 0\)"
check mailchimp tryghost-migrate/mailchimp/cleaned.csv "imported 5, updated 0, skipped 0 \(invalid 0, duplicate 0\)"
run $B list show mailchimp --json
same "mailchimp: 15 members, only the 5 subscribed confirmed" "$(printf '%s' "$OUT" | jq -c .counts)" '{"unconfirmed":0,"confirmed":5,"unsubscribed":10}'
check beehiiv tryghost-migrate/beehiiv/members.csv "imported 9, updated 0, skipped 0 \(invalid 0, duplicate 0\)"
run $B list show beehiiv --json
same "beehiiv: 6 kept (5 active, 1 pending), 3 unsubscribed" "$(printf '%s' "$OUT" | jq -c .counts)" '{"unconfirmed":1,"confirmed":5,"unsubscribed":3}'
check medium tryghost-migrate/medium/members.txt "imported 5, updated 0, skipped 0 \(invalid 0, duplicate 0\)"
check ghost ghost/member-csv-export.csv "imported 2, updated 0, skipped 0 \(invalid 0, duplicate 0\)"
check ghost ghost/subscribed-to-emails-cases.csv "imported 15, updated 0, skipped 0 \(invalid 0, duplicate 0\)"
run $B list show ghost --json
same "ghost: only subscribed_to_emails=false unsubscribes" "$(printf '%s' "$OUT" | jq -c .counts)" '{"unconfirmed":0,"confirmed":13,"unsubscribed":4}'
check listmonk listmonk/subs.csv "imported 100, updated 0, skipped 0 \(invalid 0, duplicate 0\)"
check listmonk listmonk/subs-domain-blocklist.csv "imported 4, updated 0, skipped 0 \(invalid 0, duplicate 0\)"
check keila keila/import_excel.csv "imported 201, updated 0, skipped 0 \(invalid 0, duplicate 0\)"
check keila keila/import_rfc_4180_with_status.csv "imported 4, updated 0, skipped 0 \(invalid 0, duplicate 0\)"
check mailpoet mailpoet/MailPoetImportList.csv "imported 9, updated 0, skipped 2 \(invalid 2, duplicate 0\)"
check mailpoet mailpoet/MailPoetImportList.csv "imported 0, updated 0, skipped 11 \(invalid 2, duplicate 9\)"
check mailpoet mailpoet/MailPoetImportBigList.csv "imported 304, updated 0, skipped 0 \(invalid 0, duplicate 0\)"
expect_out "mailpoet: the role address is named" 2 "role address \"webmaster@example.com\"" $B import "$R/mailpoet/MailPoetImportList.csv" --list mailpoet
expect_out "forced format on a detectable file" 0 "^imported 0, updated 0, skipped 9 " $B import "$R/tryghost-migrate/beehiiv/members.csv" --list beehiiv --from-format generic

done_testing
