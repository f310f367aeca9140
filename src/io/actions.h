/* Per-frame action files: JSON lines, one line per frame, each {"action": id} or a bare id, with id
 * 0 (forward), 1 (left) or 2 (right). Blank lines are allowed only at the end: a gap would shift the
 * action of every later frame. Used by `millivid import` (the actions of a new data set) and by callers
 * that take actions for generated frames. */
#ifndef MV_IO_ACTIONS_H
#define MV_IO_ACTIONS_H
#include "millivid.h"

/* Reads the action ids of path into a malloc'ed array *ids [*count] (free with free()); at least one.
 * Errors name file:line and say what a line should look like. */
mv_status mv_actions_read_jsonl(const char *path, int **ids, int *count);
#endif
