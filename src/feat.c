/* feat.c - deja_extractor: one handle for ORB or a learned local-feature network.
 *
 * ORB: a deja_orb inside. A network (ALIKE, Zhao et al., IEEE TMM 2022, and any ONNX model with
 * its interface): the model is read once at create and checked by shape inference on a 32x32
 * input (one 1x3xHxW input; outputs 1x1xHxW scores and 1xDxHxW descriptors, in either order).
 * Per frame: the image as a zero-padded 1x3xHpxWp tensor (sides up to multiples of 32), the
 * engine, then ALIKE's NMS / selection / sub-pixel sampling on the valid region of its outputs.
 * The engine is planned for one padded size: at create when a size is given, else at the first
 * frame, and re-planned (deja__onnx_engine_reshape) only when the padded size changes; the
 * post-processing buffers and the input tensor only grow. So a frame of the planned size never
 * allocates (engine runs and post-processing do not). */
#include "feat.h"
#include "engine.h"

#include <string.h>

struct deja_extractor {
    deja_allocator alloc;
    deja_options opts;
    deja_orb *orb;             /* ORB, or NULL for a network */
    deja__onnx_model *model;   /* the network (owned), or NULL */
    deja__onnx_engine *engine; /* planned for eng_w x eng_h; NULL before the first plan */
    deja__alike_post *post;    /* buffers for post_w x post_h */
    deja__alike_params ap;
    uint32_t scores_out, desc_out; /* output indices */
    int dim;                       /* descriptor channels */
    int width, height;             /* frame size of the current plan; 0 = none */
    int eng_w, eng_h, post_w, post_h;
    float *input; /* the padded input tensor */
    size_t input_cap;
    deja__onnx_output outs[2];
    char err[DEJA_ERROR_BYTES];
};

/* Find the scores and descriptor outputs by their shapes for a 1x3x32x32 input. */
static deja_status check_model(deja_extractor *x)
{
    const deja__onnx_model *m = x->model;
    if (m->n_inputs != 1 || m->n_outputs != 2)
        return DEJA_ERR(NULL, DEJA_UNSUPPORTED,
                        "%s: %u inputs and %u outputs; a feature model has 1 input (1x3xHxW) and 2 "
                        "outputs (scores 1x1xHxW, descriptors 1xDxHxW) as ALIKE",
                        m->source, m->n_inputs, m->n_outputs);
    deja__onnx_shape *shapes = deja__calloc(&x->alloc, m->n_values, sizeof *shapes);
    if (!shapes) return DEJA_ERR(NULL, DEJA_NOMEM, "%s: out of memory for shapes", m->source);
    const int64_t dims[4] = {1, 3, 32, 32};
    char msg[DEJA_ERROR_BYTES];
    deja_status st = deja__onnx_infer_shapes1(m, dims, 4, shapes, msg);
    if (st != DEJA_OK) {
        deja__free(&x->alloc, shapes, m->n_values * sizeof *shapes);
        return DEJA_ERR(NULL, DEJA_UNSUPPORTED, "%s: not a feature model with a 1x3xHxW input "
                        "(H, W free): %s", m->source, msg);
    }
    int64_t channels[2] = {0, 0};
    char text[2][64];
    for (int k = 0; k < 2; k++) {
        const deja__onnx_shape *s = &shapes[m->outputs[k]];
        deja__onnx_shape_text(s, text[k], sizeof text[k]);
        if (s->rank == 4 && s->dims[0] == 1 && s->dims[2] == 32 && s->dims[3] == 32)
            channels[k] = s->dims[1];
    }
    deja__free(&x->alloc, shapes, m->n_values * sizeof *shapes);
    int scores = channels[0] == 1 ? 0 : channels[1] == 1 ? 1 : -1;
    int64_t dim = scores < 0 ? 0 : channels[1 - scores];
    if (scores < 0 || dim < 2)
        return DEJA_ERR(NULL, DEJA_UNSUPPORTED,
                        "%s: outputs '%s' %s and '%s' %s for a 1x3x32x32 input; a feature model "
                        "gives 1x1x32x32 scores and 1xDx32x32 descriptors (D >= 2)",
                        m->source, m->values[m->outputs[0]].name, text[0],
                        m->values[m->outputs[1]].name, text[1]);
    if (dim > DEJA__ALIKE_MAX_DIM)
        return DEJA_ERR(NULL, DEJA_LIMIT, "%s: %lld descriptor channels > %d", m->source,
                        (long long)dim, DEJA__ALIKE_MAX_DIM);
    x->scores_out = (uint32_t)scores;
    x->desc_out = (uint32_t)(1 - scores);
    x->dim = (int)dim;
    return DEJA_OK;
}

/* Plan the engine, post-processing and input tensor for a width x height frame. Allocates only
 * when the size differs from the current plan. Message in x->err. */
static deja_status prepare(deja_extractor *x, int width, int height)
{
    if (width == x->width && height == x->height) return DEJA_OK;
    int pw, ph;
    deja_status st = deja__alike_padded_size(width, height, &pw, &ph, x->err);
    if (st != DEJA_OK) return st;
    x->width = x->height = 0; /* no valid plan until every part below is done */
    size_t floats = (size_t)pw * (size_t)ph * 3; /* < 3 * 2^28 */
    if (!deja__reserve(&x->alloc, (void **)&x->input, &x->input_cap, floats, sizeof(float)))
        return DEJA_ERR(x->err, DEJA_NOMEM, "extractor: no memory for a %dx%d input tensor", pw,
                        ph);
    const int64_t dims[4] = {1, 3, ph, pw};
    if (!x->engine) {
        deja__onnx_engine_params par = {0, NULL, 0}; /* o->n_threads */
        if ((st = deja__onnx_engine_create(&x->opts, x->model, dims, &par, &x->engine, x->err)) !=
            DEJA_OK)
            return st;
    } else if (pw != x->eng_w || ph != x->eng_h) {
        if ((st = deja__onnx_engine_reshape(x->engine, dims)) != DEJA_OK)
            return DEJA_ERR(x->err, st, "extractor: %s", deja__onnx_engine_error(x->engine));
    }
    x->eng_w = pw, x->eng_h = ph;
    if (!x->post || width > x->post_w || height > x->post_h) {
        int mw = width > x->post_w ? width : x->post_w;
        int mh = height > x->post_h ? height : x->post_h;
        deja__alike_post_destroy(x->post);
        x->post = NULL;
        x->post_w = x->post_h = 0;
        if ((st = deja__alike_post_create(&x->opts, &x->ap, mw, mh, x->dim, &x->post)) != DEJA_OK) {
            deja__error_copy(x->err);
            return st;
        }
        x->post_w = mw, x->post_h = mh;
    }
    x->width = width, x->height = height;
    return DEJA_OK;
}

deja_status deja__extractor_create(const deja_options *o, const char *model,
                                   const deja__alike_params *ap, int width, int height,
                                   deja_extractor **out)
{
    if (!out) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "extractor: out is NULL");
    int net = model && model[0];
    if (net && (width < 0 || height < 0 || (width == 0) != (height == 0)))
        return DEJA_ERR(NULL, DEJA_INVALID_ARG, "extractor: frame size %d x %d: give both sides "
                        "(> 0) or 0 x 0 (plan at the first frame)", width, height);
    deja_options opts = deja__options_resolve(o);
    deja_allocator a = deja__allocator(&opts);
    deja_extractor *x = deja__calloc(&a, 1, sizeof *x);
    if (!x) return DEJA_ERR(NULL, DEJA_NOMEM, "extractor: out of memory");
    x->alloc = a;
    x->opts = opts;
    deja_status st;
    if (!net) {
        st = deja_orb_create(&opts, &x->orb);
    } else {
        x->ap = ap ? *ap : deja__alike_params_default();
        if (!ap) x->ap.max_keypoints = opts.orb.n_features;
        /* every failure below leaves its message in deja_last_error() too */
        if ((st = deja__onnx_model_load(&opts, model, &x->model, NULL)) == DEJA_OK &&
            (st = check_model(x)) == DEJA_OK && width > 0)
            st = prepare(x, width, height);
    }
    if (st != DEJA_OK) {
        deja_extractor_destroy(x);
        return st;
    }
    *out = x;
    return DEJA_OK;
}

deja_status deja_extractor_create(const deja_options *o, const char *model, int width, int height,
                                  deja_extractor **out)
{
    return deja__extractor_create(o, model, NULL, width, height, out);
}

void deja_extractor_destroy(deja_extractor *x)
{
    if (!x) return;
    deja_orb_destroy(x->orb);
    deja__alike_post_destroy(x->post);
    deja__onnx_engine_destroy(x->engine);
    deja__onnx_model_destroy(x->model);
    deja__free(&x->alloc, x->input, x->input_cap * sizeof *x->input);
    deja_allocator a = x->alloc;
    deja__free(&a, x, sizeof *x);
}

/* The engine on x->input, then the post-processing. */
static deja_status run_network(deja_extractor *x, deja_features *out)
{
    deja_status st = deja__onnx_engine_run(x->engine, x->input, x->outs);
    if (st != DEJA_OK)
        return DEJA_ERR(x->err, st, "extractor: %s", deja__onnx_engine_error(x->engine));
    const deja__onnx_output *s = &x->outs[x->scores_out], *d = &x->outs[x->desc_out];
    size_t px = (size_t)x->eng_w * (size_t)x->eng_h;
    if (s->count != px || d->count != px * (size_t)x->dim) /* shapes were checked at create */
        return DEJA_ERR(x->err, DEJA_FORMAT, "extractor: %s: outputs of %zu and %zu values for a "
                        "%dx%d input", x->model->source, s->count, d->count, x->eng_w, x->eng_h);
    deja__alike_maps m = {s->data, d->data, x->eng_w, x->eng_h, x->width, x->height, x->dim};
    st = deja__alike_post_run(x->post, &m, out);
    if (st != DEJA_OK)
        return DEJA_ERR(x->err, st, "extractor: %s", deja__alike_post_error(x->post));
    return DEJA_OK;
}

deja_status deja_extractor_extract(deja_extractor *x, const deja_image *im, deja_features *out)
{
    if (!x) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "extractor: NULL handle");
    if (!im || !out) return DEJA_ERR(x->err, DEJA_INVALID_ARG, "extractor: image or out is NULL");
    deja_status st;
    if (x->orb) {
        if ((st = deja_orb_detect(x->orb, im, out)) != DEJA_OK)
            return DEJA_ERR(x->err, st, "extractor: %s", deja_orb_error(x->orb));
        return DEJA_OK;
    }
    if (!im->pixels || im->width < 1 || im->height < 1 || im->stride < im->width)
        return DEJA_ERR(x->err, DEJA_INVALID_ARG, "extractor: image %d x %d, stride %d, pixels %s",
                        im->width, im->height, im->stride, im->pixels ? "set" : "NULL");
    if ((st = prepare(x, im->width, im->height)) != DEJA_OK ||
        (st = deja__alike_input_grey(im, x->input, x->eng_w, x->eng_h, x->err)) != DEJA_OK)
        return st;
    return run_network(x, out);
}

deja_status deja__extractor_extract_rgb(deja_extractor *x, const uint8_t *rgb, int width,
                                        int height, size_t stride_bytes, deja_features *out)
{
    if (!x) return DEJA_ERR(NULL, DEJA_INVALID_ARG, "extractor: NULL handle");
    if (x->orb) return DEJA_ERR(x->err, DEJA_UNSUPPORTED, "extractor: ORB takes grey images");
    if (!rgb || !out) return DEJA_ERR(x->err, DEJA_INVALID_ARG, "extractor: rgb or out is NULL");
    deja_status st;
    if ((st = prepare(x, width, height)) != DEJA_OK ||
        (st = deja__alike_input_rgb(rgb, width, height, stride_bytes, x->input, x->eng_w, x->eng_h,
                                    x->err)) != DEJA_OK)
        return st;
    return run_network(x, out);
}

void deja_extractor_get_info(const deja_extractor *x, deja_extractor_info *out)
{
    memset(out, 0, sizeof *out);
    if (x->orb) {
        out->kind = DEJA_DESC_BINARY;
        out->desc_bytes = 32;
        out->max_keypoints = (uint32_t)x->opts.orb.n_features;
        out->model = "";
        return;
    }
    out->kind = DEJA_DESC_FLOAT32;
    out->desc_bytes = 4u * (uint32_t)x->dim;
    out->max_keypoints = x->ap.max_keypoints > 0 ? (uint32_t)x->ap.max_keypoints : 0;
    out->width = x->width;
    out->height = x->height;
    out->model = x->model->source;
}

const char *deja_extractor_error(const deja_extractor *x)
{
    return x ? x->err : "extractor: NULL handle";
}
