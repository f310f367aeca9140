/* A growable text buffer for the report writers (see textbuf.h). */
#include "eval/textbuf.h"

#include <stdarg.h>

#include "core/core.h"

void mv_tb_printf(mv_textbuf *b, const char *fmt, ...) {
    if (b->failed) return;
    va_list ap;
    va_start(ap, fmt);
    int n = vsnprintf(NULL, 0, fmt, ap);
    va_end(ap);
    if (n < 0) {
        b->failed = 1;
        return;
    }
    if (b->len + (size_t)n + 1 > b->cap) {
        size_t cap = MV_MAX(b->cap * 2, b->len + (size_t)n + 1024);
        char *s = realloc(b->s, cap);
        if (!s) {
            b->failed = 1;
            return;
        }
        b->s = s, b->cap = cap;
    }
    va_start(ap, fmt);
    vsnprintf(b->s + b->len, (size_t)n + 1, fmt, ap);
    va_end(ap);
    b->len += (size_t)n;
}

void mv_tb_escape(mv_textbuf *b, const char *s) {
    for (; s && *s; s++) {
        switch (*s) {
        case '&': mv_tb_printf(b, "&amp;"); break;
        case '<': mv_tb_printf(b, "&lt;"); break;
        case '>': mv_tb_printf(b, "&gt;"); break;
        case '"': mv_tb_printf(b, "&quot;"); break;
        case '\'': mv_tb_printf(b, "&#39;"); break;
        default: mv_tb_printf(b, "%c", *s);
        }
    }
}

void mv_tb_free(mv_textbuf *b) {
    free(b->s);
    memset(b, 0, sizeof *b);
}
