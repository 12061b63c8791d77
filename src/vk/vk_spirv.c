/* A small SPIR-V reader: just enough reflection for the dispatch checks.
 *
 * From a compute module it reads which bindings of set 0 are used, the size
 * of the push-constant block, the SpecIds, and the workgroup size after
 * specialization. The dispatch helper then refuses a call whose buffers or
 * push constants do not match the shader, and pipeline creation refuses a
 * workgroup larger than the device allows, instead of undefined behaviour.
 * Reference: the SPIR-V specification, sections 2.3 (physical layout) and
 * 3 (binary form: opcodes, decorations, storage classes). */
#include <stdio.h>
#include <stdlib.h>
#include <string.h>

#include "vk/vk.h"

enum {
  SPV_MAGIC = 0x07230203,
  OP_EXECUTION_MODE = 16,
  OP_TYPE_INT = 21,
  OP_TYPE_FLOAT = 22,
  OP_TYPE_VECTOR = 23,
  OP_TYPE_ARRAY = 28,
  OP_TYPE_STRUCT = 30,
  OP_TYPE_POINTER = 32,
  OP_CONSTANT = 43,
  OP_SPEC_CONSTANT = 50,
  OP_SPEC_CONSTANT_COMPOSITE = 51,
  OP_CONSTANT_COMPOSITE = 44,
  OP_VARIABLE = 59,
  OP_DECORATE = 71,
  OP_MEMBER_DECORATE = 72,
  DEC_SPEC_ID = 1,
  DEC_ARRAY_STRIDE = 6,
  DEC_BUILTIN = 11,
  DEC_BINDING = 33,
  DEC_DESCRIPTOR_SET = 34,
  DEC_OFFSET = 35,
  BUILTIN_WORKGROUP_SIZE = 25,
  MODE_LOCAL_SIZE = 17,
  STORAGE_PUSH_CONSTANT = 9
};

typedef struct reader {
  const uint32_t *code;
  size_t words;
  uint32_t bound;
  uint32_t *def;    /* id -> word index of its defining instruction */
  int32_t *spec_id; /* id -> SpecId or -1 */
  uint32_t *stride; /* id -> ArrayStride */
  char *err;
  size_t errlen;
} reader;

static uint32_t opcode(const reader *r, uint32_t at) {
  return r->code[at] & 0xffff;
}

/* Word index of the result id for the opcodes we index. */
static int result_word(uint32_t op) {
  switch (op) {
    case OP_TYPE_INT:
    case OP_TYPE_FLOAT:
    case OP_TYPE_VECTOR:
    case OP_TYPE_ARRAY:
    case OP_TYPE_STRUCT:
    case OP_TYPE_POINTER: return 1;
    case OP_CONSTANT:
    case OP_SPEC_CONSTANT:
    case OP_SPEC_CONSTANT_COMPOSITE:
    case OP_CONSTANT_COMPOSITE:
    case OP_VARIABLE: return 2;
    default: return 0;
  }
}

/* Value of a 32-bit scalar constant or spec constant (specialized). */
static int constant_value(const reader *r, uint32_t id, const uint32_t *spec, uint32_t spec_count,
                          uint32_t *value) {
  if (id >= r->bound || !r->def[id]) return -1;
  uint32_t at = r->def[id], op = opcode(r, at);
  if (op != OP_CONSTANT && op != OP_SPEC_CONSTANT) return -1;
  *value = r->code[at + 3];
  if (op == OP_SPEC_CONSTANT && r->spec_id[id] >= 0 && (uint32_t)r->spec_id[id] < spec_count)
    *value = spec[r->spec_id[id]];
  return 0;
}

/* Byte size of a push-constant member type: scalars, vectors, arrays. */
static int type_size(const reader *r, uint32_t id, uint32_t *size) {
  if (id >= r->bound || !r->def[id]) return -1;
  uint32_t at = r->def[id];
  switch (opcode(r, at)) {
    case OP_TYPE_INT:
    case OP_TYPE_FLOAT: *size = r->code[at + 2] / 8; return 0;
    case OP_TYPE_VECTOR: {
      uint32_t c;
      if (type_size(r, r->code[at + 2], &c)) return -1;
      *size = c * r->code[at + 3];
      return 0;
    }
    case OP_TYPE_ARRAY: {
      uint32_t n;
      if (constant_value(r, r->code[at + 3], NULL, 0, &n)) return -1;
      *size = n * r->stride[id];
      return 0;
    }
    default: return -1;
  }
}

static int fail(reader *r, const char *msg) {
  snprintf(r->err, r->errlen, "SPIR-V reflection: %s", msg);
  return -1;
}

/* Pass 1: index definitions and decorations. */
static int index_module(reader *r, vkl_shader_layout *out) {
  for (size_t at = 5; at < r->words;) {
    uint32_t n = r->code[at] >> 16, op = r->code[at] & 0xffff;
    if (n == 0 || at + n > r->words) return fail(r, "truncated instruction");
    int rw = result_word(op);
    if (rw && n > (uint32_t)rw && r->code[at + rw] < r->bound)
      r->def[r->code[at + rw]] = (uint32_t)at;
    if (op == OP_DECORATE && n >= 4) {
      uint32_t target = r->code[at + 1], dec = r->code[at + 2], lit = r->code[at + 3];
      if (target >= r->bound) return fail(r, "decoration of an id out of bounds");
      if (dec == DEC_SPEC_ID) r->spec_id[target] = (int32_t)lit;
      if (dec == DEC_ARRAY_STRIDE) r->stride[target] = lit;
      if (dec == DEC_BINDING && lit + 1 > out->binding_count) out->binding_count = lit + 1;
      if (dec == DEC_DESCRIPTOR_SET && lit != 0) return fail(r, "descriptor set other than 0");
    }
    if (op == OP_EXECUTION_MODE && n >= 6 && r->code[at + 2] == MODE_LOCAL_SIZE)
      memcpy(out->local_size, &r->code[at + 3], 3 * sizeof(uint32_t));
    at += n;
  }
  return 0;
}

static int read_spec_ids(reader *r, vkl_shader_layout *out) {
  uint32_t seen = 0, max = 0, count = 0;
  for (uint32_t id = 0; id < r->bound; id++) {
    int32_t s = r->spec_id[id];
    if (s < 0) continue;
    if (s >= VKL_MAX_SPEC) return fail(r, "SpecId beyond VKL_MAX_SPEC");
    if (!(seen & (1u << s))) count++;
    seen |= 1u << s;
    if ((uint32_t)s > max) max = (uint32_t)s;
  }
  if (count && count != max + 1) return fail(r, "SpecIds are not 0..n-1");
  out->spec_count = count;
  return 0;
}

/* Pass 2: push-constant block size and the WorkgroupSize built-in. */
static int read_layout(reader *r, const uint32_t *spec, uint32_t spec_count,
                       vkl_shader_layout *out) {
  for (size_t at = 5; at < r->words; at += r->code[at] >> 16) {
    uint32_t op = opcode(r, at), n = r->code[at] >> 16;
    if (op == OP_VARIABLE && n >= 4 && r->code[at + 3] == STORAGE_PUSH_CONSTANT) {
      uint32_t ptr = r->code[at + 1];
      if (ptr >= r->bound || !r->def[ptr]) return fail(r, "bad push pointer");
      uint32_t st_id = r->code[r->def[ptr] + 3];
      if (st_id >= r->bound || !r->def[st_id] || opcode(r, r->def[st_id]) != OP_TYPE_STRUCT)
        return fail(r, "push constant block is not a struct");
      uint32_t sat = r->def[st_id], members = (r->code[sat] >> 16) - 2;
      for (size_t m = 5; m < r->words; m += r->code[m] >> 16) {
        if (opcode(r, m) != OP_MEMBER_DECORATE || r->code[m + 1] != st_id ||
            r->code[m + 3] != DEC_OFFSET)
          continue;
        uint32_t member = r->code[m + 2], size;
        if (member >= members || type_size(r, r->code[sat + 2 + member], &size))
          return fail(r, "unsupported push-constant member type");
        if (r->code[m + 4] + size > out->push_size) out->push_size = r->code[m + 4] + size;
      }
    }
    if (op == OP_DECORATE && n >= 4 && r->code[at + 2] == DEC_BUILTIN &&
        r->code[at + 3] == BUILTIN_WORKGROUP_SIZE) {
      uint32_t id = r->code[at + 1];
      if (id >= r->bound || !r->def[id]) return fail(r, "bad WorkgroupSize");
      uint32_t cat = r->def[id];
      for (int d = 0; d < 3; d++)
        if (constant_value(r, r->code[cat + 3 + d], spec, spec_count, &out->local_size[d]))
          return fail(r, "WorkgroupSize component is not a constant");
    }
  }
  return 0;
}

vkl_status vkl_spirv_reflect(const uint32_t *code, size_t words, const uint32_t *spec,
                             uint32_t spec_count, vkl_shader_layout *out, char *err,
                             size_t errlen) {
  memset(out, 0, sizeof *out);
  if (words < 5 || code[0] != SPV_MAGIC) {
    snprintf(err, errlen, "SPIR-V reflection: not a SPIR-V module");
    return VKL_ERR_FORMAT;
  }
  reader r = {code, words, code[3], NULL, NULL, NULL, err, errlen};
  r.def = calloc(r.bound, sizeof *r.def);
  r.spec_id = malloc(r.bound * sizeof *r.spec_id);
  r.stride = calloc(r.bound, sizeof *r.stride);
  vkl_status st = VKL_OK;
  if (!r.def || !r.spec_id || !r.stride) {
    snprintf(err, errlen, "SPIR-V reflection: out of host memory");
    st = VKL_ERR_OUT_OF_HOST_MEMORY;
  } else {
    for (uint32_t i = 0; i < r.bound; i++) r.spec_id[i] = -1;
    if (index_module(&r, out) || read_spec_ids(&r, out) || read_layout(&r, spec, spec_count, out))
      st = VKL_ERR_FORMAT;
  }
  free(r.def);
  free(r.spec_id);
  free(r.stride);
  return st;
}
