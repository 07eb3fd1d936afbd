#define _POSIX_C_SOURCE 200809L
#include "output_file.h"

#include <errno.h>
#include <fcntl.h>
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

static const char *file_kind(mode_t m) {
    if (S_ISDIR(m)) return "a directory";
    if (S_ISBLK(m)) return "a block device";
    if (S_ISSOCK(m)) return "a socket";
    if (S_ISFIFO(m)) return "a FIFO";
    if (S_ISCHR(m)) return "a character device";
    return "a special file";
}

static int starts_with(const char *s, const char *prefix) { return strncmp(s, prefix, strlen(prefix)) == 0; }

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

static char *tmp_name(const char *final) {
    size_t n = strlen(final) + 32;
    char *t = xmalloc(n);
    snprintf(t, n, "%s.tmp.%ld", final, (long)getpid());
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
        return error_set(err, "%s: cannot write the output to %s", path, file_kind(st.st_mode));
    /* Devices, pipes and the names of open descriptors (/dev/stdout,
     * /dev/fd/N, /proc/self/fd/N) mean "write here", as in a shell redirection. */
    if (exists && (!S_ISREG(st.st_mode) || starts_with(path, "/dev/") || starts_with(path, "/proc/"))) {
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

/* Creates the temporary file (O_EXCL: never an existing name). */
static int create_tmp(const char *target, const char *tmp, Error *err) {
    int fd = open(tmp, O_WRONLY | O_CREAT | O_EXCL | O_CLOEXEC, 0666);
    if (fd < 0) return error_set(err, "%s: cannot create output (as %s): %s", target, tmp, strerror(errno));
    return fd;
}

int output_check(const char *path, const OutputInput *inputs, int n, Error *err) {
    Target t;
    if (classify(path, &t, err) != 0 || check_not_an_input(path, inputs, n, err) != 0) {
        free(t.final);
        return -1;
    }
    int rc = 0;
    if (t.kind == TARGET_IN_PLACE && access(t.final, W_OK) != 0) {
        rc = error_set(err, "%s: cannot write the output: %s", path, strerror(errno));
    } else if (t.kind == TARGET_ATOMIC) {
        char *tmp = tmp_name(t.final);
        int fd = create_tmp(path, tmp, err);
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
    if (classify(path, &t, err) != 0 || check_not_an_input(path, inputs, n, err) != 0) {
        free(t.final);
        return -1;
    }
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
    f->tmp = tmp_name(t.final);
    int fd = create_tmp(path, f->tmp, err);
    if (fd < 0) {
        free(f->tmp);
        f->tmp = NULL; /* not ours to remove */
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
    int bad = fflush(f->fp) != 0 || ferror(f->fp);
    int saved = errno;
    if (f->close_fp) {
        bad |= fclose(f->fp) != 0;
        if (bad && !saved) saved = errno;
    }
    f->fp = NULL;
    if (bad) {
        error_set(err, "%s: write failed: %s", f->tmp ? f->tmp : f->target, strerror(saved));
        output_abort(f);
        return -1;
    }
    if (f->tmp && rename(f->tmp, f->final) != 0) {
        error_set(err, "%s: cannot rename the output into place: %s", f->target, strerror(errno));
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
