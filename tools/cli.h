/* cli.h - shared helpers of the deja command-line tool (it uses only the public API). */
#ifndef DEJA_CLI_H
#define DEJA_CLI_H

#include "deja.h"

#include <stdbool.h>
#include <stddef.h>
#include <stdint.h>

/* A list of image paths, owned. */
typedef struct {
    char **paths;
    size_t n, cap;
} path_list;

/* A folder (images by file-name order: .png .jpg .jpeg .pgm .ppm) or a list file (one path per
 * line, relative to the list's folder). Appends to list; prints an error and returns false. */
bool paths_add(path_list *list, const char *folder_or_list);
void paths_free(path_list *list);
/* paths_add for each input; on failure the list is freed and false returned. */
bool paths_add_all(path_list *list, char **inputs, int n);

/* Progress bar on stderr, only when stderr is a terminal. */
typedef struct {
    const char *label;
    uint64_t total;
    uint64_t start_ns, last_ns;
    bool tty;
} progress;

void progress_start(progress *p, const char *label, uint64_t total);
void progress_update(progress *p, uint64_t done);
void progress_end(progress *p);

/* The q-quantile (0..1, nearest rank) of v[0..n); sorts v in place. 0 for n = 0. */
double quantile(double *v, size_t n, double q);

uint64_t now_ns(void);
double ms_since(uint64_t start_ns);

/* Option parsing: "--name value" pairs after the subcommand. */
const char *opt_str(int argc, char **argv, const char *name, const char *fallback);
long opt_long(int argc, char **argv, const char *name, long fallback);
bool opt_flag(int argc, char **argv, const char *name);
/* Positional arguments: those not starting with "--" and not the value of an option that takes
 * one (listed in valued, NULL-terminated). */
int positionals(int argc, char **argv, const char *const *valued, char **out, int max);

/* Print "deja: <what>: STATUS: message" and return 1 (for main's exit code). */
int fail(const char *what, deja_status st, const char *message);

/* Subcommands. */
int cmd_vocab(int argc, char **argv);
int cmd_orb(int argc, char **argv);
int cmd_bow(int argc, char **argv);
int cmd_demo(int argc, char **argv);
int cmd_synth(int argc, char **argv);
int cmd_run(int argc, char **argv);
int cmd_eval(int argc, char **argv);


#endif
