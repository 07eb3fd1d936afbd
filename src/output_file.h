/* output_file.h - writing a result file without ever destroying what the user
 * owns (docs/request-format.md, "Output").
 *
 * The target named by -o is one of:
 *   "-"                          standard output, written in place;
 *   the file stdout already is    (/dev/stdout with stdout redirected, even
 *                                with >>): written through stdout, not reopened;
 *   a character device, a FIFO, the name of an open descriptor (/dev/fd/N),
 *   or a file mounted on its own (a container's bind mount of one file):
 *                                written in place, never replaced;
 *   a regular file or a new name written under a temporary name in the same
 *                                directory (NAME.tmp.PID, or a cut NAME and a
 *                                hash where that would pass the name limit)
 *                                and renamed over the target only
 *                                when complete, so a failed run leaves no
 *                                partial file and any earlier one intact;
 *   a symbolic link              the same, at the file the link points to
 *                                (resolved through every hop): the link stays.
 * Refused: an empty name, a directory, a block device, a socket, a file the
 * user may not write (read-only: it is not replaced behind its back), and any path
 * that is the same file (device and inode, so hard links and symlinks count)
 * as one of the run's inputs.
 *
 * output_check does every check up front, before a long run, including
 * creating (and removing) the temporary file where one will be used, so that
 * a missing or read-only directory fails in milliseconds, not after the run.
 * It never opens a FIFO (that would block until a reader comes). */
#ifndef GETP_OUTPUT_FILE_H
#define GETP_OUTPUT_FILE_H

#include <stdio.h>

#include "util.h"

/* One of the run's inputs, which the output must not be. */
typedef struct {
    const char *role; /* "the request file", "the model file", ... */
    const char *path; /* NULL: not used in this run */
} OutputInput;

typedef struct {
    FILE *fp;
    char *target;    /* the path as the user gave it (for messages) */
    char *final;     /* where the data lands: the target or a symlink's end */
    char *tmp;       /* the temporary file, NULL when written in place */
    int close_fp;    /* 0 for standard output */
} OutputFile;

/* Checks that path can be written as described above and is none of inputs[0..n). */
int output_check(const char *path, const OutputInput *inputs, int n, Error *err);

/* Opens the target for writing (runs output_check's checks again). */
int output_open(OutputFile *f, const char *path, const OutputInput *inputs, int n, Error *err);

/* Flushes and closes; a temporary file is renamed over its target. On failure
 * the temporary file is removed and the target left as it was. */
int output_commit(OutputFile *f, Error *err);

/* Closes and removes the temporary file, leaving the target as it was. */
void output_abort(OutputFile *f);

/* True when path names a JSONL output: it ends in ".jsonl" (for "-", the
 * caller decides). */
int output_is_jsonl(const char *path);

/* True when path is standard output: "-", or a name of the same file
 * (/dev/stdout, or a file stdout is redirected to). Reports then go to stderr. */
int output_is_stdout(const char *path);

/* True when a and b name the same output: the same file (device and inode),
 * or, for names not created yet, the same name in the same directory once
 * links are followed. */
int output_same_target(const char *a, const char *b);

#endif
