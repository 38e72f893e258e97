/* cnnc runtime: a generated model's C names, from the three given on the command line,
 * e.g. for a model `mnist`:
 *   -DCNNC_MODEL_HEADER='"mnist.h"' -DCNNC_MODEL=mnist -DCNNC_MODEL_UC=MNIST
 * Included by the executable's main() (cnnc_main.c) and by harnesses built against one
 * generated model (bench/denormal.c, tests/numeric/threads.c, tests/numeric/denormals.c).
 */
#ifndef CNNC_MODEL_NAMES_H
#define CNNC_MODEL_NAMES_H

#if !defined(CNNC_MODEL_HEADER) || !defined(CNNC_MODEL) || !defined(CNNC_MODEL_UC)
#error "define CNNC_MODEL_HEADER, CNNC_MODEL and CNNC_MODEL_UC (see the comment above)"
#endif

#include CNNC_MODEL_HEADER

/* Two levels so that CNNC_MODEL expands before pasting or quoting. */
#define CNNC_PASTE_(a, b) a##b
#define CNNC_PASTE(a, b) CNNC_PASTE_(a, b)
#define CNNC_QUOTE_(a) #a
#define CNNC_QUOTE(a) CNNC_QUOTE_(a)
#define CNNC_UC(suffix) CNNC_PASTE(CNNC_MODEL_UC, suffix)

#define CNNC_PREDICT_WS CNNC_PASTE(CNNC_MODEL, _predict_ws)
#define CNNC_IN_SIZE CNNC_UC(_INPUT_SIZE)
#define CNNC_OUT_SIZE CNNC_UC(_OUTPUT_SIZE)
#define CNNC_WS_SIZE CNNC_UC(_WORKSPACE_SIZE)

/* The team API of a model built with --threads N (N > 1): compile with -DCNNC_TEAM_API. */
#define CNNC_TEAM CNNC_PASTE(CNNC_MODEL, _team)
#define CNNC_TEAM_START CNNC_PASTE(CNNC_MODEL, _team_start)
#define CNNC_TEAM_THREADS CNNC_PASTE(CNNC_MODEL, _team_threads)
#define CNNC_TEAM_STOP CNNC_PASTE(CNNC_MODEL, _team_stop)
#define CNNC_PREDICT_TEAM CNNC_PASTE(CNNC_MODEL, _predict_team)
#define CNNC_PREDICT_BATCH_TEAM CNNC_PASTE(CNNC_MODEL, _predict_batch_team)
#define CNNC_MAX_THREADS CNNC_UC(_MAX_THREADS)
#define CNNC_TEAM_SIZE CNNC_UC(_TEAM_SIZE)

#endif
