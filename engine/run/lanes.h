/*
 * lanes: jobs run on threads, one thread per lane, the jobs of a lane one
 * after another in their order; the caller takes the results back in job
 * order, each as soon as it is done. The executor's overlapping steps
 * (SPEC section 4) are jobs, a lane per target connection.
 */
#ifndef RUNBOOK_LANES_H
#define RUNBOOK_LANES_H

#include <stddef.h>

struct lanes;

/* Starts n jobs: lane[i] names job i's lane (NULL: nothing to run, it is
 * done already). work(ud, i) runs job i on its lane's thread. A lane whose
 * thread cannot start runs on the caller's thread before this returns. */
struct lanes *lanes_start(size_t n, const char *const *lane, void (*work)(void *ud, size_t i), void *ud);
/* Waits until job i is done. */
void lanes_wait(struct lanes *l, size_t i);
/* Waits for every lane and frees l. */
void lanes_finish(struct lanes *l);

#endif
