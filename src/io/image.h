/* PNG writing (libpng) and tiny image helpers: contact sheets, text labels for figures and videos. */
#ifndef MV_IMAGE_H
#define MV_IMAGE_H
#include <stdint.h>

#include "millivid.h"

mv_status mv_png_write(const char *path, const uint8_t *rgb /* [h, w, 3] */, int w, int h);
/* Draws text with a built-in 5x7 pixel font at scale s into an RGB image (clipped). */
void mv_draw_text(uint8_t *rgb, int w, int h, int x, int y, const char *text, int s,
                  const uint8_t color[3]);
#endif
