/*
 * Export: every subscriber (or one list's) as CSV or JSON, streamed to a
 * FILE in constant memory. Both forms import back unchanged with
 * bl_import_file (formats.h BL_FORMAT_BULLETIN): names, attributes,
 * statuses, delivery modes and creation times; the JSON form also carries
 * the lists and every consent event, so it is a complete restore.
 *
 * CSV: header email,name,attributes,subscriber_status,status_reason,
 * created_at,list,status,mode,subscribed_at; one row per subscription (a
 * subscriber with none gets one row with the list columns empty);
 * attributes as a JSON object; times RFC 3339 UTC.
 *
 * JSON: one document, laid out one subscriber per line so that it streams:
 *   {"format":"bulletin","version":1,"exported_at":T,"lists":[...],"subscribers":[
 *   {"email":...,"subscriptions":[...],"consent":[...]},
 *   ...
 *   ]}
 */
#ifndef BL_IMPORT_EXPORT_H
#define BL_IMPORT_EXPORT_H

#include <stdio.h>

#include "store/store.h"

enum bl_export_format { BL_EXPORT_CSV, BL_EXPORT_JSON };

/*
 * bl_export - write the export to @out.
 * @list_slug: only this list's subscribers and subscriptions (and consent
 *             events about it or about no list); NULL for everything.
 * @count:     if not NULL, receives the number of subscribers written.
 * Returns 0; -BL_EINVAL for an unknown list; -BL_EIO when writing fails
 * (disk full, closed pipe); a store error. @d says what.
 */
int bl_export(struct bl_store *s, const char *list_slug, enum bl_export_format format, FILE *out,
              size_t *count, struct bl_diag *d);

#endif
