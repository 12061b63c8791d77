/* GLSL shared by softmax_xent_fwd.comp and softmax_xent_bwd.comp: the statistics of
 * one row of logits, computed by the `tpr` invocations assigned to it.
 *
 * Invocation `lane` of a row owns the elements lane, lane + tpr, lane + 2 tpr, ...
 * It takes its own maximum m over them (pass 1), then s = sum exp(z - m) and
 * d = sum (z - m) (pass 2, over the same elements, now in cache): one exp per
 * element, every exponent <= 0 so nothing overflows. A fixed shared-memory tree
 * then merges the tpr partial statistics, rescaling to the larger maximum:
 *   M = max(m_a, m_b), s = s_a exp(m_a - M) + s_b exp(m_b - M),
 *   d = d_a + n_a (m_a - M) + d_b + n_b (m_b - M)
 * and leaves the row's (M, S, D, n, ahead) at the row's first invocation. The
 * loss is then log S - keep (z_y - M) - smooth_k D: differences from M, so a
 * shift of every logit by 1000 costs no precision.
 * With XENT_RANK defined, pass 1 also counts the classes ranked ahead of the
 * label y (z_j > z_y, or z_j == z_y and j < y).
 *
 * Needs before inclusion: buffer array `logits`, spec constant `tpr`. */
#ifndef VKLARS_SOFTMAX_XENT_ROW_H
#define VKLARS_SOFTMAX_XENT_ROW_H

#define XENT_WG gl_WorkGroupSize.x

shared float row_m[XENT_WG];
shared float row_s[XENT_WG];
shared float row_d[XENT_WG];
shared uint row_n[XENT_WG];
shared uint row_ahead[XENT_WG];

#define XENT_NEG_INF uintBitsToFloat(0xff800000u)
#define XENT_NAN uintBitsToFloat(0x7fc00000u)

// Every invocation of the workgroup calls this (it holds barriers). Rows with
// live == false contribute empty statistics. On return, row_*[tid - lane] hold
// the row's statistics, visible to the whole workgroup.
void row_stats(uint tid, uint lane, bool live, uint base, uint K, float zy, uint y) {
  float m = XENT_NEG_INF;
  uint n = 0u, ahead = 0u;
  if (live) {
    for (uint k = lane; k < K; k += tpr) {
      float z = logits[base + k];
      m = max(m, z);
#ifdef XENT_RANK
      ahead += uint(z > zy || (z == zy && k < y));
#endif
      n++;
    }
  }
  float s = 0.0, d = 0.0;
  if (n > 0u) {
    for (uint k = lane; k < K; k += tpr) {
      float t = logits[base + k] - m;
      s += exp(t);
      d += t;
    }
  }
  row_m[tid] = m;
  row_s[tid] = s;
  row_d[tid] = d;
  row_n[tid] = n;
  row_ahead[tid] = ahead;
  for (uint stride = tpr / 2u; stride > 0u; stride >>= 1) {
    barrier(); // row_*[tid + stride] written (RAW in shared)
    uint o = tid + stride;
    if (lane < stride && row_n[o] > 0u) {
      if (row_n[tid] == 0u) {
        row_m[tid] = row_m[o];
        row_s[tid] = row_s[o];
        row_d[tid] = row_d[o];
        row_n[tid] = row_n[o];
      } else {
        float ma = row_m[tid], mb = row_m[o];
        float M = max(ma, mb);
        row_s[tid] = row_s[tid] * exp(ma - M) + row_s[o] * exp(mb - M);
        row_d[tid] = (row_d[tid] + float(row_n[tid]) * (ma - M)) +
                     (row_d[o] + float(row_n[o]) * (mb - M));
        row_m[tid] = M;
        row_n[tid] += row_n[o];
      }
      row_ahead[tid] += row_ahead[o];
    }
  }
  barrier(); // the row's statistics at tid - lane, before anyone reads them
}

#endif
