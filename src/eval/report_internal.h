/* What plot.c gives report.c besides mv_report_svg (report.h): the curve styles, so the tables and the
 * plots colour the methods alike. report.c uses plot.c, never the other way round. */
#ifndef MV_REPORT_INTERNAL_H
#define MV_REPORT_INTERNAL_H
#include "eval/report.h"

/* Line colour and dash pattern (NULL: solid) of r->methods[k]: methods coloured, bounds grey dashed. */
void mv_report_style(const mv_report *r, int k, const char **color, const char **dash);
/* Colour of r->training->runs[run]: that of the method of the same name in r->methods, else the next free one. */
const char *mv_report_training_color(const mv_report *r, int run);
/* How a probe bound is shown: "hold_last" -> "hold last frame", ...; unknown names as they are. */
const char *mv_report_bound_label(const char *name);
#endif
