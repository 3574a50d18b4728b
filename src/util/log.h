/*
 * Logging to stderr with severity and the source file:line, after Postfix's
 * msg(3): info, warn, error, fatal (exit 3) and panic (abort). Library code
 * returns errors and lets its caller log; these are for the top layers and
 * for conditions no caller can act on.
 */
#ifndef BL_UTIL_LOG_H
#define BL_UTIL_LOG_H

enum bl_log_level { BL_LOG_DEBUG, BL_LOG_INFO, BL_LOG_WARN, BL_LOG_ERROR, BL_LOG_FATAL };

/* bl_log_set_level - messages below @level are dropped (default BL_LOG_INFO). */
void bl_log_set_level(enum bl_log_level level);

/* bl_log_set_source_locations - whether to print file:line (default on). */
void bl_log_set_source_locations(int on);

/* bl_log - write one line "bulletin: LEVEL: file:line: message" to stderr. */
void bl_log(enum bl_log_level level, const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 4, 5)));

/* bl_fatal_at - log at fatal level and exit(3). */
_Noreturn void bl_fatal_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
/* bl_panic_at - log "panic" (a bug in bulletin) and abort(). */
_Noreturn void bl_panic_at(const char *file, int line, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));

#define bl_debug(...) bl_log(BL_LOG_DEBUG, __FILE__, __LINE__, __VA_ARGS__)
#define bl_info(...)  bl_log(BL_LOG_INFO, __FILE__, __LINE__, __VA_ARGS__)
#define bl_warn(...)  bl_log(BL_LOG_WARN, __FILE__, __LINE__, __VA_ARGS__)
#define bl_error(...) bl_log(BL_LOG_ERROR, __FILE__, __LINE__, __VA_ARGS__)
#define bl_fatal(...) bl_fatal_at(__FILE__, __LINE__, __VA_ARGS__)
#define bl_panic(...) bl_panic_at(__FILE__, __LINE__, __VA_ARGS__)

#endif
