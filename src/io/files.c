/* Whole-file reads, atomic whole-file writes and folder creation (see files.h). */
#include "io/files.h"

#include <errno.h>
#include <fcntl.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"

/* mkdir of one path component; an existing directory is fine. */
static mv_status make_one_dir(const char *dir) {
    struct stat st;
    if (mkdir(dir, 0777) == 0) return MV_OK;
    int err = errno;
    if (stat(dir, &st) == 0) {
        if (S_ISDIR(st.st_mode)) return MV_OK;
        return mv_fail(MV_ERR_IO, "%s: exists and is not a directory", dir);
    }
    return mv_fail(MV_ERR_IO, "%s: cannot create directory: %s", dir, strerror(err));
}

/* mkdir -p of the first len bytes of path. */
static mv_status make_dirs_prefix(const char *path, size_t len) {
    while (len > 1 && path[len - 1] == '/') len--; /* "a/b/" is "a/b" */
    if (len == 0 || (len == 1 && path[0] == '/')) return MV_OK;
    char *dir = malloc(len + 1);
    if (!dir) return mv_fail(MV_ERR_NOMEM, "%s: out of memory", path);
    memcpy(dir, path, len);
    dir[len] = 0;
    mv_status s = MV_OK;
    for (size_t i = 1; i <= len && !s; i++) {
        if (i < len && (dir[i] != '/' || dir[i - 1] == '/')) continue;
        char c = dir[i];
        dir[i] = 0;
        s = make_one_dir(dir);
        dir[i] = c;
    }
    free(dir);
    return s;
}

mv_status mv_make_dirs(const char *dir) { return make_dirs_prefix(dir, strlen(dir)); }

mv_status mv_make_parent_dirs(const char *path) {
    size_t len = strlen(path);
    while (len > 1 && path[len - 1] == '/') len--; /* the parent of "a/b/" is "a" */
    while (len > 0 && path[len - 1] != '/') len--;
    return len ? make_dirs_prefix(path, len) : MV_OK;
}

mv_status mv_read_file(const char *path, size_t max_bytes, char **text, size_t *len) {
    *text = NULL;
    FILE *f = fopen(path, "rb");
    if (!f) return mv_fail(MV_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    char *buf = NULL;
    long n = fseek(f, 0, SEEK_END) == 0 ? ftell(f) : -1;
    if (n < 0 || (size_t)n > max_bytes || fseek(f, 0, SEEK_SET) != 0 || !(buf = malloc((size_t)n + 1)) ||
        fread(buf, 1, (size_t)n, f) != (size_t)n) {
        free(buf);
        fclose(f);
        return mv_fail(MV_ERR_IO, "%s: cannot read%s", path, n >= 0 && (size_t)n > max_bytes ? " (too large)" : "");
    }
    fclose(f);
    buf[n] = 0;
    *text = buf;
    if (len) *len = (size_t)n;
    return MV_OK;
}

mv_status mv_write_file_atomic(const char *path, const void *data, size_t n) {
    size_t len = strlen(path);
    char *tmp = malloc(len + 5);
    if (!tmp) return mv_fail(MV_ERR_NOMEM, "%s: out of memory", path);
    memcpy(tmp, path, len);
    memcpy(tmp + len, ".tmp", 5);
    mv_status s = MV_OK;
    int fd = open(tmp, O_WRONLY | O_CREAT | O_TRUNC, 0666);
    if (fd < 0) {
        s = mv_fail(MV_ERR_IO, "%s: cannot create: %s", tmp, strerror(errno));
        goto fail;
    }
    const char *p = data;
    size_t left = n;
    while (left) {
        ssize_t k = write(fd, p, left);
        if (k < 0 && errno == EINTR) continue;
        if (k <= 0) {
            s = mv_fail(MV_ERR_IO, "%s: write failed: %s", path, k < 0 ? strerror(errno) : "no progress");
            goto fail;
        }
        p += k, left -= (size_t)k;
    }
    if (fsync(fd) != 0) {
        s = mv_fail(MV_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        goto fail;
    }
    int rc = close(fd);
    fd = -1;
    if (rc != 0) {
        s = mv_fail(MV_ERR_IO, "%s: write failed: %s", path, strerror(errno));
        goto fail;
    }
    if (rename(tmp, path) != 0) {
        s = mv_fail(MV_ERR_IO, "%s: cannot rename into place: %s", path, strerror(errno));
        goto fail;
    }
    free(tmp);
    return MV_OK;
fail:
    if (fd >= 0) close(fd);
    unlink(tmp);
    free(tmp);
    return s;
}

mv_status mv_file_hash(const char *path, char out[17]) {
    FILE *f = fopen(path, "rb");
    if (!f) return mv_fail(MV_ERR_IO, "%s: cannot open: %s", path, strerror(errno));
    uint64_t h = MV_HASH_SEED;
    unsigned char buf[1 << 16];
    size_t n;
    while ((n = fread(buf, 1, sizeof buf, f)) > 0) h = mv_fnv1a(h, buf, n);
    int err = ferror(f);
    fclose(f);
    if (err) return mv_fail(MV_ERR_IO, "%s: read error", path);
    snprintf(out, 17, "%016llx", (unsigned long long)h);
    return MV_OK;
}
