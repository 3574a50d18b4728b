/*
 * Configuration: one table of keys (config.c, `keys[]`) with type, default,
 * limits and help. Values come, in rising precedence, from the default, the
 * INI file (`--config FILE`, else ./bulletin.conf when present), the
 * environment (BULLETIN_<KEY>: uppercase, '.' becomes '_') and command-line
 * flags. Every value is validated against its type and limits when it is
 * set, so readers never see a bad value. Later issues add keys to the table
 * only. An INI section [s] with key k names the key "s.k".
 */
#ifndef BL_CONFIG_CONFIG_H
#define BL_CONFIG_CONFIG_H

#include "util/err.h"

enum bl_config_type {
	BL_CONF_STR,
	BL_CONF_INT,      /* decimal integer within [min, max] */
	BL_CONF_BOOL,     /* true/false, yes/no, on/off, 1/0 */
	BL_CONF_DURATION, /* seconds; suffix s, m, h, d or w allowed ("7d"); within [min, max]
	                     seconds */
	BL_CONF_ENUM,     /* one of the '|'-separated words in `choices` */
	BL_CONF_CLOCK,    /* a time of day "HH:MM" (00:00-23:59); read as minutes after midnight
	                     with bl_config_int */
	BL_CONF_TIMEZONE, /* an IANA time zone name known to the machine (bl_timezone_valid) */
	BL_CONF_RATE,     /* a fraction, as a decimal ("0.001") or a percentage ("0.1%"), to one
	                     part per million; read as parts per million with bl_config_int, within
	                     [min, max] parts per million */
};

enum bl_config_origin { BL_ORIGIN_DEFAULT, BL_ORIGIN_FILE, BL_ORIGIN_ENV, BL_ORIGIN_FLAG };

struct bl_config_key {
	const char *name;
	enum bl_config_type type;
	const char *def;     /* default, as text */
	long long min, max;  /* for INT and DURATION */
	const char *choices; /* for ENUM: "a|b|c" */
	const char *help;    /* one line */
};

struct bl_config;

/* bl_config_create - a config holding every key at its default. Free with bl_config_destroy. */
struct bl_config *bl_config_create(void);
/* bl_config_destroy - free @c; NULL-safe. */
void bl_config_destroy(struct bl_config *c);

/*
 * bl_config_load_file - read INI file @path and apply each key (origin FILE).
 * Returns 0; -BL_EIO if the file cannot be read; -BL_EINVAL for a syntax
 * error, an unknown key or a bad value, with @d naming the file, line and key.
 * On error no value from the file is applied.
 */
int bl_config_load_file(struct bl_config *c, const char *path, struct bl_diag *d);

/*
 * bl_config_load_env - apply BULLETIN_<KEY> variables from @envp (a NULL-
 * terminated environ array). Returns 0, or -BL_EINVAL for a bad value (@d
 * names the variable). BULLETIN_* names that match no key are ignored,
 * except that each is reported through bl_warn() once.
 * Names used by bulletin itself (BULLETIN_CONFIG, BULLETIN_FAKE_NOW) are skipped.
 */
int bl_config_load_env(struct bl_config *c, char **envp, struct bl_diag *d);

/*
 * bl_config_set - set key @name to @value with @origin, @where describing it
 * ("bulletin.conf:3", "BULLETIN_DB", "--db"). Returns 0, -BL_ENOENT for an
 * unknown key, -BL_EINVAL for a value of the wrong type or out of range
 * (@d says which and what is allowed); the old value is then kept.
 */
int bl_config_set(struct bl_config *c, const char *name, const char *value,
                  enum bl_config_origin origin, const char *where, struct bl_diag *d);

/*
 * Typed getters. @name must be a key of the table (bl_panic otherwise: a
 * bug). Strings stay valid until the key is set again or @c destroyed.
 */
const char *bl_config_str(const struct bl_config *c, const char *name);
long long bl_config_int(const struct bl_config *c, const char *name); /* INT, DURATION (s),
                                                                         RATE (ppm) */
int bl_config_bool(const struct bl_config *c, const char *name);

/* One key's state, for `config dump`. */
struct bl_config_entry {
	const struct bl_config_key *key;
	const char *value; /* as set, text */
	enum bl_config_origin origin;
	const char *where; /* "" for defaults */
};

/* bl_config_count / bl_config_entry_at - iterate over every key in table order. */
size_t bl_config_count(void);
void bl_config_entry_at(const struct bl_config *c, size_t i, struct bl_config_entry *out);

/* bl_config_origin_name - "default", "file", "env", "flag". */
const char *bl_config_origin_name(enum bl_config_origin o);

/* bl_config_env_name - write BULLETIN_<KEY> for key @name into @out (size @n). */
void bl_config_env_name(const char *name, char *out, size_t n);

/*
 * bl_duration_parse - a duration as config files write it: decimal
 * seconds with an optional suffix s, m, h, d or w ("15m", "7d"). Sets
 * *@out in seconds and returns 0; -BL_EINVAL for a sign, no digits, an
 * unknown suffix or trailing text; -BL_ELIMIT past 2^40. No other range check.
 */
int bl_duration_parse(const char *s, long long *out);

/*
 * bl_rate_parse - a fraction as config files write it: a decimal ("0.001", ".5", "1") or a
 * percentage ("0.1%"). Sets *@out in parts per million (0.001 -> 1000) and returns 0;
 * -BL_EINVAL for a sign, no digits, a second point, trailing text or a value finer than one
 * part per million; -BL_ELIMIT above 1000 (1e9 ppm). No other range check.
 */
int bl_rate_parse(const char *s, long long *out);

#endif
