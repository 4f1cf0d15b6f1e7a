/*
 * CPUID models: -cpu NAME[,+feat,-feat,feat=on|off]. The model filters
 * what the accelerator can provide (KVM_GET_SUPPORTED_CPUID, or the
 * interpreter's own list) down to what the user asked for.
 */
#ifndef TARGET_X86_CPUID_H
#define TARGET_X86_CPUID_H

#include <stdbool.h>
#include <stdint.h>
#include <glib.h>

typedef struct CpuidEntry {
    uint32_t function, index;
    uint32_t flags;               /* CPUID_FLAG_* */
    uint32_t eax, ebx, ecx, edx;
} CpuidEntry;

#define CPUID_FLAG_SIGNIFICANT_INDEX 1u   /* leaf depends on ECX */

typedef struct CpuidTable {
    CpuidEntry *e;
    unsigned n;
} CpuidTable;

typedef struct CpuModel CpuModel;

/*
 * Parse a -cpu argument. Returns NULL with @errp set for an unknown model
 * or feature name. "help" is handled by cpu_model_list().
 */
CpuModel *cpu_model_parse(const char *spec, GError **errp);
void cpu_model_free(CpuModel *m);
void cpu_model_list(FILE *f);

/*
 * Build the CPUID table for vCPU @index with APIC ID @apic_id of @ncpus,
 * from @supported (what the accelerator can do). A feature the user
 * forced on that @supported lacks is an error naming it.
 */
bool cpu_model_build(const CpuModel *m, const CpuidTable *supported,
                     unsigned index, uint32_t apic_id, unsigned ncpus,
                     CpuidTable *out, GError **errp);

#endif
