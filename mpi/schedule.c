#include "schedule.h"

#include <stdlib.h>
#include <string.h>

int schedule_parse(const char *name, ScheduleKind *kind) {
    if (!strcmp(name, "balanced")) *kind = SCHEDULE_BALANCED;
    else if (!strcmp(name, "block")) *kind = SCHEDULE_BLOCK;
    else if (!strcmp(name, "cyclic")) *kind = SCHEDULE_CYCLIC;
    else return -1;
    return 0;
}

typedef struct {
    long work;
    int index;
} Item;

static int by_work_desc(const void *a, const void *b) {
    const Item *x = a, *y = b;
    if (x->work != y->work) return x->work > y->work ? -1 : 1;
    return x->index - y->index;
}

void schedule_assign(ScheduleKind kind, const long *work, int n, int k, int *owner, int *order, int *first) {
    Item *items = malloc((size_t)(n > 0 ? n : 1) * sizeof *items);
    for (int i = 0; i < n; i++) items[i] = (Item){work[i], i};
    if (kind == SCHEDULE_BALANCED) {
        qsort(items, (size_t)n, sizeof *items, by_work_desc);
        long *load = calloc((size_t)k, sizeof *load);
        for (int j = 0; j < n; j++) {
            int best = 0;
            for (int r = 1; r < k; r++)
                if (load[r] < load[best]) best = r;
            owner[items[j].index] = best;
            load[best] += items[j].work;
        }
        free(load);
    } else {
        for (int i = 0; i < n; i++)
            owner[i] = kind == SCHEDULE_CYCLIC ? i % k : (int)((long)i * k / n);
    }
    /* group by rank, keeping the order above (longest first for balanced) */
    for (int r = 0; r <= k; r++) first[r] = 0;
    for (int i = 0; i < n; i++) first[owner[i] + 1]++;
    for (int r = 0; r < k; r++) first[r + 1] += first[r];
    int *fill = malloc((size_t)k * sizeof *fill);
    memcpy(fill, first, (size_t)k * sizeof *fill);
    for (int j = 0; j < n; j++) {
        int i = items[j].index;
        order[fill[owner[i]]++] = i;
    }
    free(fill);
    free(items);
}
