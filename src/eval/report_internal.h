/* What plot.c gives report.c besides mv_report_svg (report.h): the curve styles, so the tables and the
 * plots colour the methods alike. report.c uses plot.c, never the other way round. */
#ifndef MV_REPORT_INTERNAL_H
#define MV_REPORT_INTERNAL_H
#include "eval/report.h"

/* Line colour and dash pattern (NULL: solid) of r->methods[k]: methods coloured, bounds grey dashed. */
void mv_report_style(const mv_report *r, int k, const char **color, const char **dash);
#endif
