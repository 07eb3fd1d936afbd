#include "mpi_options.h"

#include <string.h>

static const char USAGE[] = "  --load L         how GPU ranks get the weights: auto (default: peer copy from\n"
                            "                   the node's first GPU where possible), host or peer\n"
                            "  --schedule S     balanced (default), block or cyclic\n"
                            "  --no-bind        do not bind ranks to cores\n";
static const char *const FLAGS[] = {"--no-bind", NULL};
static const char *const VALUED[] = {"--load", "--schedule", NULL};

static int load_parse(const char *name, LoadMethod *m) {
    if (!strcmp(name, "auto")) *m = LOAD_AUTO;
    else if (!strcmp(name, "host")) *m = LOAD_HOST;
    else if (!strcmp(name, "peer")) *m = LOAD_PEER;
    else return -1;
    return 0;
}

/* ExtraOptions.set: opt is one of FLAGS or VALUED. */
static int set(void *ctx, const char *opt, const char *v, const char *prog, FILE *errs) {
    MpiOptions *mo = ctx;
    if (!strcmp(opt, "--no-bind")) {
        mo->no_bind = 1;
    } else if (!strcmp(opt, "--schedule")) {
        if (schedule_parse(v, &mo->schedule) != 0) {
            if (errs) fprintf(errs, "%s: unknown schedule '%s' (balanced, block, cyclic)\n", prog, v);
            return -1;
        }
    } else if (load_parse(v, &mo->load) != 0) { /* --load */
        if (errs) fprintf(errs, "%s: unknown load method '%s' (auto, host, peer)\n", prog, v);
        return -1;
    }
    return 0;
}

int mpi_options_parse(Options *o, MpiOptions *mo, int argc, char **argv, const char *prog, FILE *errs) {
    *mo = (MpiOptions){SCHEDULE_BALANCED, LOAD_AUTO, 0};
    ExtraOptions extra = {USAGE, FLAGS, VALUED, set, mo};
    return options_parse(o, argc, argv, prog, &extra, errs);
}
