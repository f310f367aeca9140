/* Video through the FFmpeg libraries.
 * Writer: RGB24 -> yuv420p by hand (integer BT.601 limited range, 2x2-averaged chroma; exact and
 * identical on every machine), libx264 with threads=1 and x264's instruction set capped at AVX2
 * (its AVX-512 paths made output differ between runs), bitexact muxer + encoder flags, mp4 with the
 * moov atom at the front (+faststart). Written to "<path>.tmp" and renamed at close.
 * Reader: any FFmpeg input -> decoded frames -> RGB24 at the source size with libswscale (colour matrix
 * and range taken from the stream, BT.601 when unspecified) -> centre crop to a square -> our own exact
 * area-weighted box filter to size x size (each output pixel is the overlap-weighted mean of the source
 * pixels its footprint covers). Optional frame-rate resampling: output k is the latest source frame
 * whose time (relative to the first frame) is <= k / out_fps, up to the end of the last frame. */
#include "core/core.h"
#include "io/video.h"

#include <errno.h>
#include <math.h>
#include <stdio.h>
#include <unistd.h>

#include <libavcodec/avcodec.h>
#include <libavformat/avformat.h>
#include <libavutil/cpu.h>
#include <libavutil/display.h>
#include <libavutil/imgutils.h>
#include <libavutil/opt.h>
#include <libswscale/swscale.h>

/* x264 option string capping its instruction set below AVX-512 (see the file comment). Only given on
 * CPUs with AVX-512 (which all have AVX2/FMA3/BMI2): x264 trusts an explicit "asm" list, so naming
 * instructions the CPU lacks would crash; elsewhere x264 detects the CPU itself. */
#define MV_X264_NO_AVX512 "asm=AVX2"

static char *str_dup(const char *s) {
    size_t n = strlen(s) + 1;
    char *d = malloc(n);
    if (d) memcpy(d, s, n);
    return d;
}

static const char *av_msg(int err, char *buf, size_t n) {
    av_strerror(err, buf, n);
    return buf;
}

/* FFmpeg prints its own diagnostics to stderr; ours name the file, so keep it quiet unless debugging. */
static void av_quiet(void) {
    av_log_set_level(mv_get_log_level() >= MV_LOG_DEBUG ? AV_LOG_WARNING : AV_LOG_QUIET);
}

/* ------------------------------------------------------------------------------------------------ */
/* Writer                                                                                           */
/* ------------------------------------------------------------------------------------------------ */

struct mv_video_writer {
    char *path, *tmp;
    int width, height;
    int64_t frames;
    AVFormatContext *oc;
    AVCodecContext *enc;
    AVStream *st;
    AVFrame *frame;
    AVPacket *pkt;
    int header_written;
};

static void writer_free(mv_video_writer *w) {
    if (!w) return;
    if (w->oc) {
        if (w->oc->pb) avio_closep(&w->oc->pb);
        avformat_free_context(w->oc);
    }
    avcodec_free_context(&w->enc);
    av_frame_free(&w->frame);
    av_packet_free(&w->pkt);
    free(w->path);
    free(w->tmp);
    free(w);
}

/* Sends one frame (NULL flushes) and writes every packet the encoder has ready. */
static mv_status writer_encode(mv_video_writer *w, AVFrame *frame) {
    char eb[128];
    int ret = avcodec_send_frame(w->enc, frame);
    if (ret < 0) return mv_fail(MV_ERR_IO, "%s: encoding failed: %s", w->path, av_msg(ret, eb, sizeof eb));
    for (;;) {
        ret = avcodec_receive_packet(w->enc, w->pkt);
        if (ret == AVERROR(EAGAIN) || ret == AVERROR_EOF) return MV_OK;
        if (ret < 0)
            return mv_fail(MV_ERR_IO, "%s: encoding failed: %s", w->path, av_msg(ret, eb, sizeof eb));
        av_packet_rescale_ts(w->pkt, w->enc->time_base, w->st->time_base);
        w->pkt->stream_index = w->st->index;
        ret = av_interleaved_write_frame(w->oc, w->pkt); /* takes the packet's reference */
        if (ret < 0) return mv_fail(MV_ERR_IO, "%s: write failed: %s", w->tmp, av_msg(ret, eb, sizeof eb));
    }
}

static mv_status writer_setup_encoder(mv_video_writer *w, int fps, int crf) {
    char eb[128], crf_s[16];
    AVDictionary *opts = NULL;
    const AVCodec *codec = avcodec_find_encoder_by_name("libx264");
    if (!codec)
        return mv_fail(MV_ERR_UNSUPPORTED,
                       "%s: this FFmpeg has no libx264 encoder (install an FFmpeg "
                       "built with --enable-libx264)",
                       w->path);
    w->enc = avcodec_alloc_context3(codec);
    if (!w->enc) return mv_fail(MV_ERR_NOMEM, "%s: out of memory (encoder)", w->path);
    AVCodecContext *c = w->enc;
    c->width = w->width;
    c->height = w->height;
    c->pix_fmt = AV_PIX_FMT_YUV420P;
    c->time_base = (AVRational){1, fps};
    c->framerate = (AVRational){fps, 1};
    c->gop_size = 5 * fps; /* a keyframe every 5 s keeps browser seeking quick */
    c->thread_count = 1;
    c->flags |= AV_CODEC_FLAG_BITEXACT;
    c->color_range = AVCOL_RANGE_MPEG;
    c->colorspace = AVCOL_SPC_SMPTE170M; /* the BT.601 matrix we convert with */
    c->color_primaries = AVCOL_PRI_BT709;
    c->color_trc = AVCOL_TRC_BT709;
    if (w->oc->oformat->flags & AVFMT_GLOBALHEADER) c->flags |= AV_CODEC_FLAG_GLOBAL_HEADER;
    snprintf(crf_s, sizeof crf_s, "%d", crf);
    av_dict_set(&opts, "crf", crf_s, 0);
    av_dict_set(&opts, "preset", "medium", 0);
    if (av_get_cpu_flags() & (AV_CPU_FLAG_AVX512 | AV_CPU_FLAG_AVX512ICL))
        av_dict_set(&opts, "x264-params", MV_X264_NO_AVX512, 0);
    int ret = avcodec_open2(c, codec, &opts);
    av_dict_free(&opts);
    if (ret < 0)
        return mv_fail(MV_ERR_IO, "%s: cannot open libx264: %s", w->path, av_msg(ret, eb, sizeof eb));
    w->st = avformat_new_stream(w->oc, NULL);
    if (!w->st) return mv_fail(MV_ERR_NOMEM, "%s: out of memory (stream)", w->path);
    w->st->time_base = c->time_base;
    w->st->avg_frame_rate = c->framerate;
    ret = avcodec_parameters_from_context(w->st->codecpar, c);
    if (ret < 0)
        return mv_fail(MV_ERR_INTERNAL, "%s: codec parameters: %s", w->path, av_msg(ret, eb, sizeof eb));
    return MV_OK;
}

mv_status mv_video_writer_open(mv_video_writer **out, const char *path, int width, int height, int fps,
                               int crf) {
    char eb[128];
    mv_status s = MV_OK;
    AVDictionary *mopts = NULL;
    *out = NULL;
    if (width <= 0 || height <= 0 || width % 2 || height % 2)
        return mv_fail(MV_ERR_ARG, "%s: video size must be positive and even, got %dx%d", path, width,
                       height);
    if (fps <= 0 || fps > 1000) return mv_fail(MV_ERR_ARG, "%s: bad frame rate %d", path, fps);
    if (crf < 0 || crf > 51) return mv_fail(MV_ERR_ARG, "%s: crf must be in [0, 51], got %d", path, crf);
    av_quiet();
    mv_video_writer *w = calloc(1, sizeof *w);
    if (!w) return mv_fail(MV_ERR_NOMEM, "%s: out of memory", path);
    w->width = width, w->height = height;
    w->path = str_dup(path);
    w->tmp = malloc(strlen(path) + 5);
    w->frame = av_frame_alloc();
    w->pkt = av_packet_alloc();
    if (!w->path || !w->tmp || !w->frame || !w->pkt) {
        s = mv_fail(MV_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    sprintf(w->tmp, "%s.tmp", path);
    int ret = avformat_alloc_output_context2(&w->oc, NULL, "mp4", w->tmp);
    if (ret < 0 || !w->oc) {
        s = mv_fail(MV_ERR_UNSUPPORTED, "%s: no mp4 muxer in this FFmpeg", path);
        goto fail;
    }
    w->oc->flags |= AVFMT_FLAG_BITEXACT;
    if ((s = writer_setup_encoder(w, fps, crf)) != MV_OK) goto fail;
    w->frame->format = AV_PIX_FMT_YUV420P;
    w->frame->width = width, w->frame->height = height;
    if ((ret = av_frame_get_buffer(w->frame, 0)) < 0) {
        s = mv_fail(MV_ERR_NOMEM, "%s: frame buffer: %s", path, av_msg(ret, eb, sizeof eb));
        goto fail;
    }
    if ((ret = avio_open(&w->oc->pb, w->tmp, AVIO_FLAG_WRITE)) < 0) {
        s = mv_fail(MV_ERR_IO, "%s: cannot create: %s", w->tmp, av_msg(ret, eb, sizeof eb));
        goto fail;
    }
    av_dict_set(&mopts, "movflags", "+faststart", 0);
    ret = avformat_write_header(w->oc, &mopts);
    av_dict_free(&mopts);
    if (ret < 0) {
        s = mv_fail(MV_ERR_IO, "%s: cannot write the mp4 header: %s", w->tmp, av_msg(ret, eb, sizeof eb));
        goto fail;
    }
    w->header_written = 1;
    *out = w;
    return MV_OK;
fail:
    if (w->oc && w->oc->pb) {
        avio_closep(&w->oc->pb);
        unlink(w->tmp);
    }
    writer_free(w);
    return s;
}

/* BT.601 limited range, integer: Y from each pixel, Cb/Cr from the mean of each 2x2 block. */
static void rgb_to_yuv420p(AVFrame *f, const uint8_t *rgb /* [h, w, 3] */, int w, int h) {
    for (int y = 0; y < h; y++) {
        const uint8_t *p = rgb + (size_t)y * w * 3;
        uint8_t *Y = f->data[0] + (size_t)y * f->linesize[0];
        for (int x = 0; x < w; x++, p += 3)
            Y[x] = (uint8_t)((66 * p[0] + 129 * p[1] + 25 * p[2] + 4224) >> 8);
    }
    for (int y = 0; y < h / 2; y++) {
        const uint8_t *r0 = rgb + (size_t)(2 * y) * w * 3, *r1 = r0 + (size_t)w * 3;
        uint8_t *U = f->data[1] + (size_t)y * f->linesize[1], *V = f->data[2] + (size_t)y * f->linesize[2];
        for (int x = 0; x < w / 2; x++) {
            const uint8_t *a = r0 + 6 * x, *b = r1 + 6 * x;
            int R = a[0] + a[3] + b[0] + b[3], G = a[1] + a[4] + b[1] + b[4], B = a[2] + a[5] + b[2] + b[5];
            U[x] = (uint8_t)((-38 * R - 74 * G + 112 * B + 4 * 32896) >> 10);
            V[x] = (uint8_t)((112 * R - 94 * G - 18 * B + 4 * 32896) >> 10);
        }
    }
}

mv_status mv_video_writer_add(mv_video_writer *w, const uint8_t *rgb /* [height, width, 3] */) {
    char eb[128];
    int ret = av_frame_make_writable(w->frame);
    if (ret < 0) return mv_fail(MV_ERR_NOMEM, "%s: frame buffer: %s", w->path, av_msg(ret, eb, sizeof eb));
    rgb_to_yuv420p(w->frame, rgb, w->width, w->height);
    w->frame->pts = w->frames++;
    return writer_encode(w, w->frame);
}

mv_status mv_video_writer_close(mv_video_writer *w) {
    char eb[128];
    mv_status s = writer_encode(w, NULL);
    if (s != MV_OK) goto fail;
    int ret = av_write_trailer(w->oc); /* with +faststart this rewrites the file, moov first */
    if (ret < 0) {
        s = mv_fail(MV_ERR_IO, "%s: cannot finish the mp4: %s", w->tmp, av_msg(ret, eb, sizeof eb));
        goto fail;
    }
    if ((ret = avio_closep(&w->oc->pb)) < 0) {
        s = mv_fail(MV_ERR_IO, "%s: close failed: %s", w->tmp, av_msg(ret, eb, sizeof eb));
        goto fail;
    }
    if (rename(w->tmp, w->path) != 0) {
        s = mv_fail(MV_ERR_IO, "%s: cannot rename %s into place: %s", w->path, w->tmp, strerror(errno));
        goto fail;
    }
    writer_free(w);
    return MV_OK;
fail:
    mv_video_writer_abort(w);
    return s;
}

void mv_video_writer_abort(mv_video_writer *w) {
    if (!w) return;
    if (w->oc && w->oc->pb) avio_closep(&w->oc->pb);
    unlink(w->tmp);
    writer_free(w);
}

/* ------------------------------------------------------------------------------------------------ */
/* Reader                                                                                           */
/* ------------------------------------------------------------------------------------------------ */

/* Separable area weights for resampling n source samples to m: output i covers source interval
 * [i*n/m, (i+1)*n/m); taps are the overlaps, normalised to sum 1. */
typedef struct {
    int *first, *count; /* [m] */
    float *w;           /* [m, maxtaps] */
    int maxtaps;
} area_axis;

static void area_free(area_axis *a) {
    free(a->first);
    free(a->count);
    free(a->w);
    memset(a, 0, sizeof *a);
}

static mv_status area_init(area_axis *a, int n, int m) {
    a->maxtaps = (n + m - 1) / m + 2;
    a->first = malloc(sizeof(int) * m);
    a->count = malloc(sizeof(int) * m);
    a->w = calloc((size_t)m * a->maxtaps, sizeof(float));
    if (!a->first || !a->count || !a->w) {
        area_free(a);
        return mv_fail(MV_ERR_NOMEM, "out of memory (resampling weights)");
    }
    for (int i = 0; i < m; i++) {
        double lo = (double)i * n / m, hi = (double)(i + 1) * n / m;
        int j0 = (int)floor(lo), j1 = (int)ceil(hi);
        if (j1 > n) j1 = n;
        a->first[i] = j0;
        a->count[i] = 0;
        double sum = 0;
        for (int j = j0; j < j1 && a->count[i] < a->maxtaps; j++) {
            double ov = MV_MIN(hi, j + 1.0) - MV_MAX(lo, (double)j);
            if (ov <= 0) ov = 0;
            a->w[(size_t)i * a->maxtaps + a->count[i]++] = (float)ov;
            sum += ov;
        }
        for (int k = 0; k < a->count[i]; k++) a->w[(size_t)i * a->maxtaps + k] /= (float)sum;
    }
    return MV_OK;
}

struct mv_video_reader {
    char *path;
    int size;
    double out_fps, src_fps;
    AVFormatContext *fc;
    AVCodecContext *dec;
    int stream;
    AVRational tb;
    AVPacket *pkt;
    AVFrame *cur, *ahead; /* cur: latest frame at or before the next output time; ahead: the one after */
    double cur_t, ahead_t, first_t;
    int has_cur, has_ahead, eof, flushed;
    int64_t decoded, emitted;
    struct SwsContext *sws;
    uint8_t *rgb;  /* [src_h, src_w, 3] */
    float *rowbuf; /* [size, side, 3] */
    int rgb_w, rgb_h;
    area_axis ax; /* side -> size, used for both axes */
    int ax_side;
    int rot;     /* display rotation to undo, in quarter turns clockwise (0..3) */
    uint8_t *sq; /* [size, size, 3] before rotation */
};

static mv_status reader_open_input(mv_video_reader *r) {
    char eb[128];
    int ret = avformat_open_input(&r->fc, r->path, NULL, NULL);
    if (ret == AVERROR(ENOENT)) return mv_fail(MV_ERR_IO, "%s: no such file", r->path);
    if (ret < 0)
        return mv_fail(MV_ERR_FORMAT,
                       "%s: not a video FFmpeg can read (not a media file, or truncated/corrupt: %s)",
                       r->path, av_msg(ret, eb, sizeof eb));
    if ((ret = avformat_find_stream_info(r->fc, NULL)) < 0)
        return mv_fail(MV_ERR_FORMAT, "%s: cannot read stream information (%s)", r->path,
                       av_msg(ret, eb, sizeof eb));
    const AVCodec *codec = NULL;
    ret = av_find_best_stream(r->fc, AVMEDIA_TYPE_VIDEO, -1, -1, &codec, 0);
    if (ret == AVERROR_STREAM_NOT_FOUND) return mv_fail(MV_ERR_FORMAT, "%s: has no video stream", r->path);
    if (ret == AVERROR_DECODER_NOT_FOUND || (ret >= 0 && !codec))
        return mv_fail(MV_ERR_UNSUPPORTED, "%s: no decoder for its video codec in this FFmpeg", r->path);
    if (ret < 0)
        return mv_fail(MV_ERR_FORMAT, "%s: no usable video stream (%s)", r->path, av_msg(ret, eb, sizeof eb));
    r->stream = ret;
    AVStream *st = r->fc->streams[ret];
    if (codec->id == AV_CODEC_ID_ANSI || codec->id == AV_CODEC_ID_TEXT || codec->id == AV_CODEC_ID_BINTEXT ||
        codec->id == AV_CODEC_ID_XBIN || codec->id == AV_CODEC_ID_IDF)
        return mv_fail(MV_ERR_FORMAT, "%s: is a text file, not a video", r->path);
    r->tb = st->time_base;
    const uint8_t *dm = av_stream_get_side_data(st, AV_PKT_DATA_DISPLAYMATRIX, NULL);
    if (dm) { /* phones store portrait video sideways plus a rotation for the player: apply it */
        double deg = -av_display_rotation_get((const int32_t *)dm);
        if (isfinite(deg)) r->rot = ((int)lround(deg / 90) % 4 + 4) % 4;
    }
    AVRational fr =
        st->avg_frame_rate.num > 0 && st->avg_frame_rate.den > 0 ? st->avg_frame_rate : st->r_frame_rate;
    r->src_fps = fr.num > 0 && fr.den > 0 ? av_q2d(fr) : 0;
    r->dec = avcodec_alloc_context3(codec);
    if (!r->dec) return mv_fail(MV_ERR_NOMEM, "%s: out of memory (decoder)", r->path);
    if ((ret = avcodec_parameters_to_context(r->dec, st->codecpar)) < 0)
        return mv_fail(MV_ERR_FORMAT, "%s: bad codec parameters (%s)", r->path, av_msg(ret, eb, sizeof eb));
    r->dec->thread_count = MV_MAX(1, MV_MIN(mv_get_threads(), 4)); /* decoding is bit-exact at any count */
    r->dec->pkt_timebase = st->time_base;
    if ((ret = avcodec_open2(r->dec, codec, NULL)) < 0)
        return mv_fail(MV_ERR_FORMAT, "%s: cannot open the %s decoder (%s)", r->path, codec->name,
                       av_msg(ret, eb, sizeof eb));
    return MV_OK;
}

mv_status mv_video_reader_open(mv_video_reader **out, const char *path, int size, double out_fps) {
    mv_status s;
    *out = NULL;
    if (size <= 0 || size > 8192) return mv_fail(MV_ERR_ARG, "%s: bad output size %d", path, size);
    if (!(out_fps >= 0) || out_fps > 1000)
        return mv_fail(MV_ERR_ARG, "%s: bad output frame rate %g", path, out_fps);
    av_quiet();
    mv_video_reader *r = calloc(1, sizeof *r);
    if (!r) return mv_fail(MV_ERR_NOMEM, "%s: out of memory", path);
    r->size = size;
    r->out_fps = out_fps;
    r->path = str_dup(path);
    r->pkt = av_packet_alloc();
    r->cur = av_frame_alloc();
    r->ahead = av_frame_alloc();
    r->sq = malloc((size_t)size * size * 3);
    if (!r->path || !r->pkt || !r->cur || !r->ahead || !r->sq) {
        s = mv_fail(MV_ERR_NOMEM, "%s: out of memory", path);
        goto fail;
    }
    if ((s = reader_open_input(r)) != MV_OK) goto fail;
    *out = r;
    return MV_OK;
fail:
    mv_video_reader_close(r);
    return s;
}

double mv_video_reader_fps(const mv_video_reader *r) { return r->src_fps; }

int64_t mv_video_reader_frames_hint(const mv_video_reader *r) {
    AVStream *st = r->fc->streams[r->stream];
    double dur = -1;
    if (st->duration > 0)
        dur = st->duration * av_q2d(st->time_base);
    else if (r->fc->duration > 0)
        dur = r->fc->duration / (double)AV_TIME_BASE;
    if (r->out_fps > 0 && dur > 0) return (int64_t)ceil(dur * r->out_fps - 1e-6);
    if (st->nb_frames > 0) return st->nb_frames;
    if (dur > 0 && r->src_fps > 0) return (int64_t)llround(dur * r->src_fps);
    return -1;
}

void mv_video_reader_close(mv_video_reader *r) {
    if (!r) return;
    avcodec_free_context(&r->dec);
    avformat_close_input(&r->fc);
    av_packet_free(&r->pkt);
    av_frame_free(&r->cur);
    av_frame_free(&r->ahead);
    sws_freeContext(r->sws);
    free(r->rgb);
    free(r->rowbuf);
    free(r->sq);
    area_free(&r->ax);
    free(r->path);
    free(r);
}

/* Decodes the next frame into f. *got = 0 at the end of the stream. */
static mv_status reader_decode(mv_video_reader *r, AVFrame *f, int *got) {
    char eb[128];
    *got = 0;
    for (;;) {
        int ret = avcodec_receive_frame(r->dec, f);
        if (ret >= 0) {
            r->decoded++;
            *got = 1;
            return MV_OK;
        }
        if (ret == AVERROR_EOF) return MV_OK;
        if (ret != AVERROR(EAGAIN))
            return mv_fail(MV_ERR_FORMAT, "%s: corrupt video data after frame %lld (%s)", r->path,
                           (long long)r->decoded, av_msg(ret, eb, sizeof eb));
        if (r->flushed) return MV_OK;
        ret = r->eof ? AVERROR_EOF : av_read_frame(r->fc, r->pkt);
        if (ret == AVERROR_EOF) {
            r->eof = r->flushed = 1;
            avcodec_send_packet(r->dec, NULL);
            continue;
        }
        if (ret < 0)
            return mv_fail(MV_ERR_FORMAT, "%s: read error after frame %lld, file truncated or corrupt (%s)",
                           r->path, (long long)r->decoded, av_msg(ret, eb, sizeof eb));
        if (r->pkt->stream_index != r->stream) {
            av_packet_unref(r->pkt);
            continue;
        }
        int corrupt = r->pkt->flags & AV_PKT_FLAG_CORRUPT;
        ret = avcodec_send_packet(r->dec, r->pkt);
        av_packet_unref(r->pkt);
        if (corrupt)
            return mv_fail(MV_ERR_FORMAT, "%s: truncated or corrupt data after frame %lld", r->path,
                           (long long)r->decoded);
        if (ret < 0 && ret != AVERROR(EAGAIN))
            return mv_fail(MV_ERR_FORMAT, "%s: corrupt video data after frame %lld (%s)", r->path,
                           (long long)r->decoded, av_msg(ret, eb, sizeof eb));
    }
}

/* Seconds since the first frame. */
static double frame_time(mv_video_reader *r, const AVFrame *f) {
    int64_t ts = f->best_effort_timestamp;
    double t = ts == AV_NOPTS_VALUE ? (r->src_fps > 0 ? (r->decoded - 1) / r->src_fps : r->decoded - 1)
                                    : ts * av_q2d(r->tb);
    if (r->decoded == 1) r->first_t = t;
    return t - r->first_t;
}

static mv_status reader_prepare(mv_video_reader *r, const AVFrame *f) {
    if (f->width <= 0 || f->height <= 0) return mv_fail(MV_ERR_FORMAT, "%s: decoded an empty frame", r->path);
    r->sws =
        sws_getCachedContext(r->sws, f->width, f->height, f->format, f->width, f->height, AV_PIX_FMT_RGB24,
                             SWS_BICUBIC | SWS_ACCURATE_RND | SWS_FULL_CHR_H_INT, NULL, NULL, NULL);
    if (!r->sws)
        return mv_fail(MV_ERR_UNSUPPORTED, "%s: cannot convert pixel format %s to RGB", r->path,
                       av_get_pix_fmt_name(f->format));
    int full = f->color_range == AVCOL_RANGE_JPEG || f->format == AV_PIX_FMT_YUVJ420P ||
               f->format == AV_PIX_FMT_YUVJ422P || f->format == AV_PIX_FMT_YUVJ444P;
    int cs = f->colorspace == AVCOL_SPC_UNSPECIFIED || f->colorspace == AVCOL_SPC_RGB ? SWS_CS_DEFAULT
                                                                                      : f->colorspace;
    const int *coef = sws_getCoefficients(cs);
    sws_setColorspaceDetails(r->sws, coef, full, sws_getCoefficients(SWS_CS_DEFAULT), 1, 0, 1 << 16, 1 << 16);
    if (r->rgb_w != f->width || r->rgb_h != f->height) {
        free(r->rgb);
        r->rgb = malloc((size_t)f->width * f->height * 3);
        if (!r->rgb)
            return mv_fail(MV_ERR_NOMEM, "%s: out of memory (%dx%d frame)", r->path, f->width, f->height);
        r->rgb_w = f->width, r->rgb_h = f->height;
    }
    int side = MV_MIN(f->width, f->height);
    if (side != r->ax_side) {
        area_free(&r->ax);
        free(r->rowbuf);
        r->rowbuf = malloc(sizeof(float) * r->size * side * 3);
        if (!r->rowbuf) return mv_fail(MV_ERR_NOMEM, "%s: out of memory", r->path);
        MV_TRY(area_init(&r->ax, side, r->size));
        r->ax_side = side;
    }
    return MV_OK;
}

/* dst = src turned clockwise by q quarter turns (square images). */
static void rotate_square(uint8_t *dst /* [S, S, 3] */, const uint8_t *src /* [S, S, 3] */, int S, int q) {
    for (int y = 0; y < S; y++)
        for (int x = 0; x < S; x++) {
            int sy = q == 1 ? S - 1 - x : q == 2 ? S - 1 - y : x;
            int sx = q == 1 ? y : q == 2 ? S - 1 - x : S - 1 - y;
            memcpy(dst + ((size_t)y * S + x) * 3, src + ((size_t)sy * S + sx) * 3, 3);
        }
}

/* Decoded frame -> RGB -> centre square -> area resample to size x size (-> display rotation). */
static mv_status reader_convert(mv_video_reader *r, const AVFrame *f, uint8_t *final /* [size, size, 3] */) {
    MV_TRY(reader_prepare(r, f));
    uint8_t *out = r->rot ? r->sq : final;
    uint8_t *dst[4] = {r->rgb, NULL, NULL, NULL};
    int dst_ls[4] = {r->rgb_w * 3, 0, 0, 0};
    sws_scale(r->sws, (const uint8_t *const *)f->data, f->linesize, 0, f->height, dst, dst_ls);
    int side = r->ax_side, S = r->size, x0 = (r->rgb_w - side) / 2, y0 = (r->rgb_h - side) / 2;
    const area_axis *a = &r->ax;
    for (int i = 0; i < S; i++) { /* vertical pass: rowbuf [S, side, 3] */
        float *o = r->rowbuf + (size_t)i * side * 3;
        memset(o, 0, sizeof(float) * side * 3);
        for (int k = 0; k < a->count[i]; k++) {
            float wt = a->w[(size_t)i * a->maxtaps + k];
            const uint8_t *src = r->rgb + ((size_t)(y0 + a->first[i] + k) * r->rgb_w + x0) * 3;
            for (int x = 0; x < side * 3; x++) o[x] += wt * src[x];
        }
    }
    for (int i = 0; i < S; i++) /* horizontal pass */
        for (int j = 0; j < S; j++)
            for (int c = 0; c < 3; c++) {
                float acc = 0;
                for (int k = 0; k < a->count[j]; k++)
                    acc += a->w[(size_t)j * a->maxtaps + k] *
                           r->rowbuf[((size_t)i * side + a->first[j] + k) * 3 + c];
                int v = (int)lrintf(acc);
                out[((size_t)i * S + j) * 3 + c] = (uint8_t)(v < 0 ? 0 : v > 255 ? 255 : v);
            }
    if (r->rot) rotate_square(final, r->sq, S, r->rot);
    return MV_OK;
}

static mv_status reader_fill_ahead(mv_video_reader *r) {
    int got;
    av_frame_unref(r->ahead);
    MV_TRY(reader_decode(r, r->ahead, &got));
    r->has_ahead = got;
    if (got) r->ahead_t = frame_time(r, r->ahead);
    return MV_OK;
}

mv_status mv_video_reader_next(mv_video_reader *r, uint8_t *rgb /* [size, size, 3] */, int *got) {
    *got = 0;
    if (r->out_fps <= 0) {
        int have;
        av_frame_unref(r->cur);
        MV_TRY(reader_decode(r, r->cur, &have));
        if (!have) goto end;
        MV_TRY(reader_convert(r, r->cur, rgb));
        r->emitted++;
        *got = 1;
        return MV_OK;
    }
    const double eps = 1e-6;
    double target = r->emitted / r->out_fps;
    if (!r->has_cur) { /* first call: the first frame starts the clock */
        MV_TRY(reader_fill_ahead(r));
        if (!r->has_ahead) goto end;
    }
    for (;;) { /* advance while the following frame is still at or before the target time */
        if (r->has_ahead && r->ahead_t <= target + eps) {
            av_frame_unref(r->cur);
            av_frame_move_ref(r->cur, r->ahead);
            r->cur_t = r->ahead_t;
            r->has_cur = 1;
            MV_TRY(reader_fill_ahead(r));
            continue;
        }
        break;
    }
    if (!r->has_cur) goto end;
    if (!r->has_ahead) { /* the last frame lasts one source frame period */
        double period = r->src_fps > 0 ? 1.0 / r->src_fps : 1.0 / r->out_fps;
        if (target >= r->cur_t + period - eps) goto end;
    }
    MV_TRY(reader_convert(r, r->cur, rgb));
    r->emitted++;
    *got = 1;
    return MV_OK;
end:
    if (r->decoded == 0) return mv_fail(MV_ERR_FORMAT, "%s: contains no decodable video frames", r->path);
    return MV_OK;
}
