/* Generates a video through the public C API (include/millivid.h) only.
 *
 *   build/examples/generate AE.safetensors DIT.safetensors DATA_DIR VIDEO FRAMES OUT_DIR [SEED [STEPS [THREADS]]]
 *
 * Takes the ground-truth context frames and the actions of video VIDEO of a data set (millivid world),
 * rolls the DiT's method out to FRAMES frames and writes every generated frame as
 * OUT_DIR/frame_NNNNN.ppm (binary PPM, RGB). The context is the checkpoint's default (the MilliVid reach
 * + 1); STEPS 0 (the default) uses the checkpoint's sampler steps; THREADS 0 (the default) uses every
 * core. The DiT's kernels round differently at different thread counts, so the bytes match those of
 * `millivid generate` at the same --threads (and `millivid eval`, which runs each video on one thread,
 * at THREADS 1). */
#include <stdio.h>
#include <stdlib.h>

#include "millivid.h"

typedef struct {
    const char *dir;
    int written;
} out_dir;

/* Frame callback: one PPM file per generated frame. */
static mv_status write_frame(void *user, int frame, const uint8_t *rgb, int width, int height) {
    out_dir *o = user;
    char path[1024];
    snprintf(path, sizeof path, "%s/frame_%05d.ppm", o->dir, frame);
    FILE *f = fopen(path, "wb");
    if (!f) return MV_ERR_IO;
    fprintf(f, "P6\n%d %d\n255\n", width, height);
    size_t n = (size_t)width * height * 3;
    int bad = fwrite(rgb, 1, n, f) != n;
    bad |= fclose(f) != 0;
    if (bad) return MV_ERR_IO;
    o->written++;
    return MV_OK;
}

static void progress(void *user, long done, long total) {
    (void)user;
    fprintf(stderr, "\rrollout step %ld / %ld", done, total);
    if (done == total) fprintf(stderr, "\n");
}

int main(int argc, char **argv) {
    if (argc < 7) {
        fprintf(stderr, "usage: %s AE DIT DATA_DIR VIDEO FRAMES OUT_DIR [SEED [STEPS [THREADS]]]\n", argv[0]);
        return 2;
    }
    mv_set_threads(argc > 9 ? atoi(argv[9]) : 0);
    int video = atoi(argv[4]), frames = atoi(argv[5]);
    out_dir out = {argv[6], 0};
    mv_generator *gen = NULL;
    mv_data *data = NULL;
    int *actions = NULL, rc = 1;

    mv_generator_params gp;
    mv_generator_params_init(&gp);
    gp.ae_path = argv[1];
    gp.dit_path = argv[2];
    if (mv_generator_create(&gen, &gp)) goto done;
    if (mv_data_open(&data, argv[3])) goto done;
    if (video < 0 || video >= mv_data_videos(data) || frames > mv_data_frames(data)) {
        fprintf(stderr, "video %d, %d frames: the data set has %d videos of %d frames\n", video, frames,
                mv_data_videos(data), mv_data_frames(data));
        goto done;
    }
    actions = malloc((size_t)frames * sizeof(int));
    if (!actions) goto done;
    for (int f = 0; f < frames; f++) actions[f] = mv_data_action(data, video, f);

    mv_generate_params p;
    mv_generate_params_init(&p);
    p.context_frames = mv_data_video(data, video);
    p.context = mv_generator_default_context(gen);
    p.frames = frames;
    p.actions = actions;
    p.seed = argc > 7 ? strtoull(argv[7], NULL, 10) : 0;
    p.sample_steps = argc > 8 ? atoi(argv[8]) : 0;
    p.frame_fn = write_frame, p.frame_user = &out;
    p.progress_fn = progress;
    mv_generate_stats st;
    if (mv_generate(gen, &p, &st)) goto done;
    printf("%s: %d context + %d generated frames written to %s (%ld DiT calls, %.1f s)\n",
           mv_generator_method(gen), p.context, out.written, out.dir, st.dit_calls, st.seconds);
    rc = 0;
done:
    if (rc) fprintf(stderr, "generate: error: %s\n", mv_last_error()[0] ? mv_last_error() : "failed");
    free(actions);
    mv_data_close(data);
    mv_generator_free(gen);
    return rc;
}
