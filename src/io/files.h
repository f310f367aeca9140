/* Whole small files (JSON, text): reading one into memory, writing one atomically, and creating the
 * folders an output path needs. Errors name the path and the reason. */
#ifndef MV_FILES_H
#define MV_FILES_H
#include <stddef.h>

#include "millivid.h"

/* mkdir -p of dir itself ("a/b/c" creates a, a/b and a/b/c as needed); fails when a part exists and is
 * not a directory. */
mv_status mv_make_dirs(const char *dir);
/* mkdir -p of the folder that will hold path ("a/b/out.json" and "a/b/dir/" create a and a/b); nothing
 * for "out.json". */
mv_status mv_make_parent_dirs(const char *path);
/* Reads all of path into a malloc'ed buffer *text with a NUL after the last byte (free with free());
 * *len (may be NULL) gets the byte count. Fails ("path: cannot open: reason", "path: cannot read") on
 * files that cannot be read or hold more than max_bytes. */
mv_status mv_read_file(const char *path, size_t max_bytes, char **text, size_t *len);
/* FNV-1a 64 (mv_fnv1a from MV_HASH_SEED) over the bytes of a file, as 16 hex digits: the file_hash that
 * evaluations record. */
mv_status mv_file_hash(const char *path, char out[17]);
/* Writes data[n] to "<path>.tmp", fsyncs and renames it to path: path is either the complete new file
 * or untouched. The temporary file is removed on failure. */
mv_status mv_write_file_atomic(const char *path, const void *data, size_t n);
#endif
