#include "binding.h"

#include <hwloc.h>
#include <stdio.h>
#include <string.h>

static int core_count(hwloc_topology_t topo) {
    int n = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE);
    return n > 0 ? n : hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_PU);
}

int allowed_cores(void) {
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0 || hwloc_topology_load(topo) != 0) return 1;
    int n = core_count(topo);
    hwloc_topology_destroy(topo);
    return n > 0 ? n : 1;
}

int bind_rank(int local_rank, int local_size, const char *pci_bus_id, char *desc, size_t desc_len) {
    hwloc_topology_t topo;
    if (hwloc_topology_init(&topo) != 0) {
        snprintf(desc, desc_len, "unbound (hwloc init failed)");
        return -1;
    }
    hwloc_topology_set_io_types_filter(topo, HWLOC_TYPE_FILTER_KEEP_IMPORTANT);
    if (hwloc_topology_load(topo) != 0) {
        hwloc_topology_destroy(topo);
        snprintf(desc, desc_len, "unbound (hwloc topology failed)");
        return -1;
    }
    /* A launcher that already pinned this rank to part of the node (srun
     * --cpu-bind, mpirun --bind-to core) knows the allocation: keep it. */
    hwloc_bitmap_t current = hwloc_bitmap_alloc();
    hwloc_const_bitmap_t allowed = hwloc_topology_get_allowed_cpuset(topo);
    if (hwloc_get_cpubind(topo, current, HWLOC_CPUBIND_PROCESS) == 0 && !hwloc_bitmap_iszero(current) &&
        hwloc_bitmap_isincluded(current, allowed) && !hwloc_bitmap_isequal(current, allowed)) {
        char list[256];
        hwloc_bitmap_list_snprintf(list, sizeof list, current);
        snprintf(desc, desc_len, "cores %s (launcher)", list);
        int n = hwloc_get_nbobjs_inside_cpuset_by_type(topo, current, HWLOC_OBJ_PU);
        hwloc_bitmap_free(current);
        hwloc_topology_destroy(topo);
        return n > 0 ? n : 1;
    }
    hwloc_bitmap_free(current);
    hwloc_obj_type_t unit = hwloc_get_nbobjs_by_type(topo, HWLOC_OBJ_CORE) > 0 ? HWLOC_OBJ_CORE : HWLOC_OBJ_PU;
    hwloc_bitmap_t set = hwloc_bitmap_alloc();
    const char *where = "";
    if (pci_bus_id) {
        /* the cores nearest the GPU; several GPUs per socket share them out */
        hwloc_obj_t dev = hwloc_get_pcidev_by_busidstring(topo, pci_bus_id);
        hwloc_obj_t anc = dev ? hwloc_get_non_io_ancestor_obj(topo, dev) : NULL;
        if (anc) {
            hwloc_bitmap_copy(set, anc->cpuset);
            where = "near GPU ";
        }
    }
    if (hwloc_bitmap_iszero(set)) hwloc_bitmap_copy(set, allowed);
    else hwloc_bitmap_and(set, set, allowed);
    /* a contiguous share of the units in `set` */
    int total = hwloc_get_nbobjs_inside_cpuset_by_type(topo, set, unit);
    if (total <= 0) total = 1;
    int per = total / local_size, lo, hi;
    if (per >= 1) {
        lo = local_rank * per;
        hi = local_rank == local_size - 1 ? total : lo + per;
    } else {
        lo = local_rank % total;
        hi = lo + 1;
    }
    hwloc_bitmap_t mine = hwloc_bitmap_alloc();
    for (int i = lo; i < hi; i++) {
        hwloc_obj_t o = hwloc_get_obj_inside_cpuset_by_type(topo, set, unit, (unsigned)i);
        if (o) hwloc_bitmap_or(mine, mine, o->cpuset);
    }
    int rc = hwloc_set_cpubind(topo, mine, HWLOC_CPUBIND_PROCESS);
    char list[256];
    hwloc_bitmap_list_snprintf(list, sizeof list, mine);
    if (rc != 0) snprintf(desc, desc_len, "unbound (hwloc_set_cpubind failed for %s)", list);
    else snprintf(desc, desc_len, "%scores %s", where, list);
    hwloc_bitmap_free(mine);
    hwloc_bitmap_free(set);
    hwloc_topology_destroy(topo);
    return rc != 0 ? -1 : hi - lo;
}
