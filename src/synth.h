/* synth.h - deterministic generated scenes: the fixture of the core tests and the demo. */
#ifndef DEJA_SYNTH_H
#define DEJA_SYNTH_H

#include <stdbool.h>
#include <stdint.h>

typedef struct {
    int width, height; /* stride == width */
    uint8_t *pixels;   /* malloc'd: free with deja__synth_free */
} deja__synth_image;

/* Scene `place` (any integer) of the world `seed`, seen with view variation `view`: view 0 is the
 * canonical view; other views move the camera (rotation up to +-5.7 degrees, scale 0.88-1.12,
 * shift up to 6 % of the size) and change lighting (gain 0.75-1.25, bias +-25) with noise. */
bool deja__synth_render(uint64_t seed, int place, int view, int width, int height,
                        deja__synth_image *out);
void deja__synth_free(deja__synth_image *im);

#endif
