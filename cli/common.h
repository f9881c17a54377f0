/*
 * common.h - what every vecseg tool shares: messages prefixed with the tool
 * name, exit statuses from sysexits.h, --version, number parsing, progress
 * lines (only when stderr is a terminal) and a clock.
 */
#ifndef CLI_COMMON_H
#define CLI_COMMON_H

#include <stdint.h>
#include <sysexits.h>

/* The tools use the advanced API (settings table, shares, merge) and link
   the static library. */
#define VECSEG_STATIC_LINKING_ONLY
#include "vecseg.h"

extern const char *cli_tool;   /* set by cli_init */
extern int cli_quiet;
extern int cli_verbose;  /* -v: one line per step on stderr */

/* Sets the tool name, checks VECSEG_THREADS and puts OpenBLAS's settings in the environment
   before lib/ first loads it.  argv is unused (it served a re-execution, no longer needed). */
void cli_init(const char *tool, char **argv);
/* Prints "tool: message" on stderr. */
void cli_msg(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints "tool: message" and exits with status. */
_Noreturn void cli_die(int status, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Prints err's message and exits with the status its code maps to. */
_Noreturn void cli_die_err(const vf_error *err);
/* The sysexits.h status for a VF_E* code. */
int cli_status(int code);
/* A usage error: message plus a pointer to --help, exit EX_USAGE. */
_Noreturn void cli_usage(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
/* Prints tool, library and format versions; exits 0. */
_Noreturn void cli_version(void);
/* Parses an option value as an unsigned integer in [min, max] or dies. */
uint64_t cli_u64(const char *opt, const char *s, uint64_t min, uint64_t max);
/* A progress line, overwritten in place, only when stderr is a terminal. */
void cli_progress(const char *fmt, ...) __attribute__((format(printf, 1, 2)));
void cli_progress_done(void);
/* A progress line for `done` of `total` units (0: unknown), with the rate and the ETA
   since cli_progress_start (or the first call after cli_progress_done); at most five
   lines a second, and the last. */
void cli_progress_start(void);
/* 1 when progress lines are shown: stderr is a terminal and -q was not given. */
int cli_progress_on(void);
void cli_progress_work(const char *what, uint64_t done, uint64_t total, const char *unit);
/* bytes as a size for people ("1.5MiB") when stdout is a terminal, exact digits otherwise
   (scripts); written into buf, returned. */
const char *cli_size(char *buf, size_t len, uint64_t bytes);
/* Seconds on a monotonic clock. */
double cli_now(void);

#endif
