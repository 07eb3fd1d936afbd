/* mapping_guard.h - a clear message instead of a bare SIGBUS when a mapped
 * model file shrinks under a running process.
 *
 * The model is mmapped and read for the whole run (the CPU backend reads its
 * weights from the mapping for every token). If the file is truncated
 * meanwhile, the next read of a page past the new end raises SIGBUS, in
 * whichever thread touched it. While a mapping is registered here, such a
 * SIGBUS prints one line prepared at registration,
 *   PROG: error: PATH: the model file changed while it was being read (truncated?)
 * and ends the process with _exit(1). A SIGBUS at any other address goes to
 * the handler that was installed before ours, or takes the default action.
 *
 * The handler is process-wide (sigaction), so it covers OpenMP workers and
 * GPU runtime threads too. It is installed on the first registration. */
#ifndef GETP_MAPPING_GUARD_H
#define GETP_MAPPING_GUARD_H

#include <stddef.h>

/* Guards [addr, addr + len), a read-only mapping of the file `path`. Returns
 * 0, or -1 when every slot is taken (a handful of models open at once) or
 * memory runs out: the mapping then works as before, unguarded. */
int mapping_guard_add(const void *addr, size_t len, const char *path);

/* Forgets the mapping at addr; call it before munmap. It may wait (yielding)
 * for a handler that is reading the mapping's record in another thread. */
void mapping_guard_remove(const void *addr);

/* The lookup the handler makes for a fault at addr, for tests: -1 when addr
 * is in no guarded mapping; else the length of the line the handler would
 * print, which is copied into msg (cut to cap - 1 bytes, cap >= 1, and
 * NUL-terminated), with the mapping's range in *begin and *len. Safe to call
 * while other threads add and remove mappings. */
long mapping_guard_lookup(const void *addr, char *msg, size_t cap, const void **begin, size_t *len);

#endif
