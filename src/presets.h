/* presets.h - model shapes by name: the real gpt-oss-20b and -120b shapes and
 * small ones for tests and CPU benchmarks. */
#ifndef GETP_PRESETS_H
#define GETP_PRESETS_H

#include "model.h"

/* Fills c with the preset `name` ("tiny", "mid", "20b", "120b"); -1 if unknown. */
int preset_config(const char *name, ModelConfig *c);
/* Space-separated list of preset names, for --help. */
const char *preset_names(void);

#endif
