/* A growable text buffer for the report writers (report.c, plot.c): printf-style appends, HTML
 * escaping; an allocation failure is remembered instead of reported at every append. */
#ifndef MV_EVAL_TEXTBUF_H
#define MV_EVAL_TEXTBUF_H
#include <stddef.h>

typedef struct {
    char *s;    /* NUL-terminated text, NULL until the first append */
    size_t len, cap;
    int failed; /* an allocation failed: the text is incomplete */
} mv_textbuf;

void mv_tb_printf(mv_textbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s with &, <, >, " and ' escaped for HTML / XML text and attributes. */
void mv_tb_escape(mv_textbuf *b, const char *s);
void mv_tb_free(mv_textbuf *b);
#endif
