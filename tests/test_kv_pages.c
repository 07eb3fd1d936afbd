/* test_kv_pages - the paged KV cache's bookkeeping (src/kv_pages.h)
 * against a plain model of it: random reserves and releases over a small
 * pool, after each of which no two held positions share an entry, each
 * slot holds exactly the pages its last successful reserve asked for, the
 * free count is the pool less what is held, and a reserve fails (1) exactly
 * when the pool lacks the pages. Then the bounds.
 * usage: test_kv_pages */
#include <stdlib.h>
#include <string.h>

#include "../src/kv_pages.h"
#include "../src/rng.h"
#include "check.h"

enum { PAGE = 4, POOL = 23, SLOTS = 6, MAX_POS = 30 };

/* Every held position's entry is in the pool and nobody else's. */
static int entries_disjoint(const KvPages *kp, char *seen) {
    memset(seen, 0, (size_t)POOL * PAGE);
    for (int s = 0; s < SLOTS; s++)
        for (int p = 0; p < kv_pages_positions(kp, s); p++) {
            long e = kv_pages_entry(kp, s, p);
            if (e < 0 || e >= (long)POOL * PAGE || seen[e]++) return 0;
        }
    return 1;
}

int main(void) {
    KvPages kp;
    check(kv_pages_init(&kp, PAGE, POOL, SLOTS, MAX_POS) == 0 && kp.pages_per_slot == 8 && kp.n_free == POOL, "kv_pages: a pool of 23 pages",
          "init");
    int model_pages[SLOTS] = {0}, ok = 1, refusals = 0, grants = 0;
    char seen[POOL * PAGE];
    Rng r = rng_stream(7, 0);
    for (int step = 0; step < 20000 && ok; step++) {
        int slot = (int)(rng_u64(&r) % SLOTS), n = (int)(rng_u64(&r) % (MAX_POS + 1));
        if (rng_u64(&r) % 4 == 0) n = 0; /* give back */
        int held_elsewhere = 0;
        for (int s = 0; s < SLOTS; s++) held_elsewhere += s == slot ? 0 : model_pages[s];
        int need = (n + PAGE - 1) / PAGE, fits = need <= POOL - held_elsewhere;
        int rc = kv_pages_reserve(&kp, slot, n);
        model_pages[slot] = fits ? need : 0;
        refusals += rc == 1, grants += rc == 0 && n > 0;
        int held = 0;
        for (int s = 0; s < SLOTS; s++) held += model_pages[s], ok &= kp.held[s] == model_pages[s];
        ok &= rc == (fits ? 0 : 1) && kp.n_free == POOL - held && entries_disjoint(&kp, seen);
        /* a position past what the slot holds has no entry */
        ok &= kv_pages_entry(&kp, slot, model_pages[slot] * PAGE) == -1;
    }
    char detail[96];
    snprintf(detail, sizeof detail, "%d refusals, %d grants", refusals, grants);
    check(ok && refusals > 100 && grants > 1000,
          "kv_pages: 20000 random reserves: held pages as asked, entries disjoint, refused exactly when the pool lacks pages", detail);

    int before = kp.held[2];
    check(kv_pages_reserve(&kp, 2, MAX_POS + 1) == -1 && kp.held[2] == before && kv_pages_reserve(&kp, SLOTS, 1) == -1 &&
              kv_pages_reserve(&kp, -1, 1) == -1 && kv_pages_reserve(&kp, 2, -1) == -1,
          "kv_pages: more positions than a slot may hold, a slot outside the table or a negative count is an error (-1), the slot keeps its pages",
          "bounds");
    check(kv_pages_entry(&kp, -1, 0) == -1 && kv_pages_entry(&kp, SLOTS, 0) == -1 && kv_pages_entry(&kp, 0, -1) == -1,
          "kv_pages: entries of a slot or position outside the table are -1", "entry bounds");
    KvPages bad;
    check(kv_pages_init(&bad, 0, 1, 1, 1) == -1 && kv_pages_init(&bad, 1, 0, 1, 1) == -1, "kv_pages: sizes must be positive", "init");
    kv_pages_free(&kp);
    return failures != 0;
}
