#include "kv_pages.h"

#include <stdlib.h>
#include <string.h>

#include "util.h"

int kv_pages_init(KvPages *kp, int page_size, int n_pages, int max_slots, int max_positions) {
    memset(kp, 0, sizeof *kp);
    if (page_size <= 0 || n_pages <= 0 || max_slots <= 0 || max_positions <= 0) return -1;
    kp->page_size = page_size, kp->n_pages = n_pages, kp->max_slots = max_slots, kp->max_positions = max_positions;
    kp->pages_per_slot = kv_pages_needed(kp, max_positions);
    kp->table = xmalloc((size_t)max_slots * kp->pages_per_slot * sizeof *kp->table);
    kp->held = xcalloc((size_t)max_slots, sizeof *kp->held);
    kp->free_pages = xmalloc((size_t)n_pages * sizeof *kp->free_pages);
    for (int i = 0; i < n_pages; i++) kp->free_pages[i] = n_pages - 1 - i; /* page 0 handed out first */
    kp->n_free = n_pages;
    return 0;
}

void kv_pages_free(KvPages *kp) {
    free(kp->table);
    free(kp->held);
    free(kp->free_pages);
    memset(kp, 0, sizeof *kp);
}

int kv_pages_reserve(KvPages *kp, int slot, int n) {
    if (slot < 0 || slot >= kp->max_slots || n < 0 || n > kp->max_positions) return -1;
    int *row = kp->table + (long)slot * kp->pages_per_slot;
    while (kp->held[slot] > 0) kp->free_pages[kp->n_free++] = row[--kp->held[slot]];
    int need = kv_pages_needed(kp, n);
    if (need > kp->n_free) return 1;
    for (int i = 0; i < need; i++) row[i] = kp->free_pages[--kp->n_free];
    kp->held[slot] = need;
    return 0;
}
