/* libFuzzer target: configuration JSON and --set assignments. The input is JSON; when it holds a NUL
 * byte, the part after it is a list of newline-separated key=value assignments applied to the mini
 * preset. */
#include <string.h>

#include "io/config.h"
#include "fuzz_common.h"

int LLVMFuzzerTestOneInput(const uint8_t *data, size_t size) {
    fuzz_quiet();
    char *buf = malloc(size + 1);
    if (!buf) return 0;
    memcpy(buf, data, size);
    buf[size] = 0;
    mv_config c;
    if (mv_config_from_json(&c, buf) == MV_OK) {
        mv_config_validate(&c);
        free(mv_config_to_json(&c));
    }
    size_t first = strlen(buf);
    if (first < size && mv_config_load(&c, "mini") == MV_OK) {
        char *line = buf + first + 1, *end = buf + size;
        while (line < end) {
            char *nl = memchr(line, '\n', (size_t)(end - line));
            if (nl) *nl = 0;
            mv_config_set(&c, line);
            line = nl ? nl + 1 : end;
        }
        mv_config_validate(&c);
    }
    free(buf);
    return 0;
}
