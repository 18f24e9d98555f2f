/* util.c - path lists, progress bar, timing and option parsing for the CLI. */
#define _POSIX_C_SOURCE 200809L
#include "cli.h"

#include <dirent.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <strings.h>
#include <sys/stat.h>
#include <time.h>
#include <unistd.h>

static int cmp_double(const void *a, const void *b)
{
    double x = *(const double *)a, y = *(const double *)b;
    return (x > y) - (x < y);
}

double quantile(double *v, size_t n, double q)
{
    if (n == 0) return 0;
    qsort(v, n, sizeof *v, cmp_double);
    size_t i = (size_t)(q * (double)(n - 1) + 0.5);
    return v[i < n ? i : n - 1];
}

uint64_t now_ns(void)
{
    struct timespec ts;
    clock_gettime(CLOCK_MONOTONIC, &ts);
    return (uint64_t)ts.tv_sec * 1000000000u + (uint64_t)ts.tv_nsec;
}

double ms_since(uint64_t start_ns)
{
    return (double)(now_ns() - start_ns) / 1e6;
}

static bool push(path_list *l, const char *path)
{
    if (l->n == l->cap) {
        size_t cap = l->cap ? l->cap * 2 : 64;
        char **p = realloc(l->paths, cap * sizeof *p);
        if (!p) return false;
        l->paths = p;
        l->cap = cap;
    }
    l->paths[l->n] = strdup(path);
    return l->paths[l->n++] != NULL;
}

static bool is_image_name(const char *name)
{
    const char *dot = strrchr(name, '.');
    if (!dot || name[0] == '.') return false;
    static const char *const exts[] = {".png", ".jpg", ".jpeg", ".pgm", ".ppm", ".pnm"};
    for (size_t i = 0; i < sizeof exts / sizeof *exts; i++)
        if (strcasecmp(dot, exts[i]) == 0) return true;
    return false;
}

static int by_name(const void *a, const void *b)
{
    return strcmp(*(char *const *)a, *(char *const *)b);
}

static bool add_folder(path_list *l, const char *dir)
{
    DIR *d = opendir(dir);
    if (!d) {
        fprintf(stderr, "deja: %s: cannot open folder\n", dir);
        return false;
    }
    size_t first = l->n;
    struct dirent *e;
    char buf[4096];
    while ((e = readdir(d)) != NULL) {
        if (!is_image_name(e->d_name)) continue;
        snprintf(buf, sizeof buf, "%s/%s", dir, e->d_name);
        if (!push(l, buf)) {
            closedir(d);
            return false;
        }
    }
    closedir(d);
    qsort(l->paths + first, l->n - first, sizeof *l->paths, by_name);
    if (l->n == first) fprintf(stderr, "deja: %s: no images (.png .jpg .pgm .ppm) found\n", dir);
    return l->n > first;
}

static bool add_list_file(path_list *l, const char *file)
{
    FILE *f = fopen(file, "r");
    if (!f) {
        fprintf(stderr, "deja: %s: cannot open list file\n", file);
        return false;
    }
    char dir[4096];
    snprintf(dir, sizeof dir, "%s", file);
    char *slash = strrchr(dir, '/');
    if (slash) *slash = 0;
    else snprintf(dir, sizeof dir, ".");
    char line[4096], buf[8200];
    bool ok = true;
    while (ok && fgets(line, sizeof line, f)) {
        line[strcspn(line, "\r\n")] = 0;
        if (!line[0] || line[0] == '#') continue;
        if (line[0] == '/') snprintf(buf, sizeof buf, "%s", line);
        else snprintf(buf, sizeof buf, "%s/%s", dir, line);
        ok = push(l, buf);
    }
    fclose(f);
    return ok;
}

bool paths_add(path_list *list, const char *folder_or_list)
{
    struct stat st;
    if (stat(folder_or_list, &st) != 0) {
        fprintf(stderr, "deja: %s: no such file or folder\n", folder_or_list);
        return false;
    }
    if (S_ISDIR(st.st_mode)) return add_folder(list, folder_or_list);
    if (is_image_name(folder_or_list)) return push(list, folder_or_list);
    return add_list_file(list, folder_or_list);
}

bool paths_add_all(path_list *list, char **inputs, int n)
{
    for (int i = 0; i < n; i++)
        if (!paths_add(list, inputs[i])) {
            paths_free(list);
            return false;
        }
    return true;
}

void paths_free(path_list *list)
{
    for (size_t i = 0; i < list->n; i++) free(list->paths[i]);
    free(list->paths);
    memset(list, 0, sizeof *list);
}

void progress_start(progress *p, const char *label, uint64_t total)
{
    p->label = label;
    p->total = total ? total : 1;
    p->start_ns = p->last_ns = now_ns();
    p->tty = isatty(STDERR_FILENO);
    progress_update(p, 0);
}

void progress_update(progress *p, uint64_t done)
{
    if (!p->tty) return;
    uint64_t t = now_ns();
    if (done != 0 && done < p->total && t - p->last_ns < 100000000u) return;
    p->last_ns = t;
    double frac = (double)done / (double)p->total;
    if (frac > 1) frac = 1;
    int width = 30, fill = (int)(frac * width + 0.5);
    char bar[32];
    for (int i = 0; i < width; i++) bar[i] = i < fill ? '#' : '.';
    bar[width] = 0;
    double s = (double)(t - p->start_ns) / 1e9;
    double eta = frac > 0.001 ? s / frac - s : 0;
    fprintf(stderr, "\r%-10s [%s] %5.1f%%  %.1fs  eta %.1fs ", p->label, bar, frac * 100, s, eta);
}

void progress_end(progress *p)
{
    if (!p->tty) return;
    progress_update(p, p->total);
    fputc('\n', stderr);
}

static int find_opt(int argc, char **argv, const char *name)
{
    for (int i = 0; i < argc; i++)
        if (strcmp(argv[i], name) == 0) return i;
    return -1;
}

const char *opt_str(int argc, char **argv, const char *name, const char *fallback)
{
    int i = find_opt(argc, argv, name);
    return i >= 0 && i + 1 < argc ? argv[i + 1] : fallback;
}

long opt_long(int argc, char **argv, const char *name, long fallback)
{
    const char *s = opt_str(argc, argv, name, NULL);
    if (!s) return fallback;
    char *end;
    long v = strtol(s, &end, 10);
    if (*end || end == s) {
        fprintf(stderr, "deja: %s expects a whole number, got '%s'\n", name, s);
        exit(2);
    }
    return v;
}

bool opt_flag(int argc, char **argv, const char *name)
{
    return find_opt(argc, argv, name) >= 0;
}

int positionals(int argc, char **argv, const char *const *valued, char **out, int max)
{
    int n = 0;
    for (int i = 0; i < argc; i++) {
        if (strncmp(argv[i], "--", 2) == 0 || (argv[i][0] == '-' && argv[i][1] && argv[i][1] != '-'
                                              && argv[i][2] == 0)) {
            for (const char *const *v = valued; v && *v; v++)
                if (strcmp(argv[i], *v) == 0) {
                    i++;
                    break;
                }
            continue;
        }
        if (n < max) out[n] = argv[i];
        n++;
    }
    return n;
}

int fail(const char *what, deja_status st, const char *message)
{
    fprintf(stderr, "deja: %s: %s: %s\n", what, deja_status_name(st), message ? message : "");
    return 1;
}
