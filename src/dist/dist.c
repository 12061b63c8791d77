/* The ranks of a run (see dist.h): MPI where vklars is built with it
 * (VKLARS_WITH_MPI), and a communicator of one everywhere. With one rank
 * every collective is the identity, and MPI is never called. */
#include "dist/dist.h"

#include <limits.h>
#include <sched.h>
#include <stdarg.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <time.h>

#ifdef VKLARS_WITH_MPI
#include <mpi.h>
#endif

struct vkl_dist {
  uint32_t rank, size, local_rank;
  double timeout_s;
  char library[64];
  char err[512];
#ifdef VKLARS_WITH_MPI
  int initialised; /* this create called MPI_Init_thread */
  int ops_created;
  MPI_Op sum_f32, sum_f64;
  MPI_Request pending[VKL_DIST_MAX_PENDING];
  int in_use[VKL_DIST_MAX_PENDING];
#endif
};

static vkl_status fail(vkl_dist *d, vkl_status st, const char *fmt, ...)
    __attribute__((format(printf, 3, 4)));
static vkl_status fail(vkl_dist *d, vkl_status st, const char *fmt, ...) {
  va_list ap;
  va_start(ap, fmt);
  vsnprintf(d->err, sizeof d->err, fmt, ap);
  va_end(ap);
  return st;
}

/* The world size a launcher announces in the environment (Open MPI's
 * mpirun, MPICH's and Intel MPI's hydra, PMI-based srun), or 0. */
static long launcher_world_size(void) {
  static const char *const vars[] = {"OMPI_COMM_WORLD_SIZE", "PMI_SIZE", "PMIX_SIZE"};
  for (size_t i = 0; i < sizeof vars / sizeof vars[0]; i++) {
    const char *v = getenv(vars[i]);
    if (v && *v) return strtol(v, NULL, 10);
  }
  return 0;
}

int vkl_dist_launched(void) {
  return launcher_world_size() > 1;
}

void vkl_dist_pause(uint32_t polls) {
  if (polls < 1000) {
    sched_yield();
  } else {
    struct timespec ts = {0, 50000};
    nanosleep(&ts, NULL);
  }
}

uint32_t vkl_dist_rank(const vkl_dist *d) {
  return d ? d->rank : 0;
}
uint32_t vkl_dist_size(const vkl_dist *d) {
  return d ? d->size : 1;
}
uint32_t vkl_dist_local_rank(const vkl_dist *d) {
  return d ? d->local_rank : 0;
}
const char *vkl_dist_library(const vkl_dist *d) {
  return d && d->library[0] ? d->library : "none";
}
const char *vkl_dist_errmsg(const vkl_dist *d) {
  return d ? d->err : "";
}

#ifdef VKLARS_WITH_MPI

/* inout = in + inout, in the rank order MPI keeps for a non-commutative
 * operation (in holds the lower ranks' partial sum). */
static void sum_f32_in_rank_order(void *in, void *inout, int *len, MPI_Datatype *type) {
  (void)type;
  const float *a = in;
  float *b = inout;
  for (int i = 0; i < *len; i++) b[i] = a[i] + b[i];
}

static void sum_f64_in_rank_order(void *in, void *inout, int *len, MPI_Datatype *type) {
  (void)type;
  const double *a = in;
  double *b = inout;
  for (int i = 0; i < *len; i++) b[i] = a[i] + b[i];
}

static vkl_status mpi_fail(vkl_dist *d, int rc, const char *call) {
  char text[MPI_MAX_ERROR_STRING];
  int len = 0;
  if (MPI_Error_string(rc, text, &len) != MPI_SUCCESS) snprintf(text, sizeof text, "error %d", rc);
  return fail(d, VKL_ERR_IO, "rank %u: %s: %s", d->rank, call, text);
}

static double now_s(void) {
  struct timespec ts;
  clock_gettime(CLOCK_MONOTONIC, &ts);
  return (double)ts.tv_sec + ts.tv_nsec * 1e-9;
}

/* Polls r until it completes or the timeout passes. MPI progresses a
 * non-blocking collective inside MPI_Test, so the poll is frequent
 * (vkl_dist_pause between polls). */
static vkl_status wait_request(vkl_dist *d, MPI_Request *r, const char *what) {
  double t0 = now_s();
  for (uint32_t polls = 0;; polls++) {
    int done = 0, rc = MPI_Test(r, &done, MPI_STATUS_IGNORE);
    if (rc != MPI_SUCCESS) return mpi_fail(d, rc, what);
    if (done) return VKL_OK;
    if (now_s() - t0 > d->timeout_s)
      return fail(d, VKL_ERR_TIMEOUT,
                  "rank %u: %s waited %.0f s for the other ranks: one of them stopped or died",
                  d->rank, what, d->timeout_s);
    vkl_dist_pause(polls);
  }
}

static vkl_status allreduce(vkl_dist *d, void *buf, uint64_t n, MPI_Datatype type, MPI_Op op,
                            const char *what) {
  if (n > INT_MAX)
    return fail(d, VKL_ERR_INVALID_ARGUMENT, "%s: %llu values at once", what,
                (unsigned long long)n);
  MPI_Request r;
  int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, type, op, MPI_COMM_WORLD, &r);
  if (rc != MPI_SUCCESS) return mpi_fail(d, rc, what);
  return wait_request(d, &r, what);
}

static void library_name(vkl_dist *d) {
  char v[MPI_MAX_LIBRARY_VERSION_STRING];
  int len = 0;
  if (MPI_Get_library_version(v, &len) != MPI_SUCCESS) return;
  size_t n = strcspn(v, ",\n"); /* "Open MPI v4.1.4, package: ..." */
  if (n >= sizeof d->library) n = sizeof d->library - 1;
  memcpy(d->library, v, n);
  d->library[n] = '\0';
}

static vkl_status init_mpi(vkl_dist *d, int *argc, char ***argv) {
  int provided = 0, rc, rank, size, local;
  if ((rc = MPI_Init_thread(argc, argv, MPI_THREAD_FUNNELED, &provided)) != MPI_SUCCESS)
    return mpi_fail(d, rc, "MPI_Init_thread");
  d->initialised = 1;
  MPI_Comm_set_errhandler(MPI_COMM_WORLD, MPI_ERRORS_RETURN);
  MPI_Comm_rank(MPI_COMM_WORLD, &rank);
  MPI_Comm_size(MPI_COMM_WORLD, &size);
  d->rank = (uint32_t)rank;
  d->size = (uint32_t)size;
  MPI_Comm node;
  if ((rc = MPI_Comm_split_type(MPI_COMM_WORLD, MPI_COMM_TYPE_SHARED, 0, MPI_INFO_NULL, &node)) !=
      MPI_SUCCESS)
    return mpi_fail(d, rc, "MPI_Comm_split_type");
  MPI_Comm_rank(node, &local);
  MPI_Comm_free(&node);
  d->local_rank = (uint32_t)local;
  library_name(d);
  if ((rc = MPI_Op_create(sum_f32_in_rank_order, 0, &d->sum_f32)) != MPI_SUCCESS ||
      (rc = MPI_Op_create(sum_f64_in_rank_order, 0, &d->sum_f64)) != MPI_SUCCESS)
    return mpi_fail(d, rc, "MPI_Op_create");
  d->ops_created = 1;
  return VKL_OK;
}

#endif /* VKLARS_WITH_MPI */

vkl_status vkl_dist_create(int *argc, char ***argv, double timeout_s, vkl_dist **out, char *err,
                           size_t errlen) {
  *out = NULL;
  vkl_dist *d = calloc(1, sizeof *d);
  if (!d) {
    snprintf(err, errlen, "out of host memory");
    return VKL_ERR_OUT_OF_HOST_MEMORY;
  }
  d->size = 1;
  d->timeout_s = timeout_s > 0 ? timeout_s : VKL_DIST_TIMEOUT_DEFAULT_S;
  long world = launcher_world_size();
  vkl_status st = VKL_OK;
#ifdef VKLARS_WITH_MPI
  if (world > 0) st = init_mpi(d, argc, argv);
#else
  (void)argc;
  (void)argv;
  if (world > 1)
    st = fail(d, VKL_ERR_UNSUPPORTED,
              "started as one of %ld ranks, but this vklars was built without MPI: rebuild with "
              "MPI (libopenmpi-dev or libmpich-dev installed; cmake -DVKLARS_WITH_MPI=ON)",
              world);
#endif
  if (st) {
    snprintf(err, errlen, "%s", d->err);
    vkl_dist_destroy(d);
    return st;
  }
  *out = d;
  return VKL_OK;
}

void vkl_dist_destroy(vkl_dist *d) {
  if (!d) return;
#ifdef VKLARS_WITH_MPI
  if (d->initialised) {
    if (d->ops_created) {
      MPI_Op_free(&d->sum_f32);
      MPI_Op_free(&d->sum_f64);
    }
    MPI_Finalize();
  }
#endif
  free(d);
}

void vkl_dist_abort(vkl_dist *d, int code) {
#ifdef VKLARS_WITH_MPI
  if (d && d->initialised && d->size > 1) MPI_Abort(MPI_COMM_WORLD, code);
#else
  (void)d;
  (void)code;
#endif
}

vkl_status vkl_dist_sum_f32_start(vkl_dist *d, float *buf, uint64_t n, uint32_t *handle) {
  *handle = UINT32_MAX;
  if (!d || d->size == 1) return VKL_OK;
#ifdef VKLARS_WITH_MPI
  uint32_t h = 0;
  while (h < VKL_DIST_MAX_PENDING && d->in_use[h]) h++;
  if (h == VKL_DIST_MAX_PENDING)
    return fail(d, VKL_ERR_INVALID_ARGUMENT, "more than %d summations in flight",
                VKL_DIST_MAX_PENDING);
  if (n > INT_MAX)
    return fail(d, VKL_ERR_INVALID_ARGUMENT, "a summation of %llu floats at once",
                (unsigned long long)n);
  int rc = MPI_Iallreduce(MPI_IN_PLACE, buf, (int)n, MPI_FLOAT, d->sum_f32, MPI_COMM_WORLD,
                          &d->pending[h]);
  if (rc != MPI_SUCCESS) return mpi_fail(d, rc, "MPI_Iallreduce");
  d->in_use[h] = 1;
  *handle = h;
  return VKL_OK;
#else
  (void)buf;
  (void)n;
  return fail(d, VKL_ERR_UNSUPPORTED, "built without MPI");
#endif
}

vkl_status vkl_dist_finish(vkl_dist *d, uint32_t handle) {
  if (!d || d->size == 1 || handle == UINT32_MAX) return VKL_OK;
#ifdef VKLARS_WITH_MPI
  if (handle >= VKL_DIST_MAX_PENDING || !d->in_use[handle])
    return fail(d, VKL_ERR_INVALID_ARGUMENT, "no summation %u in flight", handle);
  vkl_status st = wait_request(d, &d->pending[handle], "the gradient all-reduce");
  if (st != VKL_ERR_TIMEOUT) d->in_use[handle] = 0; /* timed out: may still be finished later */
  return st;
#else
  return fail(d, VKL_ERR_UNSUPPORTED, "built without MPI");
#endif
}

vkl_status vkl_dist_progress(vkl_dist *d) {
  if (!d || d->size == 1) return VKL_OK;
#ifdef VKLARS_WITH_MPI
  for (uint32_t h = 0; h < VKL_DIST_MAX_PENDING; h++) {
    int done = 0, rc;
    if (d->in_use[h] && (rc = MPI_Test(&d->pending[h], &done, MPI_STATUS_IGNORE)) != MPI_SUCCESS)
      return mpi_fail(d, rc, "MPI_Test");
  }
  return VKL_OK;
#else
  return fail(d, VKL_ERR_UNSUPPORTED, "built without MPI");
#endif
}

vkl_status vkl_dist_sum_f32(vkl_dist *d, float *buf, uint64_t n) {
  if (!d || d->size == 1) return VKL_OK;
#ifdef VKLARS_WITH_MPI
  return allreduce(d, buf, n, MPI_FLOAT, d->sum_f32, "a summation");
#else
  (void)buf;
  (void)n;
  return fail(d, VKL_ERR_UNSUPPORTED, "built without MPI");
#endif
}

vkl_status vkl_dist_sum_f64(vkl_dist *d, double *buf, uint64_t n) {
  if (!d || d->size == 1) return VKL_OK;
#ifdef VKLARS_WITH_MPI
  return allreduce(d, buf, n, MPI_DOUBLE, d->sum_f64, "a summation");
#else
  (void)buf;
  (void)n;
  return fail(d, VKL_ERR_UNSUPPORTED, "built without MPI");
#endif
}

vkl_status vkl_dist_any(vkl_dist *d, int flag, int *any) {
  *any = flag != 0;
  if (!d || d->size == 1) return VKL_OK;
#ifdef VKLARS_WITH_MPI
  int v = flag != 0;
  vkl_status st = allreduce(d, &v, 1, MPI_INT, MPI_MAX, "agreeing on a stop");
  *any = v;
  return st;
#else
  return fail(d, VKL_ERR_UNSUPPORTED, "built without MPI");
#endif
}

vkl_status vkl_dist_first_failed(vkl_dist *d, int failed, uint32_t *first_rank) {
  *first_rank = failed ? vkl_dist_rank(d) : UINT32_MAX;
  if (!d || d->size == 1) return VKL_OK;
#ifdef VKLARS_WITH_MPI
  /* an int: with MPI_UINT32_T, MPICH 4.0.2 gave UINT32_MAX as the minimum
   * of {UINT32_MAX, 1, 2} (dist_check caught it); MPI_INT works in both */
  int v = failed ? (int)d->rank : INT_MAX;
  vkl_status st = allreduce(d, &v, 1, MPI_INT, MPI_MIN, "agreeing on a failure");
  *first_rank = v == INT_MAX ? UINT32_MAX : (uint32_t)v;
  return st;
#else
  return fail(d, VKL_ERR_UNSUPPORTED, "built without MPI");
#endif
}

vkl_status vkl_dist_agree_u64(vkl_dist *d, uint64_t value, uint32_t *first_rank) {
  *first_rank = UINT32_MAX;
  if (!d || d->size == 1) return VKL_OK;
#ifdef VKLARS_WITH_MPI
  uint64_t *all = calloc(d->size, sizeof *all);
  if (!all) return fail(d, VKL_ERR_OUT_OF_HOST_MEMORY, "out of host memory");
  MPI_Request r;
  int rc = MPI_Iallgather(&value, 1, MPI_UINT64_T, all, 1, MPI_UINT64_T, MPI_COMM_WORLD, &r);
  vkl_status st = rc != MPI_SUCCESS ? mpi_fail(d, rc, "MPI_Iallgather")
                                    : wait_request(d, &r, "comparing the ranks' states");
  for (uint32_t i = 1; !st && i < d->size && *first_rank == UINT32_MAX; i++)
    if (all[i] != all[0]) *first_rank = i;
  free(all);
  return st;
#else
  (void)value;
  return fail(d, VKL_ERR_UNSUPPORTED, "built without MPI");
#endif
}
