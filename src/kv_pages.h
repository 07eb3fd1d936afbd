/* kv_pages.h - a paged KV cache's bookkeeping: which pages of positions
 * each slot holds, out of one pool.
 *
 * A slot holds positions only once reserved: kv_pages_reserve hands it the
 * pages for positions [0, n) at once (the decode loop reserves a request's
 * prompt and max_tokens when it admits it), so a run never needs a page it
 * does not have and nothing is ever preempted; the pool bounds the tokens
 * held, not slots x context. Position p of a slot lives in entry
 * kv_pages_entry(slot, p) = page x page_size + p % page_size of the pool.
 * The backends keep the keys and values; this only says where. */
#ifndef GETP_KV_PAGES_H
#define GETP_KV_PAGES_H

typedef struct {
    int page_size;      /* positions per page */
    int n_pages;        /* the pool */
    int max_slots;
    int max_positions;  /* per slot */
    int pages_per_slot; /* enough for max_positions */
    int *table;         /* [max_slots][pages_per_slot]: page ids, the first held[slot] valid */
    int *held;          /* pages each slot holds */
    int *free_pages;    /* a stack of the pages nobody holds */
    int n_free;
} KvPages;

/* A pool of n_pages pages of page_size positions for max_slots slots of up
 * to max_positions each. Returns 0, or -1 when a size is not positive. */
int kv_pages_init(KvPages *kp, int page_size, int n_pages, int max_slots, int max_positions);
void kv_pages_free(KvPages *kp);

/* Pages for n positions. */
static inline int kv_pages_needed(const KvPages *kp, int n) { return (n + kp->page_size - 1) / kp->page_size; }

/* Gives back what slot holds, then makes it hold positions [0, n) (n 0:
 * nothing). Returns 0; 1 when the pool has too few pages free now (the
 * slot then holds nothing); -1 when n is outside [0, max_positions] or the
 * slot outside the table (the slot keeps what it held). */
int kv_pages_reserve(KvPages *kp, int slot, int n);

/* The pool entry of position pos of slot, or -1 when the slot does not hold it. */
static inline long kv_pages_entry(const KvPages *kp, int slot, int pos) {
    int page = pos / kp->page_size;
    if (slot < 0 || slot >= kp->max_slots || pos < 0 || page >= kp->held[slot]) return -1;
    return (long)kp->table[(long)slot * kp->pages_per_slot + page] * kp->page_size + pos % kp->page_size;
}

/* Positions slot holds. */
static inline int kv_pages_positions(const KvPages *kp, int slot) { return kp->held[slot] * kp->page_size; }

#endif
