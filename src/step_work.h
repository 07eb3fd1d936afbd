/* step_work.h - the work in each operation of a forward step, so that a
 * measured time can be set against the device's limits (the roofline): the
 * floating-point operations the math needs (a multiply-add is 2, as tensor
 * peaks count them; getp's hi + lo products do twice that on the tensor
 * cores, which is the cost of its precision) and the bytes that must cross
 * DRAM at least once (weights read, the KV cache read; activations are
 * small beside them and left out).
 * The experts' bytes assume every expert the rows could route to is read:
 * min(E, rows x k) of them (at batch 1, 4 of 32; at 8 rows and more,
 * usually all), which makes the bytes an upper bound where fewer are hit. */
#ifndef GETP_STEP_WORK_H
#define GETP_STEP_WORK_H

#include "model.h"

typedef enum { WORK_QKV, WORK_ATTENTION, WORK_O, WORK_ROUTER, WORK_GATE_UP, WORK_DOWN, WORK_UNEMBEDDING, WORK_KINDS } WorkKind;

typedef struct {
    double flops, bytes;
} Work;

/* What one step's rows put through one operation of layer `layer` (the
 * unembedding: any layer; n_out rows). keys: the positions the rows'
 * attention reads in this layer, summed over the rows (step_work_keys). */
Work step_work(const Model *m, int layer, WorkKind kind, int rows, long keys, int n_out);

/* The keys a row at position pos reads in layer `layer`: pos + 1, or the
 * sliding window's worth. */
long step_work_keys(const ModelConfig *c, int layer, int pos);

#endif
