/* hf_config.h - reads a Hugging Face gpt-oss checkpoint's config.json into
 * a getp ModelConfig (convert_hf's first step).
 *
 * Accepted: the transformers names (4.x and 5: "rope_parameters" else
 * "rope_scaling", "rope_theta" at the top level else in the rope object)
 * and the original gpt-oss ones ("experts_per_token",
 * "initial_context_length"); a field that is null counts as absent. The
 * fields, their bounds and their defaults are the table of
 * docs/model-format.md ("From Hugging Face"): integer bounds are the
 * loader's, so that what converts also loads.
 * Refused, with an error naming the file and the field (the messages are
 * matched by tests/robust/convert_hf.sh): a file that cannot be read or
 * parsed, a required field that is missing, a value of the wrong type, out
 * of range or not a whole number where an integer belongs, an unknown
 * "rope_type" or "layer_types" entry, "layer_types" of the wrong length,
 * then whatever model_config_validate (src/model.c) refuses across fields,
 * and a tensor of more than the 2^40 elements the loader accepts.
 * Warned about on stderr, not refused: rope "truncate": true with a factor
 * above 1 (getp does not truncate). Other fields are ignored. */
#ifndef GETP_TOOLS_HF_CONFIG_H
#define GETP_TOOLS_HF_CONFIG_H

#include "../src/model.h"

/* dir/config.json into c: 0, or -1 with err set (c then partly filled). */
int hf_config_read(const char *dir, ModelConfig *c, Error *err);

#endif
