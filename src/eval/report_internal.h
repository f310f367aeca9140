/* Internal to the report writers (report.c, plot.c): a growable text buffer and the curve styles. */
#ifndef MV_REPORT_INTERNAL_H
#define MV_REPORT_INTERNAL_H
#include <stddef.h>

#include "eval/report.h"

typedef struct {
    char *s;    /* NUL-terminated text, NULL until the first append */
    size_t len, cap;
    int failed; /* an allocation failed: the text is incomplete */
} mv_textbuf;

void mv_tb_printf(mv_textbuf *b, const char *fmt, ...) __attribute__((format(printf, 2, 3)));
/* Appends s with &, <, >, " and ' escaped for HTML / XML text and attributes. */
void mv_tb_escape(mv_textbuf *b, const char *s);
void mv_tb_free(mv_textbuf *b);

/* Line colour and dash pattern (NULL: solid) of r->methods[k]: methods coloured, bounds grey dashed. */
void mv_report_style(const mv_report *r, int k, const char **color, const char **dash);
#endif
