/* Configuration presets (configs/<name>.json), --set key=value overrides, validation and JSON
 * round trips. Every key is a dotted path listed once in the table below. */
#include "io/config.h"

#include <cjson/cJSON.h>
#include <limits.h>
#include <math.h>
#include <stddef.h>
#include <sys/stat.h>
#include <unistd.h>

#include "core/core.h"
#include "io/files.h"

#define MV_CONFIG_MAX_BYTES (1u << 24) /* a config file is a few KB; refuse anything absurd */

typedef enum { K_INT, K_DOUBLE, K_LEVELS, K_STRING } key_type;

static const struct {
    const char *key;
    key_type type;
    size_t off;
} keys[] = {
#define F(field) offsetof(mv_config, field)
    {"image_size", K_INT, F(image_size)},
    {"levels", K_INT, F(levels)},
    {"patch", K_INT, F(patch)},
    {"latent_channels", K_INT, F(latent_channels)},
    {"ae.width", K_INT, F(ae_width)},
    {"ae.depth", K_INT, F(ae_depth)},
    {"ae.heads", K_INT, F(ae_heads)},
    {"ae.lr", K_DOUBLE, F(ae_lr)},
    {"ae.warmup", K_INT, F(ae_warmup)},
    {"ae.batch", K_INT, F(ae_batch)},
    {"ae.checkpoint_every", K_INT, F(ae_checkpoint_every)},
    {"dit.width", K_INT, F(dit_width)},
    {"dit.depth", K_INT, F(dit_depth)},
    {"dit.heads", K_INT, F(dit_heads)},
    {"dit.lr", K_DOUBLE, F(dit_lr)},
    {"dit.warmup", K_INT, F(dit_warmup)},
    {"dit.batch", K_INT, F(dit_batch)},
    {"dit.checkpoint_every", K_INT, F(dit_checkpoint_every)},
    {"dit.context_cache", K_INT, F(context_cache)},
    {"weight_decay", K_DOUBLE, F(weight_decay)},
    {"millivid.windows", K_LEVELS, F(mv_windows)},
    {"millivid.budget", K_INT, F(mv_budget)},
    {"framepack.context", K_LEVELS, F(fp_context)},
    {"framepack.denoise", K_INT, F(fp_denoise)},
    {"fullres.frames", K_INT, F(fr_frames)},
    {"sample.steps", K_INT, F(sample_steps)},
    {"sample.guidance", K_DOUBLE, F(guidance)},
    {"eval.context", K_INT, F(context_frames)},
    {"eval.frames", K_INT, F(video_frames)},
#undef F
};
#define NKEYS ((int)MV_ARRAY_LEN(keys))

static int key_find(const char *key) {
    for (int i = 0; i < NKEYS; i++)
        if (!strcmp(keys[i].key, key)) return i;
    return -1;
}

static const char *type_name(key_type t) {
    return t == K_INT ? "an integer" : t == K_DOUBLE ? "a number" : t == K_LEVELS ? "an array of integers" : "a string";
}

static int json_int(const cJSON *v, int *out) {
    if (!cJSON_IsNumber(v)) return 0;
    double d = v->valuedouble;
    if (d != floor(d) || d < INT_MIN || d > INT_MAX) return 0;
    *out = (int)d;
    return 1;
}

/* Store a JSON value into key k of c; `where` prefixes messages (a file path or "--set"). */
static mv_status key_assign(mv_config *c, int k, const cJSON *v, const char *where) {
    char *field = (char *)c + keys[k].off;
    int iv[MV_MAX_LEVELS] = {0}, n = 0;
    switch (keys[k].type) {
    case K_INT:
        if (!json_int(v, &iv[0])) break;
        memcpy(field, &iv[0], sizeof(int));
        return MV_OK;
    case K_DOUBLE:
        if (!cJSON_IsNumber(v) || !isfinite(v->valuedouble)) break;
        memcpy(field, &v->valuedouble, sizeof(double));
        return MV_OK;
    case K_LEVELS:
        if (!cJSON_IsArray(v)) break;
        n = cJSON_GetArraySize(v);
        if (n < 1 || n > MV_MAX_LEVELS)
            return mv_fail(MV_ERR_ARG, "%s: key '%s': expected 1 to %d entries (one per level), got %d", where,
                           keys[k].key, MV_MAX_LEVELS, n);
        n = 0;
        for (const cJSON *e = v->child; e; e = e->next, n++)
            if (!json_int(e, &iv[n])) goto bad;
        memcpy(field, iv, sizeof iv);
        return MV_OK;
    case K_STRING: break;
    }
bad:;
    char *txt = cJSON_PrintUnformatted(v);
    mv_status s = mv_fail(MV_ERR_ARG, "%s: key '%s': expected %s, got %s", where, keys[k].key,
                          type_name(keys[k].type), txt ? txt : "?");
    free(txt);
    return s;
}

/* ---------------- finding and reading preset files ---------------- */

static int file_exists(const char *p) {
    struct stat st;
    return stat(p, &st) == 0 && S_ISREG(st.st_mode);
}

/* The path of preset `name`: $MILLIVID_CONFIGS/, <binary dir>/../configs/, then ./configs/. */
static mv_status config_resolve(const char *name, char *out, size_t cap) {
    if (strchr(name, '/') || (strlen(name) > 5 && !strcmp(name + strlen(name) - 5, ".json"))) {
        snprintf(out, cap, "%s", name);
        if (!file_exists(out)) return mv_fail(MV_ERR_IO, "%s: config file not found", out);
        return MV_OK;
    }
    for (const char *c = name; *c; c++)
        if (!(*c == '_' || *c == '-' || (*c >= 'a' && *c <= 'z') || (*c >= 'A' && *c <= 'Z') || (*c >= '0' && *c <= '9')))
            return mv_fail(MV_ERR_ARG, "bad preset name '%s' (use a name like 'mini' or a path to a .json file)", name);
    const char *env = getenv("MILLIVID_CONFIGS");
    if (env && *env) {
        snprintf(out, cap, "%s/%s.json", env, name);
        if (!file_exists(out))
            return mv_fail(MV_ERR_IO, "%s: preset '%s' not found (MILLIVID_CONFIGS=%s)", out, name, env);
        return MV_OK;
    }
    char exe[4096], tried[4200] = "";
    ssize_t n = readlink("/proc/self/exe", exe, sizeof exe - 1);
    if (n > 0) {
        exe[n] = 0;
        char *slash = strrchr(exe, '/');
        if (slash) *slash = 0;
        int k = snprintf(out, cap, "%s/../configs/%s.json", exe, name);
        if (k > 0 && (size_t)k < cap && file_exists(out)) return MV_OK;
        snprintf(tried, sizeof tried, "%s, ", out);
    }
    snprintf(out, cap, "configs/%s.json", name);
    if (file_exists(out)) return MV_OK;
    return mv_fail(MV_ERR_IO, "preset '%s' not found (tried %s%s; set MILLIVID_CONFIGS to the configs directory)",
                   name, tried, out);
}

/* Walk a JSON object, assigning dotted keys; `set` marks the keys seen. */
static mv_status config_walk(mv_config *c, const cJSON *obj, const char *prefix, const char *where, char *set) {
    char path[256];
    for (const cJSON *e = obj->child; e; e = e->next) {
        snprintf(path, sizeof path, "%s%s%s", prefix, *prefix ? "." : "", e->string);
        if (!*prefix && (!strcmp(e->string, "preset") || !strcmp(e->string, "base") || !strcmp(e->string, "comment")))
            continue;
        int k = key_find(path);
        if (k < 0 && cJSON_IsObject(e)) {
            MV_TRY(config_walk(c, e, path, where, set));
            continue;
        }
        if (k < 0) return mv_fail(MV_ERR_ARG, "%s: unknown key '%s'", where, path);
        if (set[k]) return mv_fail(MV_ERR_ARG, "%s: key '%s' given twice", where, path);
        MV_TRY(key_assign(c, k, e, where));
        set[k] = 1;
    }
    return MV_OK;
}

static mv_status config_parse(mv_config *c, const char *json, const char *where, int depth);

/* A JSON object: optional "base" (another preset it extends), then every key. */
static mv_status config_apply(mv_config *c, const cJSON *root, const char *where, int depth) {
    if (!cJSON_IsObject(root)) return mv_fail(MV_ERR_ARG, "%s: expected a JSON object", where);
    char set[NKEYS];
    memset(set, 0, sizeof set);
    const cJSON *base = cJSON_GetObjectItemCaseSensitive(root, "base");
    const cJSON *preset = cJSON_GetObjectItemCaseSensitive(root, "preset");
    if (base) {
        if (!cJSON_IsString(base)) return mv_fail(MV_ERR_ARG, "%s: key 'base': expected a preset name", where);
        if (depth > 4) return mv_fail(MV_ERR_ARG, "%s: 'base' chain too deep", where);
        char bpath[4096];
        MV_TRY(config_resolve(base->valuestring, bpath, sizeof bpath));
        char *txt;
        MV_TRY(mv_read_file(bpath, MV_CONFIG_MAX_BYTES, &txt, NULL));
        mv_status s = config_parse(c, txt, bpath, depth + 1);
        free(txt);
        MV_TRY(s);
        c->preset[0] = 0; /* named after the file that extends it */
    }
    if (preset && !cJSON_IsString(preset)) return mv_fail(MV_ERR_ARG, "%s: key 'preset': expected a string", where);
    MV_TRY(config_walk(c, root, "", where, set));
    if (preset) snprintf(c->preset, sizeof c->preset, "%s", preset->valuestring);
    if (base) return MV_OK;
    for (int k = 0; k < NKEYS; k++)
        if (!set[k]) return mv_fail(MV_ERR_ARG, "%s: missing key '%s' (or give \"base\": \"mini\")", where, keys[k].key);
    return MV_OK;
}

static mv_status config_parse(mv_config *c, const char *json, const char *where, int depth) {
    cJSON *root = cJSON_Parse(json);
    if (!root) {
        const char *e = cJSON_GetErrorPtr();
        char near[24] = "?";
        if (e) snprintf(near, sizeof near, "%.20s", e);
        for (char *q = near; *q; q++)
            if (*q == '\n' || *q == '\r' || *q == '\t') *q = ' ';
        return mv_fail(MV_ERR_ARG, "%s: not valid JSON (near \"%s\")", where, near);
    }
    mv_status s = config_apply(c, root, where, depth);
    cJSON_Delete(root);
    return s;
}

mv_status mv_config_load(mv_config *c, const char *name_or_path) {
    char path[4096];
    memset(c, 0, sizeof *c);
    MV_TRY(config_resolve(name_or_path, path, sizeof path));
    char *txt;
    MV_TRY(mv_read_file(path, MV_CONFIG_MAX_BYTES, &txt, NULL));
    mv_status s = config_parse(c, txt, path, 0);
    free(txt);
    MV_TRY(s);
    if (!c->preset[0]) {
        const char *b = strrchr(name_or_path, '/');
        snprintf(c->preset, sizeof c->preset, "%s", b ? b + 1 : name_or_path);
        char *dot = strstr(c->preset, ".json");
        if (dot && !dot[5]) *dot = 0;
    }
    s = mv_config_validate(c);
    if (s != MV_OK) return mv_fail_prefix(s, "%s", path);
    return MV_OK;
}

mv_status mv_config_set(mv_config *c, const char *assignment) {
    const char *eq = strchr(assignment, '=');
    if (!eq || eq == assignment)
        return mv_fail(MV_ERR_ARG, "--set %s: expected key=value (e.g. dit.depth=8)", assignment);
    char key[128];
    size_t n = (size_t)(eq - assignment);
    if (n >= sizeof key) return mv_fail(MV_ERR_ARG, "--set %s: key too long", assignment);
    memcpy(key, assignment, n);
    key[n] = 0;
    int k = key_find(key);
    if (k < 0) {
        char list[1024];
        size_t len = 0;
        for (int i = 0; i < NKEYS && len < sizeof list; i++)
            len += (size_t)snprintf(list + len, sizeof list - len, "%s%s", i ? " " : "", keys[i].key);
        return mv_fail(MV_ERR_ARG, "--set: unknown key '%s' (keys: %s)", key, list);
    }
    cJSON *v = cJSON_Parse(eq + 1);
    char where[160];
    snprintf(where, sizeof where, "--set %s", assignment);
    if (!v) {
        return mv_fail(MV_ERR_ARG, "%s: key '%s': expected %s, got '%s'", where, key, type_name(keys[k].type),
                       eq + 1);
    }
    mv_status s = key_assign(c, k, v, where);
    cJSON_Delete(v);
    return s;
}

/* ---------------- validation ---------------- */

static mv_status check_range(const char *key, double v, double lo, double hi) {
    if (!(v >= lo && v <= hi)) return mv_fail(MV_ERR_ARG, "config key '%s' = %g must be in [%g, %g]", key, v, lo, hi);
    return MV_OK;
}

static mv_status check_model(const char *pfx, int width, int depth, int heads, double lr, int warmup, int batch,
                             int ckpt) {
    char k[64];
#define R(name, v, lo, hi) (snprintf(k, sizeof k, "%s.%s", pfx, name), check_range(k, v, lo, hi))
    MV_TRY(R("width", width, 12, 1 << 16));
    MV_TRY(R("depth", depth, 1, 256));
    MV_TRY(R("heads", heads, 1, 1024));
    MV_TRY(R("lr", lr, 1e-12, 1.0));
    MV_TRY(R("warmup", warmup, 0, 1e9));
    MV_TRY(R("batch", batch, 1, 1 << 20));
    MV_TRY(R("checkpoint_every", ckpt, 1, 1e9));
#undef R
    if (width % heads)
        return mv_fail(MV_ERR_ARG, "config key '%s.width' = %d must be divisible by %s.heads = %d", pfx, width, pfx,
                       heads);
    return MV_OK;
}

static mv_status check_levels_array(const mv_config *c, const char *key, const int *a, int lo) {
    for (int l = 0; l < MV_MAX_LEVELS; l++) {
        if (l < c->levels && a[l] < lo)
            return mv_fail(MV_ERR_ARG, "config key '%s' entry %d = %d must be >= %d (one entry per level, levels = %d)",
                           key, l, a[l], lo, c->levels);
        if (l >= c->levels && a[l] != 0)
            return mv_fail(MV_ERR_ARG, "config key '%s' has more entries than levels = %d", key, c->levels);
    }
    return MV_OK;
}

static mv_status check_pyramid(const mv_config *c) {
    MV_TRY(check_range("levels", c->levels, 1, MV_MAX_LEVELS));
    MV_TRY(check_range("image_size", c->image_size, 1, 8192));
    MV_TRY(check_range("patch", c->patch, 1, 1024));
    MV_TRY(check_range("latent_channels", c->latent_channels, 1, 4096));
    int unit = c->patch << (c->levels - 1);
    if (c->image_size % unit)
        return mv_fail(MV_ERR_ARG, "config key 'image_size' = %d must be divisible by patch * 2^(levels-1) = %d * %d = %d",
                       c->image_size, c->patch, 1 << (c->levels - 1), unit);
    return MV_OK;
}

static mv_status check_rollout(const mv_config *c) {
    MV_TRY(check_levels_array(c, "millivid.windows", c->mv_windows, 1));
    for (int l = 0; l + 1 < c->levels; l++)
        if (c->mv_windows[l + 1] % c->mv_windows[l])
            return mv_fail(MV_ERR_ARG, "config key 'millivid.windows': entry %d = %d must divide entry %d = %d", l,
                           c->mv_windows[l], l + 1, c->mv_windows[l + 1]);
    for (int l = 0; l < c->levels; l++) {
        int t = mv_config_tokens(c, l);
        if ((long)c->mv_windows[l] * t != c->mv_budget)
            return mv_fail(MV_ERR_ARG, "config key 'millivid.budget' = %d must equal millivid.windows[%d] * tokens(%d) "
                           "= %d * %d = %ld", c->mv_budget, l, l, c->mv_windows[l], t, (long)c->mv_windows[l] * t);
    }
    MV_TRY(check_levels_array(c, "framepack.context", c->fp_context, 0));
    MV_TRY(check_range("framepack.denoise", c->fp_denoise, 1, 1 << 16));
    MV_TRY(check_range("fullres.frames", c->fr_frames, 2, 1 << 16));
    return MV_OK;
}

mv_status mv_config_validate(const mv_config *c) {
    MV_TRY(check_pyramid(c));
    MV_TRY(check_model("ae", c->ae_width, c->ae_depth, c->ae_heads, c->ae_lr, c->ae_warmup, c->ae_batch,
                       c->ae_checkpoint_every));
    if (c->ae_width % 4)
        return mv_fail(MV_ERR_ARG, "config key 'ae.width' = %d must be divisible by 4 (2-D sin-cos positions)",
                       c->ae_width);
    MV_TRY(check_model("dit", c->dit_width, c->dit_depth, c->dit_heads, c->dit_lr, c->dit_warmup, c->dit_batch,
                       c->dit_checkpoint_every));
    MV_TRY(check_range("dit.context_cache", c->context_cache, 0, 1));
    MV_TRY(check_range("weight_decay", c->weight_decay, 0, 10));
    MV_TRY(check_rollout(c));
    MV_TRY(check_range("sample.steps", c->sample_steps, 1, 100000));
    MV_TRY(check_range("sample.guidance", c->guidance, 0, 100));
    MV_TRY(check_range("eval.context", c->context_frames, 0, 1 << 20));
    MV_TRY(check_range("eval.frames", c->video_frames, 2, 1 << 20));
    if (c->video_frames <= mv_config_eval_context(c))
        return mv_fail(MV_ERR_ARG, "config key 'eval.frames' = %d must exceed the evaluation context %d (eval.context, "
                       "or 0 for the MilliVid reach + 1)", c->video_frames, mv_config_eval_context(c));
    return MV_OK;
}

/* ---------------- JSON round trip ---------------- */

/* The object for dotted key `key` inside root (created as needed); *leaf gets the last component. */
static cJSON *json_parent(cJSON *root, const char *key, const char **leaf) {
    const char *dot = strchr(key, '.');
    *leaf = key;
    if (!dot) return root;
    char head[64];
    size_t n = MV_MIN((size_t)(dot - key), sizeof head - 1);
    memcpy(head, key, n);
    head[n] = 0;
    cJSON *o = cJSON_GetObjectItemCaseSensitive(root, head);
    if (!o) o = cJSON_AddObjectToObject(root, head);
    *leaf = dot + 1;
    return o;
}

char *mv_config_to_json(const mv_config *c) {
    cJSON *root = cJSON_CreateObject();
    char *out = NULL;
    if (!root) return NULL;
    if (!cJSON_AddStringToObject(root, "preset", c->preset)) goto done;
    for (int k = 0; k < NKEYS; k++) {
        const char *leaf;
        cJSON *parent = json_parent(root, keys[k].key, &leaf), *v = NULL;
        if (!parent) goto done;
        const char *field = (const char *)c + keys[k].off;
        int iv[MV_MAX_LEVELS];
        double dv;
        if (keys[k].type == K_INT) {
            memcpy(iv, field, sizeof(int));
            v = cJSON_CreateNumber(iv[0]);
        } else if (keys[k].type == K_DOUBLE) {
            memcpy(&dv, field, sizeof dv);
            v = cJSON_CreateNumber(dv);
        } else if (keys[k].type == K_LEVELS) {
            memcpy(iv, field, sizeof iv);
            int n = MV_MAX(1, MV_MIN(c->levels, MV_MAX_LEVELS));
            v = cJSON_CreateIntArray(iv, n);
        }
        if (!v || !cJSON_AddItemToObject(parent, leaf, v)) {
            cJSON_Delete(v);
            goto done;
        }
    }
    out = cJSON_Print(root);
done:
    cJSON_Delete(root);
    if (!out) mv_fail(MV_ERR_NOMEM, "out of memory serialising the configuration");
    return out;
}

mv_status mv_config_from_json(mv_config *c, const char *json) {
    memset(c, 0, sizeof *c);
    MV_TRY(config_parse(c, json, "config JSON", 0));
    return mv_config_validate(c);
}
