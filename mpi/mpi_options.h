/* mpi_options.h - getp_mpi's command line: getp's options (src/options.h)
 * and the ones only a run spread over ranks has. getp_mpi --help lists
 * both; getp knows nothing of these. */
#ifndef GETP_MPI_OPTIONS_H
#define GETP_MPI_OPTIONS_H

#include <stdio.h>

#include "../src/backend.h" /* LoadMethod */
#include "../src/options.h"
#include "schedule.h"

typedef struct {
    ScheduleKind schedule;   /* --schedule: which rank runs which request (default balanced) */
    LoadMethod load;         /* --load: how GPU ranks get the weights (default auto) */
    int no_bind;             /* --no-bind: leave each rank on the cores its launcher gave it */
} MpiOptions;

/* options_parse with these options added; the same return values. */
int mpi_options_parse(Options *o, MpiOptions *mo, int argc, char **argv, const char *prog, FILE *errs);

#endif
