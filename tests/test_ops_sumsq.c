/* Segmented sum of squares on the device against its reference: empty, tiny and odd
 * segments, segments many chunks long, many small segments, a ResNet-18 parameter
 * list, the paired (x and y) variant, bit-identical reruns, grid splitting, bounds.
 * awkward_segments and deterministic run each of the four reduction paths.
 *
 * Tolerance: every term is a square, so |ref| is the sum of |terms| and the usual
 * |d| <= TEST_ATOL + TEST_RTOL*|ref| is a tolerance scaled by the sum of the terms.
 * The device adds in fp32 along a fixed path: per invocation at most 16 blocks of 16
 * squares (each block a tree of depth 5) added in turn plus 2 end elements, then a
 * two-level sum over the 64 invocations (15 + 3 additions in turn), then per segment
 * a serial sum of ceil(chunks/64) <= 25 partials per invocation and the same two-level
 * sum. Each addition of non-negative terms adds at most one rounding (u = 2^-24)
 * relative to the running total, so the relative error is below ~(21 + 2 + 18 + 25 +
 * 18) u ~ 5e-6 for every case here, 20x inside TEST_RTOL = 1e-4. */
#include "ops/sumsq.h"
#include "sumsq_seg.h"
#include "test_util.h"
#include "vk/vk_tuning.h"

/* A device whose context finishes its reductions by path p (test_reduce_path_at:
 * set with VKLARS_TUNE before the context is created, on top of VKLARS_TUNING, so
 * under both geometries); checks the table took it. */
static test_dev sq_dev_on_path(size_t arena_bytes, test_reduce_path path) {
  const test_reduce_path *p = &path;
  cr_assert_eq(setenv("VKLARS_TUNE", p->tune, 1), 0);
  test_dev d = test_dev_create(arena_bytes);
  unsetenv("VKLARS_TUNE");
  const vkl_tuning *t = vkl_ctx_tuning(d.ctx);
  cr_assert(t->memory_model == p->memory_model && t->subgroup_reduce == p->subgroup_reduce,
            "VKLARS_TUNE=%s not in effect", p->tune);
  return d;
}

/* Segments, tables and buffers for one case, on the device. */
typedef struct sq_case {
  uint32_t T;
  vkl_sumsq_segment *seg;
  vkl_sumsq_shape sh;
  double *x, *y;          /* host data (n) */
  vkl_buf dx, dy;         /* device data */
  vkl_buf dseg, dchunks;  /* device tables */
  vkl_buf ws, out, out_y; /* workspace (poisoned) and outputs (poisoned) */
} sq_case;

/* Builds a case over a buffer of n elements from T segments (seg is copied). */
static sq_case sq_setup(test_dev *d, test_rng *rng, const vkl_sumsq_segment *seg, uint32_t T,
                        uint64_t n, uint32_t chunk, double scale) {
  sq_case c = {.T = T};
  c.seg = malloc(T * sizeof *c.seg);
  cr_assert(c.seg);
  memcpy(c.seg, seg, T * sizeof *seg);
  uint64_t chunks = vkl_sumsq_chunk_count(seg, T, chunk);
  c.sh = (vkl_sumsq_shape){.T = T, .chunks = (uint32_t)chunks, .chunk = chunk, .n = n};
  uint32_t *table = malloc(chunks * 2 * sizeof *table);
  cr_assert(table);
  vkl_sumsq_chunk_table(table, seg, T, chunk);
  c.dchunks = test_upload_u32(d, table, chunks * 2);
  free(table);
  c.dseg = test_upload_u32(d, (const uint32_t *)seg, 2ull * T);
  c.x = test_random(rng, n, scale);
  c.y = test_random(rng, n, scale * 0.01); /* gradient-like: much smaller than x */
  c.dx = test_upload(d, c.x, n);
  c.dy = test_upload(d, c.y, n);
  c.ws = test_alloc_poisoned(d, vkl_sumsq_workspace_floats(&c.sh)); /* needs no init */
  c.out = test_alloc_poisoned(d, T);
  c.out_y = test_alloc_poisoned(d, T);
  return c;
}

static void sq_free(sq_case *c) {
  free(c->seg), free(c->x), free(c->y);
}

static vkl_status sq_record(test_dev *d, sq_case *c, int pair) {
  return vkl_sumsq_forward(d->cmd, c->out, pair ? &c->out_y : NULL, c->dx, pair ? &c->dy : NULL,
                           c->dseg, c->dchunks, &c->sh, c->ws);
}

/* Runs the case (paired or not) and checks against the reference. */
static void sq_check(test_dev *d, sq_case *c, int pair, const char *what) {
  TEST_RECORD_AND_RUN(d, sq_record(d, c, pair));
  double *ref = malloc(c->T * sizeof *ref);
  cr_assert(ref);
  char name[128];
  vkl_sumsq_forward_ref(ref, c->x, c->seg, c->T);
  snprintf(name, sizeof name, "%s: ||x||^2", what);
  test_expect_close(d, c->out, ref, c->T, TEST_ATOL, TEST_RTOL, name);
  if (pair) {
    vkl_sumsq_forward_ref(ref, c->y, c->seg, c->T);
    snprintf(name, sizeof name, "%s: ||y||^2", what);
    test_expect_close(d, c->out_y, ref, c->T, TEST_ATOL, TEST_RTOL, name);
  }
  free(ref);
}

Test(ops_sumsq, chunk_table_layout) {
  /* 0 -> 1 chunk, chunk -> 1, chunk + 1 -> 2, 3 chunk - 1 -> 3 */
  vkl_sumsq_segment seg[] = {{0, 0}, {0, 256}, {10, 257}, {5, 767}};
  cr_assert_eq(vkl_sumsq_chunk_count(seg, 4, 256), 7);
  uint32_t table[14];
  vkl_sumsq_chunk_table(table, seg, 4, 256);
  const uint32_t want[14] = {0, 0, 1, 0, 2, 0, 2, 1, 3, 0, 3, 1, 3, 2};
  for (int i = 0; i < 14; i++) cr_assert_eq(table[i], want[i], "entry %d", i);
  cr_assert_eq(vkl_sumsq_chunk_elems(0), VKL_SUMSQ_CHUNK_DEFAULT);
  cr_assert_eq(vkl_sumsq_chunk_count(seg, 4, 0), 4);
}

/* Odd and edge lengths, one segment many chunks long, gaps, reversed order and an
 * overlap, with the default chunk and with a one-element-per-invocation chunk (so a
 * 100k segment has 391 chunks, more than a workgroup's invocations). */
Test(ops_sumsq, awkward_segments) {
  for (int path = 0; path < 4; path++) {
    test_dev d = sq_dev_on_path(64u << 20, test_reduce_path_at(path));
    test_rng rng = {11};
    const uint32_t big = 37 * VKL_SUMSQ_CHUNK_DEFAULT + 5;
    vkl_sumsq_segment seg[] = {
        {0, 0},
        {0, 1},
        {1, 3},
        {4, 7},
        {11, 255},
        {266, 256},
        {522, 257},
        {779, 1000},
        {1779, 0},
        {1800, big},
        {1790, 9},                 /* behind the big one */
        {1000, 2000},              /* overlaps others */
        {1800 + big + 13, 100000}, /* after a gap */
    };
    uint32_t T = sizeof seg / sizeof seg[0];
    uint64_t n = 1800 + big + 13 + 100000 + 3;
    const uint32_t chunks[] = {0, VKL_SUMSQ_WG};
    for (int k = 0; k < 2; k++) {
      vkl_arena_reset(d.arena);
      sq_case c = sq_setup(&d, &rng, seg, T, n, chunks[k], 1.0);
      char what[160];
      snprintf(what, sizeof what, "%s, %s", test_reduce_path_at(path).tune,
               k ? "chunk 256" : "default chunk");
      sq_check(&d, &c, 0, what);
      snprintf(what, sizeof what, "%s, paired, %s", test_reduce_path_at(path).tune,
               k ? "chunk 256" : "default chunk");
      sq_check(&d, &c, 1, what);
      sq_free(&c);
    }
    test_dev_destroy(&d);
  }
}

/* 2000 small segments of 0..99 elements, back to back. */
Test(ops_sumsq, many_small_segments) {
  test_dev d = test_dev_create(16u << 20);
  test_rng rng = {12};
  enum { T = 2000 };
  static vkl_sumsq_segment seg[T];
  uint32_t off = 0;
  for (uint32_t s = 0; s < T; s++) {
    seg[s] = (vkl_sumsq_segment){off, (uint32_t)(test_rng_next(&rng) % 100)};
    off += seg[s].count;
  }
  sq_case c = sq_setup(&d, &rng, seg, T, off, 0, 3.0);
  sq_check(&d, &c, 1, "many small");
  sq_free(&c);
  test_dev_destroy(&d);
}

/* torchvision resnet18(num_classes=10) with a 3x3 stem, parameters in state_dict
 * order: 62 tensors, 11,173,962 floats, from 10 (fc.bias) to 2,359,296. */
static uint32_t resnet18_segments(vkl_sumsq_segment *seg) {
  uint32_t T = 0, off = 0;
#define P(count) (seg[T++] = (vkl_sumsq_segment){off, (count)}, off += (count))
#define BN(c) (P(c), P(c))
  P(64 * 3 * 9), BN(64); /* conv1, bn1 */
  const uint32_t width[4] = {64, 128, 256, 512};
  uint32_t cin = 64;
  for (int l = 0; l < 4; l++) {
    uint32_t c = width[l];
    for (int blk = 0; blk < 2; blk++) {
      uint32_t in = blk ? c : cin;
      P(c * in * 9), BN(c), P(c * c * 9), BN(c);
      if (blk == 0 && in != c) P(c * in), BN(c); /* downsample.0, downsample.1 */
    }
    cin = c;
  }
  P(10 * 512), P(10); /* fc */
#undef BN
#undef P
  return T;
}

Test(ops_sumsq, resnet18_parameter_list) {
  test_dev d = test_dev_create(128u << 20);
  test_rng rng = {13};
  vkl_sumsq_segment seg[64];
  uint32_t T = resnet18_segments(seg);
  cr_assert_eq(T, 62);
  uint64_t n = seg[T - 1].offset + seg[T - 1].count;
  cr_assert_eq(n, 11173962);
  sq_case c = sq_setup(&d, &rng, seg, T, n, 0, 0.05);
  sq_check(&d, &c, 1, "resnet18 w and g");
  sq_free(&c);
  test_dev_destroy(&d);
}

/* Same inputs twice, paired and not: bit-identical results, and the paired x
 * results equal the unpaired ones (the y sums ride along, the x order is the same).
 * Also the same with the grid split into several dispatches of 7 groups. */
Test(ops_sumsq, deterministic) {
  for (int path = 0; path < 4; path++) {
    test_dev d = sq_dev_on_path(128u << 20, test_reduce_path_at(path));
    test_rng rng = {14};
    vkl_sumsq_segment seg[64];
    uint32_t T = resnet18_segments(seg);
    uint64_t n = seg[T - 1].offset + seg[T - 1].count;
    sq_case c = sq_setup(&d, &rng, seg, T, n, 0, 1.0);
    uint32_t first[64], again[64], paired[64];
    TEST_RECORD_AND_RUN(&d, sq_record(&d, &c, 0));
    test_download_u32(&d, first, c.out, T);
    TEST_RECORD_AND_RUN(&d, sq_record(&d, &c, 0));
    test_download_u32(&d, again, c.out, T);
    TEST_RECORD_AND_RUN(&d, sq_record(&d, &c, 1));
    test_download_u32(&d, paired, c.out, T);
    for (uint32_t s = 0; s < T; s++) {
      cr_assert_eq(first[s], again[s], "%s: segment %u differs between runs",
                   test_reduce_path_at(path).tune, s);
      cr_assert_eq(first[s], paired[s], "%s: segment %u differs when paired",
                   test_reduce_path_at(path).tune, s);
    }
    vkl_ctx_lower_workgroup_count(d.ctx, (uint32_t[3]){7, 7, 7});
    TEST_RECORD_AND_RUN(&d, sq_record(&d, &c, 0));
    test_download_u32(&d, again, c.out, T);
    for (uint32_t s = 0; s < T; s++)
      cr_assert_eq(first[s], again[s], "%s: segment %u differs with a split grid",
                   test_reduce_path_at(path).tune, s);
    /* and the results are right: a path that skipped its last step would leave
     * the multi-chunk segments at the poisoned value */
    double ref[64];
    vkl_sumsq_forward_ref(ref, c.x, c.seg, T);
    test_expect_close(&d, c.out, ref, T, TEST_ATOL, TEST_RTOL, test_reduce_path_at(path).tune);
    sq_free(&c);
    test_dev_destroy(&d);
  }
}

/* A segment running past n sums only its elements below n: x holds 150 elements
 * but the shape says 100, so a read past n would find (non-zero) data. A stray
 * chunk-table entry is skipped. */
Test(ops_sumsq, never_reads_past_n) {
  test_dev d = test_dev_create(4u << 20);
  test_rng rng = {15};
  vkl_sumsq_segment seg[] = {{0, 10}, {95, 40}, {200, 5}};
  sq_case c = sq_setup(&d, &rng, seg, 3, 150, 0, 1.0);
  c.sh.n = 100;
  TEST_RECORD_AND_RUN(&d, sq_record(&d, &c, 0));
  vkl_sumsq_segment inside[] = {{0, 10}, {95, 5}, {0, 0}};
  double ref[3];
  vkl_sumsq_forward_ref(ref, c.x, inside, 3);
  test_expect_close(&d, c.out, ref, 3, TEST_ATOL, TEST_RTOL, "clipped at n");
  /* a chunk table naming a segment that does not exist: that entry is skipped */
  uint32_t bad[8] = {0, 0, 1, 0, 7, 0, 2, 0};
  vkl_buf dbad = test_upload_u32(&d, bad, 8);
  vkl_sumsq_shape sh = c.sh;
  sh.chunks = 4;
  vkl_buf ws = test_alloc_poisoned(&d, vkl_sumsq_workspace_floats(&sh));
  TEST_RECORD_AND_RUN(&d, vkl_sumsq_forward(d.cmd, c.out, NULL, c.dx, NULL, c.dseg, dbad, &sh, ws));
  test_expect_close(&d, c.out, ref, 3, TEST_ATOL, TEST_RTOL, "with a stray table entry");
  sq_free(&c);
  test_dev_destroy(&d);
}

Test(ops_sumsq, refuses_bad_arguments) {
  test_dev d = test_dev_create(1 << 20);
  test_rng rng = {16};
  vkl_sumsq_segment seg[] = {{0, 10}, {10, 20}};
  sq_case c = sq_setup(&d, &rng, seg, 2, 30, 0, 1.0);
  TEST_OK(d.ctx, vkl_cmd_begin(d.cmd));
  cr_assert_eq(vkl_sumsq_forward(d.cmd, c.out, NULL, c.dx, &c.dy, c.dseg, c.dchunks, &c.sh, c.ws),
               VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx),
                   "sumsq: y and out_y must be given together (out_y is missing)");
  vkl_buf short_ws = vkl_buf_sub(c.ws, 0, 4 * sizeof(float));
  cr_assert_eq(sq_record(&d,
                         &(sq_case){.out = c.out,
                                    .dx = c.dx,
                                    .dseg = c.dseg,
                                    .dchunks = c.dchunks,
                                    .sh = c.sh,
                                    .ws = short_ws},
                         0),
               VKL_ERR_INVALID_ARGUMENT);
  cr_assert_str_eq(vkl_ctx_errmsg(d.ctx),
                   "sumsq: tensor workspace holds 4 floats, the shape needs 6");
  vkl_buf odd_ws = vkl_buf_sub(c.ws, 4, 6 * sizeof(float)); /* misaligned binding */
  cr_assert_eq(vkl_sumsq_forward(d.cmd, c.out, NULL, c.dx, NULL, c.dseg, c.dchunks, &c.sh, odd_ws),
               VKL_ERR_INVALID_ARGUMENT);
  cr_assert(strstr(vkl_ctx_errmsg(d.ctx), "sumsq: workspace offset"), "%s", vkl_ctx_errmsg(d.ctx));
  vkl_sumsq_shape few = c.sh;
  few.chunks = 1;
  cr_assert_eq(vkl_sumsq_forward(d.cmd, c.out, NULL, c.dx, NULL, c.dseg, c.dchunks, &few, c.ws),
               VKL_ERR_INVALID_ARGUMENT);
  TEST_OK(d.ctx, vkl_cmd_end(d.cmd));
  sq_free(&c);
  test_dev_destroy(&d);
}
