#define _GNU_SOURCE /* statx */
#include "output_file.h"

#include <errno.h>
#include <fcntl.h>
#include <limits.h>
#include <stdlib.h>
#include <sys/stat.h>
#include <unistd.h>

/* How the target will be written. */
typedef enum { TARGET_STDOUT, TARGET_IN_PLACE, TARGET_ATOMIC } TargetKind;

typedef struct {
    TargetKind kind;
    char *final;      /* where the data lands (TARGET_ATOMIC: after the rename) */
    int exists;       /* final exists (a regular file) */
    mode_t mode;      /* its permission bits, kept by the replacement */
} Target;

static int starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

/* /dev/stdout, /dev/stderr, /dev/fd/N, /proc/PID/fd/N: an open descriptor's name. */
static int names_a_descriptor(const char *path) {
    return !strcmp(path, "/dev/stdout") || !strcmp(path, "/dev/stderr") || starts_with(path, "/dev/fd/") ||
           (starts_with(path, "/proc/") && strstr(path, "/fd/") != NULL);
}

/* A file mounted on its own (a container's bind mount of one file): a rename
 * over it would fail after the run (EBUSY), so it is written in place. */
static int is_mount_point(const char *path, const struct stat *st) {
    char *dir = xstrdup(path), *slash = strrchr(dir, '/');
    if (!slash) strcpy(dir, ".");
    else if (slash == dir) dir[1] = 0;
    else *slash = 0;
    struct stat d;
    int mounted = stat(dir, &d) == 0 && d.st_dev != st->st_dev;
#ifdef STATX_MNT_ID
    /* a bind mount within one file system keeps st_dev: the mount ids tell */
    struct statx fx, dx;
    if (!mounted && statx(AT_FDCWD, path, 0, STATX_MNT_ID, &fx) == 0 && statx(AT_FDCWD, dir, 0, STATX_MNT_ID, &dx) == 0 &&
        (fx.stx_mask & dx.stx_mask & STATX_MNT_ID))
        mounted = fx.stx_mnt_id != dx.stx_mnt_id;
#endif
    free(dir);
    return mounted;
}

/* Follows path's symbolic links hop by hop (dangling ones too, unlike
 * realpath) to the name the data should land at. */
static char *resolve_links(const char *path, Error *err) {
    char *cur = xstrdup(path);
    for (int hop = 0; hop < 40; hop++) {
        struct stat st;
        if (lstat(cur, &st) != 0 || !S_ISLNK(st.st_mode)) return cur;
        char link[4096];
        ssize_t n = readlink(cur, link, sizeof link - 1);
        if (n < 0) {
            error_set(err, "%s: cannot read the symbolic link %s: %s", path, cur, strerror(errno));
            free(cur);
            return NULL;
        }
        link[n] = 0;
        char *next;
        if (link[0] == '/') {
            next = xstrdup(link);
        } else { /* relative to the link's own directory */
            const char *slash = strrchr(cur, '/');
            size_t dir = slash ? (size_t)(slash - cur) + 1 : 0;
            next = xmalloc(dir + (size_t)n + 1);
            memcpy(next, cur, dir);
            memcpy(next + dir, link, (size_t)n + 1);
        }
        free(cur);
        cur = next;
    }
    error_set(err, "%s: too many levels of symbolic links", path);
    free(cur);
    return NULL;
}

/* The longest name a file in final's directory (its first dir bytes) may
 * have: the file system's limit, and short enough that the whole path stays
 * under PATH_MAX. */
static size_t name_room(const char *final, size_t dir) {
    char *d = dir ? xstrdup(final) : xstrdup(".");
    if (dir) d[dir] = 0;
    long max = pathconf(d, _PC_NAME_MAX);
    free(d);
    size_t room = max > 0 && max < NAME_MAX ? (size_t)max : NAME_MAX;
    return dir + room < PATH_MAX ? room : (dir < PATH_MAX ? PATH_MAX - 1 - dir : 0);
}

/* 32-bit FNV-1a: tells apart long names cut to the same start. */
static unsigned name_hash(const char *s) {
    unsigned h = 2166136261u;
    for (; *s; s++) h = (h ^ (unsigned char)*s) * 16777619u;
    return h;
}

/* The temporary file beside final: NAME.tmp.PID (.ATTEMPT after a clash).
 * A NAME within a few bytes of the name limit (246-255 bytes under NAME_MAX
 * 255) would make that too long to create, so NAME is then cut to fit, at a
 * UTF-8 character boundary, and a hash of the whole NAME added:
 * NAME-CUT~HASH.tmp.PID. Still in the same directory (the rename stays on one
 * file system) and unique to this process. */
static char *tmp_name(const char *final, int attempt) {
    const char *slash = strrchr(final, '/');
    size_t dir = slash ? (size_t)(slash - final) + 1 : 0, base_len = strlen(final + dir);
    const char *base = final + dir;
    char suffix[48];
    if (attempt == 0) snprintf(suffix, sizeof suffix, ".tmp.%ld", (long)getpid());
    else snprintf(suffix, sizeof suffix, ".tmp.%ld.%d", (long)getpid(), attempt);
    size_t n = strlen(final) + sizeof suffix + 16, room = name_room(final, dir), fixed = strlen(suffix);
    char *t = xmalloc(n);
    if (base_len + fixed <= room) {
        snprintf(t, n, "%s%s", final, suffix);
        return t;
    }
    char hash[16];
    snprintf(hash, sizeof hash, "~%08x", name_hash(base));
    fixed += strlen(hash);
    size_t keep = room > fixed ? room - fixed : 0;
    if (keep > base_len) keep = base_len;
    while (keep > 0 && ((unsigned char)base[keep] & 0xC0) == 0x80) keep--; /* not inside a character */
    snprintf(t, n, "%.*s%s%s", (int)(dir + keep), final, hash, suffix);
    return t;
}

static int classify(const char *path, Target *t, Error *err) {
    memset(t, 0, sizeof *t);
    if (!path[0]) return error_set(err, "the output path is empty");
    if (!strcmp(path, "-")) {
        t->kind = TARGET_STDOUT;
        return 0;
    }
    struct stat st;
    int exists = stat(path, &st) == 0; /* follows links */
    if (!exists && errno != ENOENT) return error_set(err, "%s: cannot use as output: %s", path, strerror(errno));
    if (exists && (S_ISDIR(st.st_mode) || S_ISBLK(st.st_mode) || S_ISSOCK(st.st_mode)))
        return error_set(err, "%s: cannot write the output to %s", path, file_kind_name(st.st_mode));
    /* The file stdout already writes (-o /dev/stdout with stdout redirected,
     * even with >>): written through stdout, never reopened and truncated. */
    if (exists && output_is_stdout(path)) {
        t->kind = TARGET_STDOUT;
        return 0;
    }
    /* Devices, pipes and the names of open descriptors (/dev/fd/N,
     * /proc/self/fd/N) mean "write here", as in a shell redirection. */
    if (exists && (!S_ISREG(st.st_mode) || names_a_descriptor(path) || is_mount_point(path, &st))) {
        t->kind = TARGET_IN_PLACE;
        t->final = xstrdup(path);
        return 0;
    }
    t->kind = TARGET_ATOMIC;
    t->final = resolve_links(path, err);
    if (!t->final) return -1;
    /* a file the user may not write is not replaced either (the rename alone would allow it) */
    if (exists && access(t->final, W_OK) != 0) return error_set(err, "%s: cannot write the output: %s", path, strerror(errno));
    t->exists = exists;
    t->mode = exists ? st.st_mode & 07777 : 0;
    return 0;
}

static int check_not_an_input(const char *path, const OutputInput *inputs, int n, Error *err) {
    struct stat out;
    if (!strcmp(path, "-") || stat(path, &out) != 0) return 0; /* a new file is no input */
    for (int i = 0; i < n; i++) {
        struct stat in;
        if (inputs[i].path && stat(inputs[i].path, &in) == 0 && in.st_dev == out.st_dev && in.st_ino == out.st_ino)
            return error_set(err, "%s: the output is the same file as %s (%s); refusing to overwrite it", path, inputs[i].role,
                             inputs[i].path);
    }
    return 0;
}

/* Creates the temporary file beside final (O_EXCL: never an existing name;
 * one a killed run left with this process id is passed over). *tmp gets its name. */
static int create_tmp(const char *target, const char *final, char **tmp, Error *err) {
    for (int attempt = 0; attempt < 100; attempt++) {
        *tmp = tmp_name(final, attempt);
        int fd = open(*tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
        if (fd >= 0) return fd;
        int e = errno;
        if (e != EEXIST || attempt == 99) {
            error_set(err, "%s: cannot create output (as %s): %s", target, *tmp, strerror(e));
            free(*tmp);
            *tmp = NULL;
            return -1;
        }
        free(*tmp);
    }
    return -1;
}

/* What output_check and output_open both start with: the target's kind, and not an input. */
static int classify_output(const char *path, const OutputInput *inputs, int n, Target *t, Error *err) {
    if (classify(path, t, err) == 0 && check_not_an_input(path, inputs, n, err) == 0) return 0;
    free(t->final);
    t->final = NULL;
    return -1;
}

int output_check(const char *path, const OutputInput *inputs, int n, Error *err) {
    Target t;
    if (classify_output(path, inputs, n, &t, err) != 0) return -1;
    int rc = 0;
    if (t.kind == TARGET_IN_PLACE && access(t.final, W_OK) != 0) {
        rc = error_set(err, "%s: cannot write the output: %s", path, strerror(errno));
    } else if (t.kind == TARGET_ATOMIC) {
        char *tmp = NULL;
        int fd = create_tmp(path, t.final, &tmp, err);
        if (fd < 0) rc = -1;
        else {
            close(fd);
            unlink(tmp);
        }
        free(tmp);
    }
    free(t.final);
    return rc;
}

int output_open(OutputFile *f, const char *path, const OutputInput *inputs, int n, Error *err) {
    memset(f, 0, sizeof *f);
    Target t;
    if (classify_output(path, inputs, n, &t, err) != 0) return -1;
    f->target = xstrdup(path);
    f->final = t.final;
    if (t.kind == TARGET_STDOUT) {
        f->fp = stdout;
        return 0;
    }
    f->close_fp = 1;
    if (t.kind == TARGET_IN_PLACE) {
        f->fp = fopen(t.final, "w");
        if (!f->fp) {
            error_set(err, "%s: cannot write the output: %s", path, strerror(errno));
            output_abort(f);
            return -1;
        }
        return 0;
    }
    int fd = create_tmp(path, t.final, &f->tmp, err);
    if (fd < 0) { /* f->tmp is NULL: nothing of ours to remove */
        output_abort(f);
        return -1;
    }
    if (t.exists) (void)fchmod(fd, t.mode); /* the replacement keeps the old file's permissions */
    f->fp = fdopen(fd, "wb");
    if (!f->fp) {
        close(fd);
        error_set(err, "%s: cannot write the output: %s", path, strerror(errno));
        output_abort(f);
        return -1;
    }
    return 0;
}

int output_commit(OutputFile *f, Error *err) {
    errno = 0;
    int bad = fflush(f->fp) != 0 || ferror(f->fp), saved = errno;
    /* on disk before the rename, so that a crash leaves the old file or the new one, never an empty one */
    if (!bad && f->tmp && fsync(fileno(f->fp)) != 0) bad = 1, saved = errno;
    if (f->close_fp) {
        errno = 0;
        if (fclose(f->fp) != 0 && !bad) bad = 1, saved = errno;
    }
    f->fp = NULL;
    if (bad) {
        error_set(err, "%s: write failed: %s", f->tmp ? f->tmp : f->target, saved ? strerror(saved) : "I/O error");
        output_abort(f);
        return -1;
    }
    if (f->tmp && rename(f->tmp, f->final) != 0) {
        /* the results are complete: keep them where they are, and say where */
        error_set(err, "%s: cannot rename the output into place (%s); the results are kept in %s", f->target, strerror(errno), f->tmp);
        free(f->tmp);
        f->tmp = NULL;
        output_abort(f);
        return -1;
    }
    free(f->tmp);
    f->tmp = NULL;
    output_abort(f); /* frees the names */
    return 0;
}

void output_abort(OutputFile *f) {
    if (f->fp && f->close_fp) fclose(f->fp);
    f->fp = NULL;
    if (f->tmp) unlink(f->tmp);
    free(f->tmp);
    free(f->final);
    free(f->target);
    f->tmp = f->final = f->target = NULL;
}

int output_is_jsonl(const char *path) {
    size_t n = strlen(path);
    return n >= 6 && strcmp(path + n - 6, ".jsonl") == 0;
}

int output_is_stdout(const char *path) {
    struct stat a, b;
    if (!strcmp(path, "-")) return 1;
    return stat(path, &a) == 0 && fstat(1, &b) == 0 && a.st_dev == b.st_dev && a.st_ino == b.st_ino;
}

int output_same_target(const char *a, const char *b) {
    if (!strcmp(a, b)) return 1;
    struct stat sa, sb;
    if (stat(a, &sa) == 0 && stat(b, &sb) == 0) return sa.st_dev == sb.st_dev && sa.st_ino == sb.st_ino;
    /* a new name: the same when the links resolve to the same final name in the same directory */
    Error ignored;
    char *ra = resolve_links(a, &ignored), *rb = resolve_links(b, &ignored);
    int same = 0;
    if (ra && rb) {
        const char *na = strrchr(ra, '/'), *nb = strrchr(rb, '/');
        na = na ? na + 1 : ra, nb = nb ? nb + 1 : rb;
        char *da = xstrdup(ra), *db = xstrdup(rb);
        da[na - ra] = 0, db[nb - rb] = 0;
        struct stat xa, xb;
        same = !strcmp(na, nb) && stat(*da ? da : ".", &xa) == 0 && stat(*db ? db : ".", &xb) == 0 && xa.st_dev == xb.st_dev &&
               xa.st_ino == xb.st_ino;
        free(da), free(db);
    }
    free(ra), free(rb);
    return same;
}
