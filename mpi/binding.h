/* binding.h - pins a rank to the cores it should use, with hwloc.
 *
 * GPU ranks: the cores nearest their GPU (the cpuset of the GPU's PCI
 * device, found by its bus id), shared out among the ranks of the node
 * whose GPUs sit in the same place. CPU ranks: a disjoint, contiguous share
 * of the node's allowed cores (at least one core each; ranks wrap around
 * when there are more ranks than cores). A rank that its launcher already
 * pinned to part of the node keeps that binding. Only cores this process may
 * use (its cgroup) are considered. */
#ifndef GETP_BINDING_H
#define GETP_BINDING_H

#include <stddef.h>

/* Binds this process. local_rank/local_size: position among the ranks of
 * the node. pci_bus_id: the GPU's "0000:3b:00.0", or NULL for CPU ranks.
 * Writes the bound cores as a list ("4-7") into desc and returns the number
 * of cores, or -1 (desc says why) when binding failed. */
int bind_rank(int local_rank, int local_size, const char *pci_bus_id, char *desc, size_t desc_len);

/* Number of cores hwloc sees as usable by this process. */
int allowed_cores(void);

#endif
