/* Shared by the libFuzzer targets: the fuzz input as a file (an anonymous in-memory file reached
 * through /proc/self/fd), since every parser under test opens a path; and quiet logging. */
#ifndef MV_FUZZ_COMMON_H
#define MV_FUZZ_COMMON_H
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

#include "core/core.h"

/* Writes data into a fresh memfd; path receives "/proc/self/fd/N". Returns the fd (close it), or -1. */
static inline int fuzz_file(const uint8_t *data, size_t size, char *path, size_t cap) {
    int fd = memfd_create("fuzz", 0);
    if (fd < 0) return -1;
    size_t off = 0;
    while (off < size) {
        ssize_t n = write(fd, data + off, size - off);
        if (n <= 0) {
            close(fd);
            return -1;
        }
        off += (size_t)n;
    }
    snprintf(path, cap, "/proc/self/fd/%d", fd);
    return fd;
}

static inline void fuzz_quiet(void) {
    static int done;
    if (!done) mv_set_log_level(MV_LOG_ERROR), mv_set_threads(1), done = 1;
}
#endif
