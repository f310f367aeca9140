/* Per-frame action files (see actions.h). */
#include "io/actions.h"

#include <cJSON.h>
#include <errno.h>
#include <math.h>

#include "core/core.h"

static int line_blank(const char *s) {
    for (; *s; s++)
        if (*s != ' ' && *s != '\t' && *s != '\r' && *s != '\n') return 0;
    return 1;
}

static mv_status parse_action_line(const char *path, long ln, const char *line, int *id) {
    cJSON *j = cJSON_Parse(line);
    mv_status s = MV_OK;
    if (!j) return mv_fail(MV_ERR_FORMAT, "%s:%ld: not valid JSON (expected {\"action\": 0|1|2})", path, ln);
    const cJSON *a = cJSON_IsObject(j) ? cJSON_GetObjectItemCaseSensitive(j, "action") : j; /* or a bare id */
    if (!a || !cJSON_IsNumber(a) || a->valuedouble != floor(a->valuedouble)) {
        s = mv_fail(MV_ERR_FORMAT, "%s:%ld: expected an object with an integer \"action\" field (or a bare id)",
                    path, ln);
        goto fail;
    }
    if (a->valuedouble < 0 || a->valuedouble > 2) {
        s = mv_fail(MV_ERR_FORMAT, "%s:%ld: unknown action id %g (0 forward, 1 left, 2 right)", path, ln,
                    a->valuedouble);
        goto fail;
    }
    *id = (int)a->valuedouble;
fail:
    cJSON_Delete(j);
    return s;
}

mv_status mv_actions_read_jsonl(const char *path, int **ids_out, int *count) {
    mv_status s = MV_OK;
    char *line = NULL;
    size_t cap = 0, n = 0, alloc = 0;
    int *ids = NULL;
    long ln = 0, blank_at = 0;
    *ids_out = NULL, *count = 0;
    FILE *f = fopen(path, "rb");
    if (!f) return mv_fail(MV_ERR_IO, "%s: cannot open actions file: %s", path, strerror(errno));
    while (getline(&line, &cap, f) >= 0) {
        ln++;
        if (line_blank(line)) {
            if (!blank_at) blank_at = ln;
            continue;
        }
        if (blank_at) {
            s = mv_fail(MV_ERR_FORMAT, "%s:%ld: empty line (one JSON object per frame, no gaps)", path,
                        blank_at);
            goto fail;
        }
        if (n == alloc) {
            alloc = alloc ? 2 * alloc : 1024;
            int *grown = realloc(ids, alloc * sizeof *ids);
            if (!grown) {
                s = mv_fail(MV_ERR_NOMEM, "%s: out of memory", path);
                goto fail;
            }
            ids = grown;
        }
        if ((s = parse_action_line(path, ln, line, &ids[n])) != MV_OK) goto fail;
        n++;
    }
    if (ferror(f)) {
        s = mv_fail(MV_ERR_IO, "%s: read error: %s", path, strerror(errno));
        goto fail;
    }
    if (n == 0) {
        s = mv_fail(MV_ERR_FORMAT, "%s: no actions in the file", path);
        goto fail;
    }
    fclose(f);
    free(line);
    *ids_out = ids, *count = (int)n;
    return MV_OK;
fail:
    fclose(f);
    free(line);
    free(ids);
    return s;
}
