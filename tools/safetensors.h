/* safetensors.h - reads the .safetensors files of a Hugging Face checkpoint
 * directory (convert_hf's input) into a Checkpoint of mapped tensors.
 *
 * Accepted: each file of the directory whose name ends in ".safetensors"
 * (after at least one other character): a regular file of at least 8 bytes,
 * a little-endian u64 header length, that many bytes of JSON header (strict
 * RFC 8259, src/json.h; a repeated key is refused there) that must be an
 * object, then the data. Each header entry but "__metadata__" (skipped
 * unread) must be an object with
 *   "dtype"         "F32", "BF16", "F16" or "U8";
 *   "shape"         an array of at most 4 integers in [0, 2^53] (every one
 *                   exact as a double) whose element count fits the data;
 *   "data_offsets"  [begin, end], integers in [0, data length] counted from
 *                   the end of the header, begin <= end, spanning exactly
 *                   the shape's elements times the dtype's size.
 * Refused, with an error naming the file (and the tensor; the messages are
 * matched by tests/robust/convert_hf.sh): a directory with no such file, a
 * file that cannot be opened, is not a regular file or is under 8 bytes, a
 * header length past the end of the file, a header that does not parse or
 * is not an object, any other dtype (F64, I32, F8, ...), more than 4
 * dimensions, a number that is not an integer or is out of range, offsets
 * that end before they begin or hold other than the shape's bytes.
 * Not checked: tensors that overlap or leave gaps, the data's alignment (an
 * element is read bytewise), and a name repeated in another file (lookups
 * find the first loaded, in directory order).
 *
 * Tensors point into the file mappings and live until checkpoint_free. */
#ifndef GETP_TOOLS_SAFETENSORS_H
#define GETP_TOOLS_SAFETENSORS_H

#include <stddef.h>
#include <stdint.h>

#include "../src/util.h"

typedef enum { ST_F32, ST_BF16, ST_F16, ST_U8 } StDType;

typedef struct {
    char *name;
    StDType dtype;
    int ndim;
    uint64_t shape[4];
    const uint8_t *data; /* nbytes, little-endian, in the file's mapping */
    uint64_t nbytes;
    const char *file; /* the path of the file it came from (for messages) */
} StTensor;

/* A mapped .safetensors file; its tensors point into the mapping. */
typedef struct {
    char *path;
    uint8_t *map;
    size_t len;
} StFile;

/* The tensors of every file loaded; zero-initialize before the first load. */
typedef struct {
    StTensor *t;
    int n, cap;
    StFile *files;
    int n_files;
} Checkpoint;

/* Maps every *.safetensors file of directory dir and adds its tensors; no
 * such file is an error. On an error ck keeps what was loaded until then:
 * checkpoint_free releases it either way. */
int load_checkpoint(Checkpoint *ck, const char *dir, Error *err);
/* Unmaps the files and frees everything; ck is left zeroed. */
void checkpoint_free(Checkpoint *ck);

/* The first tensor called name, or NULL. */
const StTensor *checkpoint_find(const Checkpoint *ck, const char *name);
/* Element i (row-major, i < its element count) as float; U8 as its value. */
float st_get(const StTensor *t, uint64_t i);

/* "F32", "BF16", "F16" or "U8". */
const char *st_dtype_name(StDType d);
/* The shape's dimensions as "2, 3, 4" in buf (n bytes; cut to fit). */
void st_shape_str(char *buf, size_t n, int ndim, const uint64_t *shape);

#endif
