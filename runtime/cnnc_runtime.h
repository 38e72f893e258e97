/* cnnc runtime: file I/O and the command line of a generated model
 *
 * A model compiled by cnnc is a pure function (NAME_predict_ws) with no I/O. This runtime
 * is what turns it into a program: it reads inputs (.npy, binary PGM/PPM, raw float32),
 * checks them against the model's input shape, runs the model once per item of a batch,
 * and prints or writes the outputs (.npy, 8-bit PGM, raw float32). Writers are atomic:
 * they write a temporary file beside the target and rename it, so a failure never leaves
 * a partial or clobbered file. The runtime does not know any layer, allocate inside the
 * model, or use threads; it needs only libc and POSIX (mkstemp, rename, clock_gettime).
 *
 * Conventions
 * - Argument order: output first (the array filled or the path written), then inputs,
 *   then parameters, then the error buffer `err, errlen`.
 * - Every function that can fail returns 0 on success and -1 on failure; on failure it
 *   writes a one-line message into err (always NUL-terminated when errlen > 0; err may be
 *   NULL) that starts with the file name and says precisely what is wrong, e.g.
 *   "x.npy: unsupported dtype '<i4' (expected float32, float64 or uint8)".
 * - A reader always initialises *out, also on failure, so cnnc_array_free(out) is safe.
 * - Arrays are dense, C order (last axis fastest), float32; images are (H, W, C).
 */
#ifndef CNNC_RUNTIME_H
#define CNNC_RUNTIME_H

#include <stddef.h>

#define CNNC_ARRAY_MAX_RANK 8

/* One input or output tensor of a model with several (NAME.h's NAME_INPUT_LIST and
 * NAME_OUTPUT_LIST): where it lies in the model's one input or output buffer (offset and
 * size in floats), its shape, and its ONNX element type (values are float32 whatever the
 * type: integers and booleans are exact). size may be 0 (an empty tensor). */
typedef struct cnnc_tensor_info {
    const char *name;
    size_t offset, size;
    int rank;
    int shape[CNNC_ARRAY_MAX_RANK];
    const char *type;
} cnnc_tensor_info;

/* What the runtime needs to know about a compiled model; cnnc_main.c fills one from the
 * macros of the generated NAME.h. Shapes are in Keras order without the batch axis.
 * A model with one input and one output has inputs == outputs == NULL; one with several
 * (or none) lists them, input_* and output_* then describing the whole buffers. */
typedef struct cnnc_model {
    const char *name;
    int input_rank;                 /* 1..4 */
    int input_shape[4];
    int output_rank;                /* 1..4 */
    int output_shape[4];
    size_t input_size, output_size; /* floats, the products of the shapes */
    size_t workspace_size;          /* bytes; the runtime aligns the workspace to 64 */
    int output_is_softmax;          /* outputs are class probabilities */
    void (*predict_ws)(const float *input, float *output, void *workspace);
    const char *target;             /* instruction set the model was built for */
    int (*cpu_supported)(void);     /* 1 if this CPU runs that target; NULL means yes */
    int num_inputs, num_outputs;    /* entries of inputs and outputs */
    const cnnc_tensor_info *inputs, *outputs;
    /* The team API of a model built with --threads N (NAME_team_*; all NULL and max_threads
     * 1 in a single-thread build): a team of threads kept for the whole run. */
    int max_threads;
    size_t team_size;               /* bytes of a team's memory */
    void *(*team_start)(void *memory, int threads);
    int (*team_threads)(void *team);
    void (*predict_team)(void *team, const float *input, float *output, void *workspace);
    void (*predict_batch_team)(void *team, int n, const float *inputs, float *outputs, void *workspaces);
    void (*team_stop)(void *team);
    /* A profile build (cnnc build --profile): its steps, one after another, with a hook
     * called after each (NULL otherwise). */
    int profile_steps;
    const char *const *profile_names;
    void (*predict_profile)(const float *input, float *output, void *workspace, void (*mark)(void *ctx, int step),
                            void *ctx);
} cnnc_model;

/* An n-d float32 array owned by the caller; rank 0 is a scalar (count 1). */
typedef struct cnnc_array {
    float *data;
    int rank;
    long shape[CNNC_ARRAY_MAX_RANK];
    size_t count;                   /* product of shape[0..rank) */
} cnnc_array;

/* Frees a->data and resets *a to an empty array; a NULL a is a no-op. */
void cnnc_array_free(cnnc_array *a);

/* Reads a NumPy .npy file (format 1.0, 2.0 or 3.0, C order) of dtype float32 ('<f4'),
 * float64 ('<f8') or uint8 ('|u1'), converting to float32. uint8 values stay 0..255
 * (no scaling). Anything else is rejected: other dtypes, big-endian data, Fortran order,
 * rank > 8, a malformed header, missing data or bytes after the data. */
int cnnc_npy_read(cnnc_array *out, const char *path, char *err, size_t errlen);

/* Writes data (count = product of shape) as a float32 '<f4' .npy version 1.0 with the
 * data 64-byte aligned: the same bytes as np.save (numpy >= 1.24). rank is 0..8. Atomic. */
int cnnc_npy_write(const char *path, const float *data, int rank, const long *shape,
                   char *err, size_t errlen);

/* Reads a binary PGM (P5) or PPM (P6) with maxval 1..65535 (two-byte samples are
 * big-endian) into an (H, W, C) array, C = 1 or 3, values divided by maxval so they lie
 * in [0, 1]. ASCII (P2/P3), bitmap (P1/P4) and PAM (P7) files are rejected. */
int cnnc_pnm_read(cnnc_array *out, const char *path, char *err, size_t errlen);

/* Writes channel `channel` of the (height, width, channels) image data as an 8-bit
 * binary PGM, mapping lo..hi linearly to 0..255 and clamping (lo == hi, or NaN, gives
 * 0; hi < lo inverts the image). Atomic. */
int cnnc_pgm_write(const char *path, const float *data, int height, int width,
                   int channels, int channel, float lo, float hi, char *err, size_t errlen);

/* Reads raw little-endian float32 values as items of item_count floats: the file size
 * must be a non-zero multiple of item_count * 4 bytes. out is (items, item_count). */
int cnnc_raw_read(cnnc_array *out, const char *path, size_t item_count,
                  char *err, size_t errlen);

/* Writes count floats as raw little-endian float32. Atomic. */
int cnnc_raw_write(const char *path, const float *data, size_t count,
                   char *err, size_t errlen);

/* Reads a model input, choosing the format by the (case-insensitive) extension: .npy,
 * .pgm, .ppm, anything else raw float32. The data must be one input (exactly the model's
 * input shape) or a batch of B >= 1 inputs (shape [B] + input shape). On success:
 * - out->rank == m->input_rank: one unbatched input, out->shape is the input shape;
 * - out->rank == m->input_rank + 1: a batch of out->shape[0] inputs.
 * Either way the item count is out->count / m->input_size. A raw file holding exactly one
 * input is unbatched, one holding several is a batch. */
int cnnc_input_read(cnnc_array *out, const char *path, const cnnc_model *m,
                    char *err, size_t errlen);

/* Monotonic clock in seconds, for benchmarks; the origin is arbitrary. */
double cnnc_time_now(void);

/* The whole program: `NAME INPUT [-o OUTPUT] [--bench N] [--top K] [--help]`; a model
 * with several inputs and outputs takes one INPUT per input, in order, and -o once per
 * output, in order (or none: the outputs are printed).
 * Returns the process exit status: 0 success, 1 I/O or data error, 2 usage error.
 * Messages go to stderr, printed outputs and benchmark results to stdout. */
int cnnc_cli_main(int argc, char **argv, const cnnc_model *m);

#endif /* CNNC_RUNTIME_H */
