// The NTM's whole-sequence recurrence on a CPU, forward and backward, in C++ (see native.py).
//
// The same computation as sequence.py + step.py (an LSTM controller of any number of layers or a
// feed-forward controller, read-first heads, Graves 2014 §3), written as loops per sequence in the
// batch instead of ~110 small torch ops per time step: on a CPU those ops cost more in per-op
// overhead than in arithmetic. The controller's matmuls and its vectorised activations stay torch
// calls (at::addmm / at::mm / at::tanh_out ...); everything between them is here.
// Memory Q is kept transposed, (M, N) per sequence, so loops over the N rows are contiguous.
// tests/test_ntm_paths.py checks this against the other paths and the literal equations (float64).
#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <bit>
#include <cstdint>
#include <cmath>
#include <string>
#include <vector>

namespace {

constexpr double kCosEps = 1e-8;       // addressing.COS_EPS
constexpr double kSharpenEps = 1e-12;  // addressing.SHARPEN_EPS
constexpr double kTiny = 1e-30;        // step._TINY

struct Layout {
  int64_t M, R, W, H, S, D, P, N;
  bool key_tanh, add_tanh;
  double clip, grad_clip;  // head parameters' clip; the weightings' gradient clip (0: off)
  std::vector<int64_t> shifts;  // each normalised to 0..N-1
  // offsets of the saved addressing values of one (step, sequence) in the aux buffer
  int64_t oK, oKN, oMN, oCOS, oWC, oWG, oWT, oLG, oPAR, oS, oE, oA, size;
  // offsets in memory_backward's scratch buffer (one sequence at a time)
  int64_t sDW, sDDOT, sDMN, sKEEP, sDKEEP, sDK, sOTHER, sDWT, sDWG, sDKEY, sDE, sDA, sDPAR, sDS, scratch;

  Layout(int64_t M_, int64_t R_, int64_t W_, int64_t N_, std::vector<int64_t> sh, bool kt, bool at, double c,
         double gc = 0)
      : M(M_), R(R_), W(W_), H(R_ + W_), S((int64_t)sh.size()), N(N_), key_tanh(kt), add_tanh(at), clip(c),
        grad_clip(gc) {
    D = M + 3 + S;
    P = H * D + 2 * W * M;
    for (auto s : sh) shifts.push_back(((s % N) + N) % N);
    int64_t o = 0;
    auto take = [&](int64_t n) { int64_t r = o; o += n; return r; };
    oK = take(H * M); oKN = take(H); oMN = take(N);
    oCOS = take(H * N); oWC = take(H * N); oWG = take(H * N); oWT = take(H * N); oLG = take(H * N);
    oPAR = take(3 * H); oS = take(H * S); oE = take(W * M); oA = take(W * M);
    size = o;
    o = 0;
    sDW = take(H * N); sDDOT = take(H * N); sDMN = take(N); sKEEP = take(N); sDKEEP = take(N); sDK = take(N);
    sOTHER = take(N); sDWT = take(N); sDWG = take(N); sDKEY = take(H * M); sDE = take(W * M); sDA = take(W * M);
    sDPAR = take(3 * H); sDS = take(H * S);
    scratch = o;
  }
};

// exp and log in forms the compiler vectorises (float; double uses the C library): on a CPU the
// softmaxes over N rows are most of the forward's time with a scalar exp. exp: x = n ln2 + r,
// |r| <= ln2 / 2, e^r by its Taylor series to r^7 (relative error < 1e-8 before rounding), 2^n
// from the exponent bits. log: x = m 2^e, m in [sqrt(1/2), sqrt(2)), log m = 2 atanh(s),
// s = (m - 1) / (m + 1), |s| < 0.172, by its series to s^9 (error < 1e-8). Both ~1 ulp in float.
template <typename T> inline T vexp(T x) { return std::exp(x); }
template <> inline float vexp(float x) {
  const float big = 12582912.0f;  // 1.5 * 2^23: adding and subtracting it rounds to an integer
  const float xc = std::min(std::max(x, -87.0f), 88.0f);
  const float n = (xc * 1.44269504088896341f + big) - big;
  const float r = (xc - n * 0.693145751953125f) - n * 1.42860682030941723e-06f;
  float p = 1.0f / 5040;
  p = p * r + 1.0f / 720;
  p = p * r + 1.0f / 120;
  p = p * r + 1.0f / 24;
  p = p * r + 1.0f / 6;
  p = p * r + 0.5f;
  p = p * r + 1.0f;
  p = p * r + 1.0f;
  const float scale = std::bit_cast<float>(((int32_t)n + 127) << 23);
  return x < -87.0f ? 0.0f : p * scale;
}
template <typename T> inline T vlog(T x) { return std::log(x); }
template <> inline float vlog(float x) {  // x > 0 and normal (here x >= 1e-12)
  const int32_t bits = std::bit_cast<int32_t>(x);
  float m = std::bit_cast<float>((bits & 0x007fffff) | 0x3f800000);  // [1, 2)
  float e = (float)(((bits >> 23) & 0xff) - 127);
  const bool high = m > 1.41421356237f;
  m = high ? m * 0.5f : m;
  e = high ? e + 1.0f : e;
  const float s = (m - 1.0f) / (m + 1.0f), s2 = s * s;
  float p = 2.0f / 9;
  p = p * s2 + 2.0f / 7;
  p = p * s2 + 2.0f / 5;
  p = p * s2 + 2.0f / 3;
  p = p * s2 + 2.0f;
  return e * 0.693145751953125f + (s * p + e * 1.42860682030941723e-06f);
}

template <typename T> inline T sigmoid(T x) { return T(1) / (T(1) + std::exp(-x)); }
// the head parameters' clip to [-c, c] (Collier & Beel 2018); c = 0: off
template <typename T> inline T clipped(T x, T c) { return c > 0 ? std::min(std::max(x, -c), c) : x; }
template <typename T> inline T softplus(T x) { return x > T(20) ? x : std::log1p(std::exp(x)); }

template <typename T> inline void softmax(T* x, int64_t n) {
  T mx = x[0];
#pragma omp simd reduction(max : mx)
  for (int64_t i = 1; i < n; ++i) mx = std::max(mx, x[i]);
  for (int64_t i = 0; i < n; ++i) x[i] = vexp(x[i] - mx);
  T sum = 0;
#pragma omp simd reduction(+ : sum)
  for (int64_t i = 0; i < n; ++i) sum += x[i];
  const T inv = T(1) / sum;
  for (int64_t i = 0; i < n; ++i) x[i] *= inv;
}

template <typename T> inline T dot(const T* a, const T* b, int64_t n) {
  T s = 0;
#pragma omp simd reduction(+ : s)
  for (int64_t i = 0; i < n; ++i) s += a[i] * b[i];
  return s;
}

// out[i] += c * x[(i - sh) mod N] (sh in 0..N-1): two contiguous runs
template <typename T> inline void add_shifted(T* out, const T* x, T c, int64_t sh, int64_t N) {
  for (int64_t i = sh; i < N; ++i) out[i] += c * x[i - sh];
  for (int64_t i = 0; i < sh; ++i) out[i] += c * x[i - sh + N];
}

// sum_i x[(i - sh) mod N] * y[i]
template <typename T> inline T dot_shifted(const T* x, const T* y, int64_t sh, int64_t N) {
  return dot(x, y + sh, N - sh) + dot(x + N - sh, y, sh);
}

// One memory step of one sequence (step.memory_forward): raw head projection v (P), Q (M x N),
// w_prev (H x N) -> Qn (M x N), w (H x N), reads (R x M); aux receives what the backward needs.
template <typename T>
void memory_forward(const Layout& L, const T* v, const T* Q, const T* wprev, T* Qn, T* w, T* reads, T* aux) {
  const int64_t M = L.M, N = L.N, H = L.H, R = L.R, W = L.W, D = L.D, S = L.S;
  const T c = (T)L.clip;
  auto u = [&](int64_t i) { return clipped(v[i], c); };
  T *K = aux + L.oK, *KN = aux + L.oKN, *MN = aux + L.oMN, *COS = aux + L.oCOS, *WC = aux + L.oWC,
    *WG = aux + L.oWG, *WT = aux + L.oWT, *LG = aux + L.oLG, *PAR = aux + L.oPAR, *SS = aux + L.oS,
    *E = aux + L.oE, *A = aux + L.oA;
  // §3.3 head parameters
  for (int64_t h = 0; h < H; ++h) {
    const int64_t b0 = h * D;
    for (int64_t m = 0; m < M; ++m) K[h * M + m] = L.key_tanh ? std::tanh(u(b0 + m)) : u(b0 + m);
    PAR[3 * h] = softplus(u(b0 + M));
    PAR[3 * h + 1] = softplus(u(b0 + M + 1)) + T(1);
    PAR[3 * h + 2] = sigmoid(u(b0 + M + 2));
    for (int64_t k = 0; k < S; ++k) SS[h * S + k] = u(b0 + M + 3 + k);
    softmax(SS + h * S, S);
  }
  for (int64_t i = 0; i < W * M; ++i) {
    E[i] = sigmoid(u(H * D + i));
    A[i] = L.add_tanh ? std::tanh(u(H * D + W * M + i)) : u(H * D + W * M + i);
  }
  // §3.3.1 content weighting: row norms, then cosine similarity per head
  std::fill(MN, MN + N, T(0));
  for (int64_t m = 0; m < M; ++m) {
    const T* q = Q + m * N;
    for (int64_t n = 0; n < N; ++n) MN[n] += q[n] * q[n];
  }
  for (int64_t n = 0; n < N; ++n) MN[n] = std::sqrt(MN[n]);
  for (int64_t h = 0; h < H; ++h) {
    const T* k = K + h * M;
    T *cs = COS + h * N, *wc = WC + h * N, *wg = WG + h * N, *wt = WT + h * N, *lg = LG + h * N, *wh = w + h * N;
    const T kn = std::sqrt(dot(k, k, M));
    KN[h] = kn;
    const T beta = PAR[3 * h], gamma = PAR[3 * h + 1], g = PAR[3 * h + 2];
    std::fill(cs, cs + N, T(0));
    for (int64_t m = 0; m < M; ++m) {
      const T km = k[m];
      const T* q = Q + m * N;
      for (int64_t n = 0; n < N; ++n) cs[n] += km * q[n];
    }
    for (int64_t n = 0; n < N; ++n) {
      cs[n] /= kn * MN[n] + (T)kCosEps;
      wc[n] = beta * cs[n];
    }
    softmax(wc, N);
    // §3.3.2 interpolation, circular shift, sharpening
    const T* wp = wprev + h * N;
    for (int64_t n = 0; n < N; ++n) wg[n] = wp[n] + g * (wc[n] - wp[n]);
    std::fill(wt, wt + N, T(0));
    for (int64_t k2 = 0; k2 < S; ++k2) add_shifted(wt, wg, SS[h * S + k2], L.shifts[k2], N);
    for (int64_t n = 0; n < N; ++n) {
      lg[n] = vlog(wt[n] + (T)kSharpenEps);
      wh[n] = gamma * lg[n];
    }
    softmax(wh, N);
  }
  // §3.1-3.2: read M_{t-1}, then all erases and all adds
  for (int64_t r = 0; r < R; ++r)
    for (int64_t m = 0; m < M; ++m) reads[r * M + m] = dot(w + r * N, Q + m * N, N);
  const T* ww = w + R * N;
  for (int64_t m = 0; m < M; ++m) {
    const T* q = Q + m * N;
    T* qn = Qn + m * N;
    for (int64_t n = 0; n < N; ++n) qn[n] = q[n];
    for (int64_t j = 0; j < W; ++j) {
      const T e = E[j * M + m];
      const T* wj = ww + j * N;
      for (int64_t n = 0; n < N; ++n) qn[n] *= T(1) - e * wj[n];
    }
    for (int64_t j = 0; j < W; ++j) {
      const T a = A[j * M + m];
      const T* wj = ww + j * N;
      for (int64_t n = 0; n < N; ++n) qn[n] += a * wj[n];
    }
  }
}

// Its backward (step.memory_backward): from dQn (M x N) and dw (H x N), the gradients of
// Q_t and w_t, and d_reads (R x M) -> dQ (M x N) and dwprev (H x N) for step t - 1, dv (P).
template <typename T>
void memory_backward(const Layout& L, const T* v, const T* Q, const T* wprev, const T* w, const T* aux,
                     const T* dQn, const T* dw, const T* dreads, T* dQ, T* dwprev, T* dv, T* scratch) {
  const int64_t M = L.M, N = L.N, H = L.H, R = L.R, W = L.W, D = L.D, S = L.S;
  const T *K = aux + L.oK, *KN = aux + L.oKN, *MN = aux + L.oMN, *COS = aux + L.oCOS, *WC = aux + L.oWC,
          *WG = aux + L.oWG, *WT = aux + L.oWT, *LG = aux + L.oLG, *PAR = aux + L.oPAR, *SS = aux + L.oS,
          *E = aux + L.oE, *A = aux + L.oA;
  T *dW = scratch + L.sDW, *ddot = scratch + L.sDDOT, *dmn = scratch + L.sDMN, *keep = scratch + L.sKEEP,
    *dkeep = scratch + L.sDKEEP, *dK = scratch + L.sDK, *other = scratch + L.sOTHER, *dwt = scratch + L.sDWT,
    *dwg = scratch + L.sDWG, *dk = scratch + L.sDKEY, *de = scratch + L.sDE, *da = scratch + L.sDA,
    *dpar = scratch + L.sDPAR, *ds = scratch + L.sDS;
  const T* ww = w + R * N;
  // write: Q_t = Q * keep + sum_j a_j^T w_j, keep = prod_j (1 - e_j^T w_j)
  for (int64_t i = 0; i < H * N; ++i) dW[i] = dw[i];
  for (int64_t m = 0; m < M; ++m) {
    const T *q = Q + m * N, *dqn = dQn + m * N;
    T* dq = dQ + m * N;
    std::fill(keep, keep + N, T(1));
    for (int64_t j = 0; j < W; ++j) {
      const T e = E[j * M + m];
      const T* wj = ww + j * N;
      for (int64_t n = 0; n < N; ++n) keep[n] *= T(1) - e * wj[n];
    }
    for (int64_t n = 0; n < N; ++n) {
      dq[n] = dqn[n] * keep[n];
      dkeep[n] = dqn[n] * q[n];
    }
    for (int64_t j = 0; j < W; ++j) {
      const T e = E[j * M + m], a = A[j * M + m];
      const T* wj = ww + j * N;
      T* dwj = dW + (R + j) * N;
      const T* dk_ = dkeep;
      if (W > 1) {  // d keep / d K_j = prod of the other heads' factors
        std::fill(other, other + N, T(1));
        for (int64_t i = 0; i < W; ++i) {
          if (i == j) continue;
          const T ei = E[i * M + m];
          const T* wi = ww + i * N;
          for (int64_t n = 0; n < N; ++n) other[n] *= T(1) - ei * wi[n];
        }
        for (int64_t n = 0; n < N; ++n) dK[n] = dkeep[n] * other[n];
        dk_ = dK;
      }
      for (int64_t n = 0; n < N; ++n) dwj[n] += a * dqn[n] - e * dk_[n];
      de[j * M + m] = -dot(dk_, wj, N);
      da[j * M + m] = dot(wj, dqn, N);
    }
  }
  // read: r = w_r M_{t-1}
  for (int64_t r = 0; r < R; ++r)
    for (int64_t m = 0; m < M; ++m) {
      const T g = dreads[r * M + m];
      const T* q = Q + m * N;
      T* d = dW + r * N;
      for (int64_t n = 0; n < N; ++n) d[n] += g * q[n];
    }
  if (L.grad_clip > 0) {  // the gradient of w_t, clipped elementwise (NTMConfig.weighting_grad_clip)
    const T gc = (T)L.grad_clip;
    for (int64_t i = 0; i < H * N; ++i) dW[i] = clipped(dW[i], gc);
  }
  std::fill(dmn, dmn + N, T(0));
  for (int64_t h = 0; h < H; ++h) {
    const T *wh = w + h * N, *wt = WT + h * N, *lg = LG + h * N, *wg = WG + h * N, *wc = WC + h * N,
            *cs = COS + h * N, *wp = wprev + h * N, *s = SS + h * S;
    const T *dWh = dW + h * N;
    const T beta = PAR[3 * h], gamma = PAR[3 * h + 1], g = PAR[3 * h + 2], kn = KN[h];
    // sharpening: w = softmax(gamma * log(wt + eps))
    const T s1 = dot(dWh, wh, N);
    T dgamma = 0;
    for (int64_t n = 0; n < N; ++n) {
      const T dy = wh[n] * (dWh[n] - s1);
      dgamma += dy * lg[n];
      dwt[n] = dy * gamma / (wt[n] + (T)kSharpenEps);
    }
    // shift: wt(i) = sum_k s_k wg(i - shift_k); transposed: dwg(j) = sum_k s_k dwt(j + shift_k)
    std::fill(dwg, dwg + N, T(0));
    for (int64_t k2 = 0; k2 < S; ++k2) {
      const int64_t sh = L.shifts[k2];
      ds[h * S + k2] = dot_shifted(wg, dwt, sh, N);
      add_shifted(dwg, dwt, s[k2], sh == 0 ? 0 : N - sh, N);
    }
    // interpolation: wg = wp + g (wc - wp)
    T dg = 0;
    T* dwp = dwprev + h * N;
    for (int64_t n = 0; n < N; ++n) {
      dg += dwg[n] * (wc[n] - wp[n]);
      const T dwc = g * dwg[n];
      dwp[n] = dwg[n] - dwc;
      dwg[n] = dwc;  // now d wc
    }
    // content: wc = softmax(beta * cos), cos = dot / (kn mn + eps)
    const T s2 = dot(dwg, wc, N);
    T dbeta = 0, dkn = 0;
    T* dd = ddot + h * N;
    for (int64_t n = 0; n < N; ++n) {
      const T dz = wc[n] * (dwg[n] - s2);
      dbeta += dz * cs[n];
      dd[n] = dz * beta / (kn * MN[n] + (T)kCosEps);
      const T dden = -dd[n] * cs[n];
      dkn += dden * MN[n];
      dmn[n] += dden * kn;
    }
    dpar[3 * h] = dbeta;
    dpar[3 * h + 1] = dgamma;
    dpar[3 * h + 2] = dg;
    const T* k = K + h * M;
    const T knc = std::max(kn, (T)kTiny);
    for (int64_t m = 0; m < M; ++m) dk[h * M + m] = dot(dd, Q + m * N, N) + dkn * k[m] / knc;
  }
  // rest of dQ: row norms, the reads' and the keys' outer products
  for (int64_t n = 0; n < N; ++n) dmn[n] /= std::max(MN[n], (T)kTiny);
  for (int64_t m = 0; m < M; ++m) {
    const T* q = Q + m * N;
    T* dq = dQ + m * N;
    for (int64_t n = 0; n < N; ++n) dq[n] += q[n] * dmn[n];
    for (int64_t r = 0; r < R; ++r) {
      const T g = dreads[r * M + m];
      const T* wr = w + r * N;
      for (int64_t n = 0; n < N; ++n) dq[n] += g * wr[n];
    }
    for (int64_t h = 0; h < H; ++h) {
      const T km = K[h * M + m];
      const T* dd = ddot + h * N;
      for (int64_t n = 0; n < N; ++n) dq[n] += km * dd[n];
    }
  }
  // activations back to the raw projection v (clip: zero gradient where |v| > clip)
  const T c = (T)L.clip;
  for (int64_t h = 0; h < H; ++h) {
    const int64_t b0 = h * D;
    for (int64_t m = 0; m < M; ++m) {
      const T k = K[h * M + m];
      dv[b0 + m] = L.key_tanh ? dk[h * M + m] * (T(1) - k * k) : dk[h * M + m];
    }
    const T g = PAR[3 * h + 2];
    dv[b0 + M] = dpar[3 * h] * sigmoid(clipped(v[b0 + M], c));  // softplus' = sigmoid
    dv[b0 + M + 1] = dpar[3 * h + 1] * sigmoid(clipped(v[b0 + M + 1], c));
    dv[b0 + M + 2] = dpar[3 * h + 2] * g * (T(1) - g);
    const T* s = SS + h * S;
    const T* dsh = ds + h * S;
    const T s3 = dot(dsh, s, S);
    for (int64_t k2 = 0; k2 < S; ++k2) dv[b0 + M + 3 + k2] = s[k2] * (dsh[k2] - s3);
  }
  for (int64_t i = 0; i < W * M; ++i) {
    const T e = E[i], a = A[i];
    dv[H * D + i] = de[i] * e * (T(1) - e);
    dv[H * D + W * M + i] = L.add_tanh ? da[i] * (T(1) - a * a) : da[i];
  }
  if (c > 0)
    for (int64_t i = 0; i < L.P; ++i)
      if (std::abs(v[i]) > c) dv[i] = 0;
}

// The controller, as the kernels run it: an LSTM of one or more layers (gate order [i, f, o, g]),
// or one feed-forward layer h = act(pre). Its weights `cw`: an LSTM's [w_rh, w_up[0], bias[1],
// w_up[1], bias[2], ...] (layer 0's bias is in xp), a feed-forward layer's [w_r] (its bias in xp).
// Each layer's inputs are one buffer, row t its input at step t: [r_{t-1}, h^0_{t-1}] for the first
// (with one layer: HR itself), [h^{l-1}_t, h^l_{t-1}] above it (a feed-forward layer reads r_{t-1},
// the reads part of HR[t]); a layer writes its h_t into its own columns of its row t + 1.
enum class Cell { kLSTM, kTanh, kRelu, kSigmoid };

Cell parse_cell(const std::string& name) {
  if (name == "lstm") return Cell::kLSTM;
  if (name == "tanh") return Cell::kTanh;
  if (name == "relu") return Cell::kRelu;
  TORCH_CHECK(name == "sigmoid", "unknown controller cell '", name, "' (lstm, tanh, relu, sigmoid)");
  return Cell::kSigmoid;
}

// The layers' input buffers (T + 1 rows when saving for the backward, else 2 used in turn) and
// where in a row a layer's own previous h starts.
struct LayerInputs {
  int64_t layers, RM, C;
  bool save;
  at::Tensor HR, X0, X;  // X0 (rows, B, R*M + C): the first layer's, with 2+ layers; X (L - 1, rows, B, 2C)

  at::Tensor row(int64_t l, int64_t t) const {  // layer l's input at step t
    if (l == 0) return layers == 1 ? HR[t] : X0[save ? t : t % 2];
    return X[l - 1][save ? t : t % 2];
  }
  int64_t own(int64_t l) const { return l == 0 ? RM : C; }
  at::Tensor rows(int64_t l, int64_t T) const {  // layer l's inputs at steps 0..T-1, (T * B, width)
    const at::Tensor all = l == 0 ? (layers == 1 ? HR : X0) : X[l - 1];
    return all.narrow(0, 0, T).reshape({-1, all.size(2)});
  }
};

// Forward over the whole sequence. xp (T, B, G) the controller's first-layer pre-activations from
// x_t (bias included; G = 4C for an LSTM, C for a feed-forward layer), Q0 (B, M, N), w0 (B, H, N),
// r0 (B, R*M), h0 and c0 (L, B, C) every LSTM layer's initial state ((0, B, C) feed-forward),
// weight (P, C) and bias (P) of the head projection, cw the controller's weights (above).
// save: keep every step's values for the backward (training). Returns HR (T + 1, B, R*M + C)
// [row t + 1 = (r_t, h_t), h_t the top layer's], Q_T, w_T, every layer's h_T and c_T (L, B, C), and
// the saved tensors V (T, B, P) head projections, G (L, T, B, 4C) activated gates, TC (L, T, B, C)
// tanh of the cell states, Cs (L, T + 1, B, C), Qs (T + 1, B, M, N), Ws (T + 1, B, H, N),
// AUX (T, B, A), X0 and X (LayerInputs) (all empty when not save).
std::vector<at::Tensor> sequence_forward(const at::Tensor& xp, const at::Tensor& Q0, const at::Tensor& w0,
                                         const at::Tensor& r0, const at::Tensor& h0, const at::Tensor& c0,
                                         const at::Tensor& weight, const at::Tensor& bias, std::vector<at::Tensor> cw,
                                         int64_t R, int64_t W, std::vector<int64_t> shifts, bool key_tanh,
                                         bool add_tanh, double clip, std::string cell_name, bool save) {
  at::NoGradGuard no_grad;
  const Cell cell = parse_cell(cell_name);
  const int64_t T = xp.size(0), B = xp.size(1), C = weight.size(1), M = Q0.size(1), N = Q0.size(2);
  const int64_t layers = cell == Cell::kLSTM ? h0.size(0) : 0;
  const Layout L(M, R, W, N, shifts, key_tanh, add_tanh, clip);
  TORCH_CHECK(weight.size(0) == L.P, "head projection has ", weight.size(0), " rows, layout needs ", L.P);
  TORCH_CHECK(cw.size() == (size_t)(layers ? 2 * layers - 1 : 1), "controller weights: ", cw.size());
  const int64_t RM = R * M, RMC = RM + C, H = L.H;
  const int64_t TS = save ? T : 1, TK = save ? T + 1 : 2;  // steps kept
  auto opts = xp.options();
  auto HR = at::empty({T + 1, B, RMC}, opts);
  HR[0].narrow(1, 0, RM).copy_(r0);
  if (layers) HR[0].narrow(1, RM, C).copy_(h0[layers - 1]);
  else HR[0].narrow(1, RM, C).zero_();  // a feed-forward controller has no h_{-1}; never read
  LayerInputs in{layers, RM, C, save, HR, at::empty({layers > 1 ? TK : 0, B, RMC}, opts),
                 at::empty({std::max<int64_t>(layers - 1, 0), TK, B, 2 * C}, opts)};
  for (int64_t l = 0; layers > 1 && l < layers; ++l) in.row(l, 0).narrow(1, in.own(l), C).copy_(h0[l]);
  auto V = at::empty({TS, B, L.P}, opts), G = at::empty({layers, TS, B, 4 * C}, opts);
  auto TC = at::empty({layers, TS, B, C}, opts), Cs = at::empty({layers, TK, B, C}, opts);
  auto Qs = at::empty({TK, B, M, N}, opts), Ws = at::empty({TK, B, H, N}, opts);
  auto AUX = at::empty({TS, B, L.size}, opts);
  if (layers) Cs.select(1, 0).copy_(c0);
  Qs[0].copy_(Q0);
  Ws[0].copy_(w0);
  std::vector<at::Tensor> cwt;  // each layer's weight, transposed
  for (int64_t l = 0; l < std::max<int64_t>(layers, 1); ++l) cwt.push_back(cw[l == 0 ? 0 : 2 * l - 1].t());
  auto wt = weight.t();
  AT_DISPATCH_FLOATING_TYPES(xp.scalar_type(), "ntm_sequence_forward", [&] {
    for (int64_t t = 0; t < T; ++t) {
      const int64_t a = save ? t : t % 2, a1 = save ? t + 1 : (t + 1) % 2, s = save ? t : 0;
      scalar_t* hr = HR[t + 1].data_ptr<scalar_t>();
      if (cell != Cell::kLSTM) {  // h_t = act(xp_t + r_{t-1} W_r^T)
        auto pre = at::addmm(xp[t], HR[t].narrow(1, 0, RM), cwt[0]);
        auto h = HR[t + 1].narrow(1, RM, C);
        if (cell == Cell::kTanh) at::tanh_out(h, pre);
        else if (cell == Cell::kSigmoid) at::sigmoid_out(h, pre);
        else at::clamp_min_out(h, pre, 0);
      }
      if (layers > 1) in.row(0, t).narrow(1, 0, RM).copy_(HR[t].narrow(1, 0, RM));  // r_{t-1}
      for (int64_t l = 0; l < layers; ++l) {
        auto x = in.row(l, t), next = in.row(l, t + 1);
        auto gates = l == 0 ? at::addmm(xp[t], x, cwt[0]) : at::addmm(cw[2 * l], x, cwt[l]);  // (B, 4C)
        auto gs = G[l][s], sig = gs.narrow(1, 0, 3 * C), tg = gs.narrow(1, 3 * C, C);
        at::sigmoid_out(sig, gates.narrow(1, 0, 3 * C));  // [sigmoid(i, f, o), tanh(g)]
        at::tanh_out(tg, gates.narrow(1, 3 * C, C));
        auto cs = Cs[l];
        const scalar_t *gp = gs.data_ptr<scalar_t>(), *cp = cs[a].data_ptr<scalar_t>();
        scalar_t* cn = cs[a1].data_ptr<scalar_t>();
        for (int64_t b = 0; b < B; ++b) {
          const scalar_t *gb = gp + b * 4 * C, *cb = cp + b * C;
          scalar_t* cnb = cn + b * C;
          for (int64_t j = 0; j < C; ++j) cnb[j] = gb[C + j] * cb[j] + gb[j] * gb[3 * C + j];
        }
        auto tcs = TC[l][s];
        at::tanh_out(tcs, cs[a1]);
        const scalar_t* tc = tcs.data_ptr<scalar_t>();
        const int64_t width = next.size(1);
        scalar_t* hn = next.data_ptr<scalar_t>() + in.own(l);
        for (int64_t b = 0; b < B; ++b) {
          const scalar_t *gb = gp + b * 4 * C, *tb = tc + b * C;
          scalar_t* hb = hn + b * width;
          for (int64_t j = 0; j < C; ++j) hb[j] = gb[2 * C + j] * tb[j];
        }
        // h_t on to the layer above (its input row t) or, from the top of 2+ layers, to HR[t + 1]
        if (l + 1 < layers) in.row(l + 1, t).narrow(1, 0, C).copy_(next.narrow(1, in.own(l), C));
        else if (layers > 1) HR[t + 1].narrow(1, RM, C).copy_(next.narrow(1, in.own(l), C));
      }
      auto vs = V[s];
      at::addmm_out(vs, bias, HR[t + 1].narrow(1, RM, C), wt);
      const scalar_t *vp = vs.data_ptr<scalar_t>(), *qp = Qs[a].data_ptr<scalar_t>(), *wp = Ws[a].data_ptr<scalar_t>();
      scalar_t *qn = Qs[a1].data_ptr<scalar_t>(), *wn = Ws[a1].data_ptr<scalar_t>(), *ap = AUX[s].data_ptr<scalar_t>();
      for (int64_t b = 0; b < B; ++b)
        memory_forward(L, vp + b * L.P, qp + b * M * N, wp + b * H * N, qn + b * M * N, wn + b * H * N,
                       hr + b * RMC, ap + b * L.size);
    }
  });
  const int64_t last = save ? T : T % 2;
  auto Qf = Qs[last].clone(), wf = Ws[last].clone(), cf = Cs.select(1, last).clone();
  auto hf = at::empty({layers, B, C}, opts);
  for (int64_t l = 0; l < layers; ++l) hf[l].copy_(in.row(l, T).narrow(1, in.own(l), C));
  if (!save) V = G = TC = Cs = Qs = Ws = AUX = in.X0 = in.X = at::empty({0}, opts);
  return {HR, Qf, wf, hf, cf, V, G, TC, Cs, Qs, Ws, AUX, in.X0, in.X};
}

// Backward of sequence_forward (save = true). Returns the gradients of xp, Q0, w0, r0, h0, c0,
// weight, bias and then of each controller weight in cw.
std::vector<at::Tensor> sequence_backward(const at::Tensor& dHR, const at::Tensor& dQf, const at::Tensor& dwf,
                                          const at::Tensor& dhf, const at::Tensor& dcf, const at::Tensor& weight,
                                          std::vector<at::Tensor> cw, const at::Tensor& HR, const at::Tensor& V,
                                          const at::Tensor& G, const at::Tensor& TC, const at::Tensor& Cs,
                                          const at::Tensor& Qs, const at::Tensor& Ws, const at::Tensor& AUX,
                                          const at::Tensor& X0, const at::Tensor& X, int64_t R, int64_t W,
                                          std::vector<int64_t> shifts, bool key_tanh, bool add_tanh, double clip,
                                          double grad_clip, std::string cell_name) {
  at::NoGradGuard no_grad;
  const Cell cell = parse_cell(cell_name);
  const int64_t T = V.size(0), B = V.size(1), C = weight.size(1), M = Qs.size(2), N = Qs.size(3);
  const int64_t layers = cell == Cell::kLSTM ? G.size(0) : 0, units = std::max<int64_t>(layers, 1);
  const Layout L(M, R, W, N, shifts, key_tanh, add_tanh, clip, grad_clip);
  const int64_t RM = R * M, RMC = RM + C, H = L.H, P = L.P;
  const LayerInputs in{layers, RM, C, true, HR, X0, X};
  auto opts = V.options();
  // per layer and step: d of the pre-activations (an LSTM's gates, (B, 4C); feed-forward (B, C))
  auto dpre = at::empty({units, T, B, layers ? 4 * C : C}, opts), dv = at::empty({T, B, P}, opts);
  auto dQa = dQf.contiguous().clone(), dQb = at::empty_like(dQa);
  auto dwa = dwf.contiguous().clone(), dwb = at::empty_like(dwa);
  auto dc = dcf.contiguous().clone();
  // din[l]: d of layer l's input row t + 1 from step t + 1; its own h columns start as d h_T
  std::vector<at::Tensor> din;
  for (int64_t l = 0; l < units; ++l) din.push_back(at::zeros({B, l == 0 ? (layers ? RMC : RM) : 2 * C}, opts));
  for (int64_t l = 0; l < layers; ++l) din[l].narrow(1, in.own(l), C).copy_(dhf[l]);
  auto dhr = at::empty({B, RMC}, opts), dh = at::empty({B, C}, opts);
  auto dHRc = dHR.contiguous();
  AT_DISPATCH_FLOATING_TYPES(V.scalar_type(), "ntm_sequence_backward", [&] {
    std::vector<scalar_t> scratch(L.scratch);
    for (int64_t t = T - 1; t >= 0; --t) {
      {  // d HR[t + 1] = d [r_t, h_t]: from the outputs, and from step t + 1's controller input
        const int64_t w0 = din[0].size(1), wtop = din[units - 1].size(1);
        const scalar_t *g = dHRc[t + 1].data_ptr<scalar_t>(), *d0 = din[0].data_ptr<scalar_t>(),
                       *dtop = layers ? din[layers - 1].data_ptr<scalar_t>() + in.own(layers - 1) : nullptr;
        scalar_t* o = dhr.data_ptr<scalar_t>();
        for (int64_t b = 0; b < B; ++b) {
          for (int64_t j = 0; j < RM; ++j) o[b * RMC + j] = g[b * RMC + j] + d0[b * w0 + j];
          for (int64_t j = 0; j < C; ++j)  // a feed-forward layer's h_t feeds no later step
            o[b * RMC + RM + j] = layers ? g[b * RMC + RM + j] + dtop[b * wtop + j] : g[b * RMC + RM + j];
        }
      }
      const scalar_t *vp = V[t].data_ptr<scalar_t>(), *qp = Qs[t].data_ptr<scalar_t>(),
                     *wp = Ws[t].data_ptr<scalar_t>(), *wn = Ws[t + 1].data_ptr<scalar_t>(),
                     *ap = AUX[t].data_ptr<scalar_t>(), *dqn = dQa.data_ptr<scalar_t>(), *dwn = dwa.data_ptr<scalar_t>(),
                     *dr = dhr.data_ptr<scalar_t>();
      scalar_t *dq = dQb.data_ptr<scalar_t>(), *dwp = dwb.data_ptr<scalar_t>(), *dvp = dv[t].data_ptr<scalar_t>();
      for (int64_t b = 0; b < B; ++b)
        memory_backward(L, vp + b * P, qp + b * M * N, wp + b * H * N, wn + b * H * N, ap + b * L.size,
                        dqn + b * M * N, dwn + b * H * N, dr + b * RMC, dq + b * M * N, dwp + b * H * N,
                        dvp + b * P, scratch.data());
      std::swap(dQa, dQb);
      std::swap(dwa, dwb);
      at::addmm_out(dh, dhr.narrow(1, RM, C), dv[t], weight);  // + through the head projection
      if (cell != Cell::kLSTM) {  // h = act(pre): act' from h
        const scalar_t *hp = HR[t + 1].data_ptr<scalar_t>() + RM, *dhp = dh.data_ptr<scalar_t>();
        scalar_t* dp = dpre[0][t].data_ptr<scalar_t>();
        for (int64_t b = 0; b < B; ++b)
          for (int64_t j = 0; j < C; ++j) {
            const scalar_t h = hp[b * RMC + j];
            const scalar_t da = cell == Cell::kTanh      ? 1 - h * h
                                : cell == Cell::kSigmoid ? h * (1 - h)
                                                         : scalar_t(h > 0 ? 1 : 0);
            dp[b * C + j] = dhp[b * C + j] * da;
          }
        at::mm_out(din[0], dpre[0][t], cw[0]);
      }
      for (int64_t l = layers - 1; l >= 0; --l) {
        if (l < layers - 1) {  // d h^l_t: from the layer above at step t, and from this layer at t + 1
          const int64_t wl = din[l].size(1);
          const scalar_t *up = din[l + 1].data_ptr<scalar_t>(), *rec = din[l].data_ptr<scalar_t>() + in.own(l);
          scalar_t* dhp = dh.data_ptr<scalar_t>();
          for (int64_t b = 0; b < B; ++b)
            for (int64_t j = 0; j < C; ++j) dhp[b * C + j] = up[b * 2 * C + j] + rec[b * wl + j];
        }
        // LSTM cell: c = f c_prev + i g, h = o tanh(c)
        const scalar_t *gp = G[l][t].data_ptr<scalar_t>(), *cp = Cs[l][t].data_ptr<scalar_t>(),
                       *tcp = TC[l][t].data_ptr<scalar_t>(), *dhp = dh.data_ptr<scalar_t>();
        scalar_t *dcp = dc[l].data_ptr<scalar_t>(), *dgp = dpre[l][t].data_ptr<scalar_t>();
        for (int64_t b = 0; b < B; ++b) {
          const scalar_t *gb = gp + b * 4 * C, *cb = cp + b * C, *tcb = tcp + b * C, *dhb = dhp + b * C;
          scalar_t *dcb = dcp + b * C, *dgb = dgp + b * 4 * C;
          for (int64_t j = 0; j < C; ++j) {
            const scalar_t i = gb[j], f = gb[C + j], o = gb[2 * C + j], g = gb[3 * C + j], tc = tcb[j];
            const scalar_t d = dcb[j] + dhb[j] * o * (1 - tc * tc);
            dgb[j] = d * g * i * (1 - i);
            dgb[C + j] = d * cb[j] * f * (1 - f);
            dgb[2 * C + j] = dhb[j] * tc * o * (1 - o);
            dgb[3 * C + j] = d * i * (1 - g * g);
            dcb[j] = d * f;
          }
        }
        at::mm_out(din[l], dpre[l][t], cw[l == 0 ? 0 : 2 * l - 1]);
      }
    }
  });
  auto dr0 = dHRc[0].narrow(1, 0, RM) + din[0].narrow(1, 0, RM);
  auto dh0 = at::empty({layers, B, C}, opts);
  for (int64_t l = 0; l < layers; ++l) dh0[l].copy_(din[l].narrow(1, in.own(l), C));
  if (layers) dh0[layers - 1].add_(dHRc[0].narrow(1, RM, C));  // HR[0] holds the top layer's h_{-1}
  auto flat_v = dv.view({T * B, P});
  auto dweight = flat_v.t().mm(HR.narrow(0, 1, T).narrow(2, RM, C).reshape({T * B, C}));
  std::vector<at::Tensor> out = {dpre[0], dQa, dwa, dr0, dh0, dc, dweight, flat_v.sum(0)};
  if (!layers) out.push_back(dpre[0].view({T * B, C}).t().mm(HR.narrow(0, 0, T).narrow(2, 0, RM).reshape({T * B, RM})));
  for (int64_t l = 0; l < layers; ++l) {
    auto d = dpre[l].view({T * B, 4 * C});
    out.push_back(d.t().mm(in.rows(l, T)));
    if (l > 0) out.push_back(d.sum(0));
  }
  return out;
}

}  // namespace

TORCH_LIBRARY(ntm_bench, m) {
  m.def("sequence_forward(Tensor xp, Tensor Q0, Tensor w0, Tensor r0, Tensor h0, Tensor c0, Tensor weight, "
        "Tensor bias, Tensor[] cw, int R, int W, int[] shifts, bool key_tanh, bool add_tanh, float clip, str cell, "
        "bool save) -> Tensor[]");
  m.def("sequence_backward(Tensor dHR, Tensor dQf, Tensor dwf, Tensor dhf, Tensor dcf, Tensor weight, Tensor[] cw, "
        "Tensor HR, Tensor V, Tensor G, Tensor TC, Tensor Cs, Tensor Qs, Tensor Ws, Tensor AUX, Tensor X0, Tensor X, "
        "int R, int W, int[] shifts, bool key_tanh, bool add_tanh, float clip, float grad_clip, str cell) -> Tensor[]");
}

TORCH_LIBRARY_IMPL(ntm_bench, CPU, m) {
  m.impl("sequence_forward", &sequence_forward);
  m.impl("sequence_backward", &sequence_backward);
}
