// The DNC's temporal link matrix step on a CPU, forward and backward (see dnc_native.py).
//
// The same equations as dnc_memory.link_update + directional_weightings (Graves et al. 2016,
// Methods, "Temporal memory linkage"), as one pass over each sequence's N x N link matrix per step
// instead of ~15 torch operations that each read and write all B N^2 numbers:
//   L[i,j] = (1 - w[i] - w[j]) Lp[i,j] + w[i] p[j]  (i != j),  L[i,i] = 0
//   f[r,i] = sum_j L[i,j] wr[r,j],   b[r,j] = sum_i wr[r,i] L[i,j]
// Every loop over j is over one contiguous row, which the compiler vectorises.
// tests/test_dnc.py checks both directions against the torch path and autograd in float64.
#include <ATen/ATen.h>
#include <torch/library.h>

#include <algorithm>
#include <cmath>
#include <cstdlib>
#include <limits>
#include <mutex>
#include <unordered_map>
#include <numeric>
#include <vector>

namespace {

// Link matrices (B x N x N, 2 MiB at B = 32, N = 128) are made at every step and all kept for the
// backward, so each would be fresh memory from the OS, and its first touch (page faults) cost about
// as much as the step's arithmetic. They come from this pool of reused buffers instead: a freed
// one goes back to the pool (up to kPoolBytes in all), and the next request of its size takes it.
constexpr size_t kPoolBytes = size_t(1) << 30;
struct Pool {
  std::mutex mu;
  std::unordered_map<size_t, std::vector<void*>> free;
  size_t held = 0;
};
Pool& pool() {
  static Pool* p = new Pool();  // never destroyed: tensors may be freed during interpreter exit
  return *p;
}

at::Tensor pooled_empty(at::IntArrayRef sizes, const at::TensorOptions& options) {
  int64_t numel = 1;
  for (auto n : sizes) numel *= n;
  const size_t bytes = ((size_t(numel) * options.dtype().itemsize() + 63) / 64) * 64;
  void* ptr = nullptr;
  {
    std::lock_guard<std::mutex> lock(pool().mu);
    auto& list = pool().free[bytes];
    if (!list.empty()) {
      ptr = list.back();
      list.pop_back();
      pool().held -= bytes;
    }
  }
  if (ptr == nullptr) ptr = std::aligned_alloc(64, bytes);
  TORCH_CHECK(ptr != nullptr, "dnc kernels: out of memory for a ", bytes, "-byte link matrix");
  auto release = [bytes](void* q) {
    std::lock_guard<std::mutex> lock(pool().mu);
    if (pool().held + bytes > kPoolBytes) {
      std::free(q);
      return;
    }
    pool().free[bytes].push_back(q);
    pool().held += bytes;
  };
  return at::from_blob(ptr, sizes, release, options);
}

// One sequence's link step: L (N x N), f and b (R x N) from Lp, p (= p_{t-1}), w (= w^w_t), wr (R x N).
template <typename T>
void link_fwd_seq(const T* __restrict lp, const T* __restrict pp, const T* __restrict ww, const T* __restrict rr,
                  T* __restrict ll, T* __restrict ff, T* __restrict bb, int64_t N, int64_t R) {
  for (int64_t k = 0; k < R * N; ++k) bb[k] = 0;
  for (int64_t i = 0; i < N; ++i) {
    const T wi = ww[i], keep = 1 - wi;
    const T* __restrict lpr = lp + i * N;
    T* __restrict lr = ll + i * N;
    for (int64_t j = 0; j < N; ++j) lr[j] = (keep - ww[j]) * lpr[j] + wi * pp[j];
    lr[i] = 0;
    for (int64_t r = 0; r < R; ++r) {
      const T* __restrict rw = rr + r * N;
      T* __restrict br = bb + r * N;
      const T ri = rw[i];
      T acc = 0;
#pragma omp simd reduction(+ : acc)
      for (int64_t j = 0; j < N; ++j) {
        acc += lr[j] * rw[j];
        br[j] += ri * lr[j];
      }
      ff[r * N + i] = acc;
    }
  }
}

// Its gradient: glp (N x N) is written; gpp, gww, grr are added to. scratch: 2N numbers. L itself is
// not read: each row of it is recomputed from Lp (which is read anyway), one less N x N stream.
template <typename T>
void link_bwd_seq(const T* __restrict gl, const T* __restrict gff, const T* __restrict gbb, const T* __restrict lp,
                  const T* __restrict pp, const T* __restrict ww, const T* __restrict rr, T* __restrict glp,
                  T* __restrict gpp, T* __restrict gww, T* __restrict grr, T* __restrict scratch, int64_t N, int64_t R) {
  T* __restrict gv = scratch;
  T* __restrict lr = scratch + N;
  for (int64_t i = 0; i < N; ++i) {
    const T *__restrict glr = gl + i * N, *__restrict lpr = lp + i * N;
    const T wi = ww[i], keep = 1 - wi;
    // lr: row i of L; gv[j]: the whole gradient reaching L[i, j], from later steps and from f and b
    for (int64_t j = 0; j < N; ++j) {
      lr[j] = (keep - ww[j]) * lpr[j] + wi * pp[j];
      gv[j] = glr[j];
    }
    lr[i] = 0;
    for (int64_t r = 0; r < R; ++r) {
      const T *__restrict rw = rr + r * N, *__restrict gbr = gbb + r * N;
      const T gfi = gff[r * N + i], ri = rw[i];
      T* __restrict gr = grr + r * N;
      T acc = 0;
#pragma omp simd reduction(+ : acc)
      for (int64_t j = 0; j < N; ++j) {
        gv[j] += gfi * rw[j] + ri * gbr[j];
        gr[j] += lr[j] * gfi;   // from f[r, i] = sum_j L[i, j] wr[r, j]
        acc += lr[j] * gbr[j];  // from b[r, j] = sum_i wr[r, i] L[i, j]
      }
      gr[i] += acc;
    }
    gv[i] = 0;  // L[i, i] = 0 whatever its inputs
    T* __restrict glpr = glp + i * N;
    T gwi = 0;
#pragma omp simd reduction(+ : gwi)
    for (int64_t j = 0; j < N; ++j) {
      const T q = gv[j] * lpr[j];
      glpr[j] = gv[j] * (keep - ww[j]);
      gwi += gv[j] * pp[j] - q;
      gww[j] -= q;
      gpp[j] += gv[j] * wi;
    }
    gww[i] += gwi;
  }
}

template <typename T>
void forward_impl(const at::Tensor& Lp, const at::Tensor& p, const at::Tensor& w, const at::Tensor& wr,
                  at::Tensor& L, at::Tensor& f, at::Tensor& b) {
  const int64_t B = Lp.size(0), N = Lp.size(1), R = wr.size(1);
  for (int64_t s = 0; s < B; ++s)
    link_fwd_seq<T>(Lp.data_ptr<T>() + s * N * N, p.data_ptr<T>() + s * N, w.data_ptr<T>() + s * N,
                    wr.data_ptr<T>() + s * R * N, L.data_ptr<T>() + s * N * N, f.data_ptr<T>() + s * R * N,
                    b.data_ptr<T>() + s * R * N, N, R);
}

template <typename T>
void backward_impl(const at::Tensor& gL, const at::Tensor& gf, const at::Tensor& gb, const at::Tensor& Lp,
                   const at::Tensor& p, const at::Tensor& w, const at::Tensor& wr, at::Tensor& gLp,
                   at::Tensor& gp, at::Tensor& gw, at::Tensor& gwr) {
  const int64_t B = Lp.size(0), N = Lp.size(1), R = wr.size(1);
  std::vector<T> g(2 * N);
  for (int64_t s = 0; s < B; ++s) {
    const int64_t nn = s * N * N, n = s * N, rn = s * R * N;
    link_bwd_seq<T>(gL.data_ptr<T>() + nn, gf.data_ptr<T>() + rn, gb.data_ptr<T>() + rn, Lp.data_ptr<T>() + nn,
                    p.data_ptr<T>() + n, w.data_ptr<T>() + n, wr.data_ptr<T>() + rn,
                    gLp.data_ptr<T>() + nn, gp.data_ptr<T>() + n, gw.data_ptr<T>() + n, gwr.data_ptr<T>() + rn,
                    g.data(), N, R);
  }
}

std::vector<at::Tensor> link_forward(const at::Tensor& Lp, const at::Tensor& p, const at::Tensor& w,
                                     const at::Tensor& wr) {
  auto L = pooled_empty(Lp.sizes(), Lp.options());
  auto f = at::zeros_like(wr);
  auto b = at::zeros_like(wr);
  AT_DISPATCH_FLOATING_TYPES(Lp.scalar_type(), "dnc_link_forward", [&] { forward_impl<scalar_t>(Lp, p, w, wr, L, f, b); });
  return {L, f, b};
}

// Gradients of link_forward given those of its outputs (gL of L, gf, gb), with its inputs and L.
std::vector<at::Tensor> link_backward(const at::Tensor& gL, const at::Tensor& gf, const at::Tensor& gb,
                                      const at::Tensor& Lp, const at::Tensor& p, const at::Tensor& w,
                                      const at::Tensor& wr) {
  auto gLp = pooled_empty(Lp.sizes(), Lp.options());
  auto gp = at::zeros_like(p);
  auto gw = at::zeros_like(w);
  auto gwr = at::zeros_like(wr);
  AT_DISPATCH_FLOATING_TYPES(Lp.scalar_type(), "dnc_link_backward", [&] {
    backward_impl<scalar_t>(gL, gf, gb, Lp, p, w, wr, gLp, gp, gw, gwr);
  });
  return {gLp, gp, gw, gwr};
}

// ---------------------------------------------------------------------------------------------
// The whole memory access of one step (dnc_memory.py, in the order of dnc.DNC.step): interface
// activations, usage, allocation, write weighting, write, links, precedence, read weightings, reads.
// xi (B, P) is the clipped interface vector; the outputs are the new state and the reads, and `aux`
// keeps per sequence what the backward needs (the activated interface and the intermediate vectors).
constexpr double kNormEps = 1e-6;  // dnc_memory.NORM_EPS

struct Offsets {
  int64_t N, W, R, P, A;
  int64_t kr, br, kw, bw, e, v, f, ga, gw, pi;                    // in xi and in the activated copy
  int64_t psi, uh, a, cw, cosw, np, fwd, bwd, cr, cosr, nm, knr, knw;  // after it, in aux
  Offsets(int64_t N_, int64_t W_, int64_t R_) : N(N_), W(W_), R(R_) {
    int64_t o = 0;
    auto take = [&](int64_t n) { int64_t at = o; o += n; return at; };
    kr = take(R * W); br = take(R); kw = take(W); bw = take(1); e = take(W); v = take(W); f = take(R);
    ga = take(1); gw = take(1); pi = take(3 * R);
    P = o;
    psi = take(N); uh = take(N); a = take(N); cw = take(N); cosw = take(N); np = take(N);
    fwd = take(R * N); bwd = take(R * N); cr = take(R * N); cosr = take(R * N); nm = take(N); knr = take(R); knw = take(1);
    A = o;
  }
};

template <typename T> inline T sigm(T x) { return T(1) / (T(1) + std::exp(-x)); }
template <typename T> inline T softplus(T x) { return x > 0 ? x + std::log1p(std::exp(-x)) : std::log1p(std::exp(x)); }

// content lookup on M (N x W) with norms nrm: cos (N) and the softmax of beta * cos into out (N)
template <typename T>
void lookup(const T* M, const T* nrm, const T* key, T beta, T* cos, T* out, T& kn, int64_t N, int64_t W) {
  T kk = 0;
#pragma omp simd reduction(+ : kk)
  for (int64_t m = 0; m < W; ++m) kk += key[m] * key[m];
  kn = std::sqrt(kk + T(kNormEps));
  T top = -std::numeric_limits<T>::infinity();
  for (int64_t n = 0; n < N; ++n) {
    T d = 0;
#pragma omp simd reduction(+ : d)
    for (int64_t m = 0; m < W; ++m) d += key[m] * M[n * W + m];
    cos[n] = d / (kn * nrm[n]);
    out[n] = beta * cos[n];
    top = std::max(top, out[n]);
  }
  T sum = 0;
  for (int64_t n = 0; n < N; ++n) sum += (out[n] = std::exp(out[n] - top));
  for (int64_t n = 0; n < N; ++n) out[n] /= sum;
}

// its gradient given gout (N): adds to gkey (W), gM (N x W), and returns the gradient of beta
template <typename T>
T lookup_bwd(const T* M, const T* nrm, const T* key, T beta, const T* cos, const T* out, T kn, const T* gout,
             T* gkey, T* gM, int64_t N, int64_t W) {
  T dot = 0, gbeta = 0, gkn = 0;
  for (int64_t n = 0; n < N; ++n) dot += gout[n] * out[n];
  for (int64_t n = 0; n < N; ++n) {
    const T gz = out[n] * (gout[n] - dot), gcos = beta * gz, gd = gcos / (kn * nrm[n]);
    gbeta += gz * cos[n];
    gkn -= gcos * cos[n] / kn;
    const T gnrm = -gcos * cos[n] / nrm[n] / nrm[n];  // through nrm[n] = sqrt(|M[n]|^2 + eps)
#pragma omp simd
    for (int64_t m = 0; m < W; ++m) {
      gkey[m] += gd * M[n * W + m];
      gM[n * W + m] += gd * key[m] + gnrm * M[n * W + m];
    }
  }
  for (int64_t m = 0; m < W; ++m) gkey[m] += gkn * key[m] / kn;
  return gbeta;
}

template <typename T>
void row_norms(const T* M, T* nrm, int64_t N, int64_t W) {
  for (int64_t n = 0; n < N; ++n) {
    T s = 0;
#pragma omp simd reduction(+ : s)
    for (int64_t m = 0; m < W; ++m) s += M[n * W + m] * M[n * W + m];
    nrm[n] = std::sqrt(s + T(kNormEps));
  }
}

template <typename T>
void access_fwd_seq(const Offsets& o, const T* x, const T* Mp, const T* up, const T* Lp, const T* pp, const T* wrp,
                    const T* wwp, T* M, T* u, T* L, T* p, T* wr, T* ww, T* reads, T* aux) {
  const int64_t N = o.N, W = o.W, R = o.R;
  T* act = aux;
  for (int64_t k = 0; k < o.P; ++k) act[k] = x[k];
  for (int64_t r = 0; r < R; ++r) act[o.br + r] = 1 + softplus(x[o.br + r]);
  act[o.bw] = 1 + softplus(x[o.bw]);
  for (int64_t m = 0; m < W; ++m) act[o.e + m] = sigm(x[o.e + m]);
  for (int64_t r = 0; r < R; ++r) act[o.f + r] = sigm(x[o.f + r]);
  act[o.ga] = sigm(x[o.ga]);
  act[o.gw] = sigm(x[o.gw]);
  for (int64_t r = 0; r < R; ++r) {
    T* q = act + o.pi + 3 * r;
    const T top = std::max(q[0], std::max(q[1], q[2]));
    T sum = 0;
    for (int k = 0; k < 3; ++k) sum += (q[k] = std::exp(q[k] - top));
    for (int k = 0; k < 3; ++k) q[k] /= sum;
  }
  // usage, then allocation over the rows sorted by usage (ties: lower row first)
  T *psi = aux + o.psi, *uh = aux + o.uh, *a = aux + o.a;
  for (int64_t n = 0; n < N; ++n) {
    T keep = 1;
    for (int64_t r = 0; r < R; ++r) keep *= 1 - act[o.f + r] * wrp[r * N + n];
    psi[n] = keep;
    uh[n] = up[n] + wwp[n] - up[n] * wwp[n];
    u[n] = uh[n] * keep;
  }
  std::vector<int64_t> order(N);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return u[i] < u[j]; });
  T prod = 1;
  for (int64_t j = 0; j < N; ++j) {
    a[order[j]] = (1 - u[order[j]]) * prod;
    prod *= u[order[j]];
  }
  // write weighting from allocation and content on M_{t-1}; the write
  T *np = aux + o.np, *cw = aux + o.cw;
  row_norms(Mp, np, N, W);
  lookup(Mp, np, act + o.kw, act[o.bw], aux + o.cosw, cw, aux[o.knw], N, W);
  const T ga = act[o.ga], gw = act[o.gw];
  T sw = 0;
  for (int64_t n = 0; n < N; ++n) sw += (ww[n] = gw * (ga * a[n] + (1 - ga) * cw[n]));
  for (int64_t n = 0; n < N; ++n)
#pragma omp simd
    for (int64_t m = 0; m < W; ++m)
      M[n * W + m] = Mp[n * W + m] + ww[n] * (act[o.v + m] - Mp[n * W + m] * act[o.e + m]);
  // links (from p_{t-1}), precedence, read weightings on M_t, reads
  link_fwd_seq<T>(Lp, pp, ww, wrp, L, aux + o.fwd, aux + o.bwd, N, R);
  for (int64_t n = 0; n < N; ++n) p[n] = (1 - sw) * pp[n] + ww[n];
  T* nm = aux + o.nm;
  row_norms(M, nm, N, W);
  for (int64_t r = 0; r < R; ++r) {
    const T *pi = act + o.pi + 3 * r, *fw = aux + o.fwd + r * N, *bw = aux + o.bwd + r * N;
    T* cr = aux + o.cr + r * N;
    lookup(M, nm, act + o.kr + r * W, act[o.br + r], aux + o.cosr + r * N, cr, aux[o.knr + r], N, W);
    for (int64_t n = 0; n < N; ++n) wr[r * N + n] = pi[0] * bw[n] + pi[1] * cr[n] + pi[2] * fw[n];
    T* rd = reads + r * W;
    for (int64_t m = 0; m < W; ++m) rd[m] = 0;
    for (int64_t n = 0; n < N; ++n) {
      const T wn = wr[r * N + n];
#pragma omp simd
      for (int64_t m = 0; m < W; ++m) rd[m] += wn * M[n * W + m];
    }
  }
}

template <typename T>
void access_bwd_seq(const Offsets& o, const T* x, const T* Mp, const T* up, const T* Lp, const T* pp, const T* wrp,
                    const T* wwp, const T* M, const T* u, const T* wr, const T* ww, const T* aux,
                    const T* gM_in, const T* gu_in, const T* gL, const T* gp, const T* gwr_in, const T* gww_in,
                    const T* greads, T* gx, T* gMp, T* gup, T* gLp, T* gpp, T* gwrp, T* gwwp, std::vector<T>& buf) {
  const int64_t N = o.N, W = o.W, R = o.R;
  const T* act = aux;
  // scratch: gM (N W), gwr (R N), gww (N), gu (N), gfwd, gbwd, gcr (R N each), gact (P), link (N), alloc (N)
  buf.assign(N * W + 4 * R * N + 4 * N + o.P + 2 * N, T(0));
  T *gM = buf.data(), *gwr = gM + N * W, *gfwd = gwr + R * N, *gbwd = gfwd + R * N, *gcr = gbwd + R * N;
  T *gww = gcr + R * N, *gu = gww + N, *gA = gu + N, *gact = gA + N, *scratch = gact + o.P;  // scratch: 2N
  for (int64_t k = 0; k < N * W; ++k) gM[k] = gM_in[k];
  for (int64_t k = 0; k < R * N; ++k) gwr[k] = gwr_in[k];
  for (int64_t n = 0; n < N; ++n) gww[n] = gww_in[n], gu[n] = gu_in[n];
  // reads r = M^T wr; read weightings wr = pi0 b + pi1 c + pi2 f; read lookups on M_t
  for (int64_t r = 0; r < R; ++r) {
    const T* gr = greads + r * W;
    for (int64_t n = 0; n < N; ++n) {
      T acc = 0;
      const T wn = wr[r * N + n];
#pragma omp simd reduction(+ : acc)
      for (int64_t m = 0; m < W; ++m) {
        acc += gr[m] * M[n * W + m];
        gM[n * W + m] += gr[m] * wn;
      }
      gwr[r * N + n] += acc;
    }
    const T* pi = act + o.pi + 3 * r;
    T gpi[3] = {0, 0, 0};
    for (int64_t n = 0; n < N; ++n) {
      const T g = gwr[r * N + n];
      gpi[0] += g * aux[o.bwd + r * N + n];
      gpi[1] += g * aux[o.cr + r * N + n];
      gpi[2] += g * aux[o.fwd + r * N + n];
      gbwd[r * N + n] = pi[0] * g;
      gcr[r * N + n] = pi[1] * g;
      gfwd[r * N + n] = pi[2] * g;
    }
    const T dot = gpi[0] * pi[0] + gpi[1] * pi[1] + gpi[2] * pi[2];
    for (int k = 0; k < 3; ++k) gx[o.pi + 3 * r + k] = pi[k] * (gpi[k] - dot);
    gact[o.br + r] += lookup_bwd(M, aux + o.nm, act + o.kr + r * W, act[o.br + r], aux + o.cosr + r * N,
                                 aux + o.cr + r * N, aux[o.knr + r], gcr + r * N, gact + o.kr + r * W, gM, N, W);
  }
  // precedence p = (1 - sum w) p_prev + w
  T sw = 0, dotp = 0;
  for (int64_t n = 0; n < N; ++n) sw += ww[n], dotp += gp[n] * pp[n];
  for (int64_t n = 0; n < N; ++n) {
    gpp[n] = gp[n] * (1 - sw);
    gww[n] += gp[n] - dotp;
  }
  // links: adds to gpp, gww, gwrp
  link_bwd_seq<T>(gL, gfwd, gbwd, Lp, pp, ww, wrp, gLp, gpp, gww, gwrp, scratch, N, R);
  // the write M = Mp + w (v - Mp e)
  for (int64_t n = 0; n < N; ++n) {
    T acc = 0;
#pragma omp simd reduction(+ : acc)
    for (int64_t m = 0; m < W; ++m) {
      const T g = gM[n * W + m], mp = Mp[n * W + m], e = act[o.e + m];
      gMp[n * W + m] = g * (1 - ww[n] * e);
      acc += g * (act[o.v + m] - mp * e);
      gact[o.v + m] += g * ww[n];
      gact[o.e + m] -= g * ww[n] * mp;
    }
    gww[n] += acc;
  }
  // write weighting w = gw (ga a + (1 - ga) c), content lookup on M_{t-1}
  const T ga = act[o.ga], gwg = act[o.gw];
  T gga = 0, ggw = 0;
  for (int64_t n = 0; n < N; ++n) {
    const T a = aux[o.a + n], c = aux[o.cw + n];
    gga += gww[n] * gwg * (a - c);
    ggw += gww[n] * (ga * a + (1 - ga) * c);
    gA[n] = gww[n] * gwg * ga;
    scratch[n] = gww[n] * gwg * (1 - ga);  // gradient of the content weighting
  }
  gact[o.bw] += lookup_bwd(Mp, aux + o.np, act + o.kw, act[o.bw], aux + o.cosw, aux + o.cw, aux[o.knw], scratch,
                           gact + o.kw, gMp, N, W);
  // allocation: a[phi_j] = (1 - s_j) prod_{i<j} s_i with s sorted ascending; the order is a constant.
  // ds_j = -ga_j P_j + P_j S_j, S_j = sum_{k>j} ga_k (1 - s_k) prod_{j<i<k} s_i (a backward scan)
  std::vector<int64_t> order(N);
  std::iota(order.begin(), order.end(), 0);
  std::stable_sort(order.begin(), order.end(), [&](int64_t i, int64_t j) { return u[i] < u[j]; });
  T* P = scratch;
  T prod = 1;
  for (int64_t j = 0; j < N; ++j) P[j] = prod, prod *= u[order[j]];
  T S = 0;
  for (int64_t j = N - 1; j >= 0; --j) {
    const int64_t n = order[j];
    gu[n] += P[j] * (S - gA[n]);
    S = gA[n] * (1 - u[n]) + u[n] * S;
  }
  // usage u = uh psi, uh = up + wwp - up wwp, psi = prod_r (1 - f_r wrp_r)
  for (int64_t n = 0; n < N; ++n) {
    const T guh = gu[n] * aux[o.psi + n], gpsi = gu[n] * aux[o.uh + n];
    gup[n] = guh * (1 - wwp[n]);
    gwwp[n] = guh * (1 - up[n]);
    for (int64_t r = 0; r < R; ++r) {
      T others = 1;
      for (int64_t q = 0; q < R; ++q)
        if (q != r) others *= 1 - act[o.f + q] * wrp[q * N + n];
      const T gt = gpsi * others;
      gact[o.f + r] -= gt * wrp[r * N + n];
      gwrp[r * N + n] -= gt * act[o.f + r];
    }
  }
  // the interface activations
  for (int64_t k = 0; k < R * W; ++k) gx[o.kr + k] = gact[o.kr + k];
  for (int64_t m = 0; m < W; ++m) {
    gx[o.kw + m] = gact[o.kw + m];
    gx[o.v + m] = gact[o.v + m];
    const T e = act[o.e + m];
    gx[o.e + m] = gact[o.e + m] * e * (1 - e);
  }
  for (int64_t r = 0; r < R; ++r) {
    gx[o.br + r] = gact[o.br + r] * sigm(x[o.br + r]);  // oneplus' = sigmoid
    const T f = act[o.f + r];
    gx[o.f + r] = gact[o.f + r] * f * (1 - f);
  }
  gx[o.bw] = gact[o.bw] * sigm(x[o.bw]);
  gx[o.ga] = gga * ga * (1 - ga);
  gx[o.gw] = ggw * gwg * (1 - gwg);
}

std::vector<at::Tensor> access_forward(const at::Tensor& xi, const at::Tensor& Mp, const at::Tensor& up,
                                       const at::Tensor& Lp, const at::Tensor& pp, const at::Tensor& wrp,
                                       const at::Tensor& wwp) {
  const int64_t B = Mp.size(0), N = Mp.size(1), W = Mp.size(2), R = wrp.size(1);
  const Offsets o(N, W, R);
  TORCH_CHECK(xi.size(1) == o.P, "dnc access: interface size ", xi.size(1), ", expected ", o.P);
  auto M = at::empty_like(Mp), u = at::empty_like(up), L = pooled_empty(Lp.sizes(), Lp.options());
  auto p = at::empty_like(pp);
  auto wr = at::empty_like(wrp), ww = at::empty_like(wwp), reads = at::empty({B, R, W}, Mp.options());
  auto aux = at::empty({B, o.A}, Mp.options());
  AT_DISPATCH_FLOATING_TYPES(Mp.scalar_type(), "dnc_access_forward", [&] {
    for (int64_t s = 0; s < B; ++s)
      access_fwd_seq<scalar_t>(o, xi.data_ptr<scalar_t>() + s * o.P, Mp.data_ptr<scalar_t>() + s * N * W,
                               up.data_ptr<scalar_t>() + s * N, Lp.data_ptr<scalar_t>() + s * N * N,
                               pp.data_ptr<scalar_t>() + s * N, wrp.data_ptr<scalar_t>() + s * R * N,
                               wwp.data_ptr<scalar_t>() + s * N, M.data_ptr<scalar_t>() + s * N * W,
                               u.data_ptr<scalar_t>() + s * N, L.data_ptr<scalar_t>() + s * N * N,
                               p.data_ptr<scalar_t>() + s * N, wr.data_ptr<scalar_t>() + s * R * N,
                               ww.data_ptr<scalar_t>() + s * N, reads.data_ptr<scalar_t>() + s * R * W,
                               aux.data_ptr<scalar_t>() + s * o.A);
  });
  return {M, u, L, p, wr, ww, reads, aux};
}

std::vector<at::Tensor> access_backward(const at::Tensor& gM, const at::Tensor& gu, const at::Tensor& gL,
                                        const at::Tensor& gp, const at::Tensor& gwr, const at::Tensor& gww,
                                        const at::Tensor& greads, const at::Tensor& xi, const at::Tensor& Mp,
                                        const at::Tensor& up, const at::Tensor& Lp, const at::Tensor& pp,
                                        const at::Tensor& wrp, const at::Tensor& wwp, const at::Tensor& M,
                                        const at::Tensor& u, const at::Tensor& wr,
                                        const at::Tensor& ww, const at::Tensor& aux) {
  const int64_t B = Mp.size(0), N = Mp.size(1), W = Mp.size(2), R = wrp.size(1);
  const Offsets o(N, W, R);
  auto gx = at::empty_like(xi), gMp = at::empty_like(Mp), gup = at::empty_like(up);
  auto gLp = pooled_empty(Lp.sizes(), Lp.options());
  auto gpp = at::empty_like(pp), gwrp = at::zeros_like(wrp), gwwp = at::empty_like(wwp);
  AT_DISPATCH_FLOATING_TYPES(Mp.scalar_type(), "dnc_access_backward", [&] {
    using T = scalar_t;
    std::vector<T> buf;
    for (int64_t s = 0; s < B; ++s) {
      const int64_t nw = s * N * W, n = s * N, nn = s * N * N, rn = s * R * N;
      access_bwd_seq<T>(o, xi.data_ptr<T>() + s * o.P, Mp.data_ptr<T>() + nw, up.data_ptr<T>() + n,
                        Lp.data_ptr<T>() + nn, pp.data_ptr<T>() + n, wrp.data_ptr<T>() + rn, wwp.data_ptr<T>() + n,
                        M.data_ptr<T>() + nw, u.data_ptr<T>() + n, wr.data_ptr<T>() + rn,
                        ww.data_ptr<T>() + n, aux.data_ptr<T>() + s * o.A, gM.data_ptr<T>() + nw,
                        gu.data_ptr<T>() + n, gL.data_ptr<T>() + nn, gp.data_ptr<T>() + n, gwr.data_ptr<T>() + rn,
                        gww.data_ptr<T>() + n, greads.data_ptr<T>() + s * R * W, gx.data_ptr<T>() + s * o.P,
                        gMp.data_ptr<T>() + nw, gup.data_ptr<T>() + n, gLp.data_ptr<T>() + nn, gpp.data_ptr<T>() + n,
                        gwrp.data_ptr<T>() + rn, gwwp.data_ptr<T>() + n, buf);
    }
  });
  return {gx, gMp, gup, gLp, gpp, gwrp, gwwp};
}

// ---------------------------------------------------------------------------------------------
// A whole step: the LSTM controller (gates from the input's projection xp and [r_{t-1}, h_{t-1}],
// order [i, f, o, g]), the interface vector xi = clip(W_xi h + b), then the memory access above.
// One autograd node per step instead of ~25 torch operations (dnc_native.Step).
std::vector<at::Tensor> step_forward(const at::Tensor& xp, const at::Tensor& h0, const at::Tensor& c0,
                                     const at::Tensor& Mp, const at::Tensor& up, const at::Tensor& Lp,
                                     const at::Tensor& pp, const at::Tensor& wrp, const at::Tensor& wwp,
                                     const at::Tensor& rp, const at::Tensor& w_rh, const at::Tensor& w_xi,
                                     const at::Tensor& b_xi, double clip) {
  const int64_t B = h0.size(0), C = h0.size(1);
  auto hin = at::cat({rp.reshape({B, -1}), h0}, 1);
  auto gates = at::addmm(xp, hin, w_rh.t());  // (B, 4C), then activated in place
  auto c = at::empty_like(c0), h = at::empty_like(h0);
  AT_DISPATCH_FLOATING_TYPES(h0.scalar_type(), "dnc_step_cell", [&] {
    using T = scalar_t;
    for (int64_t s = 0; s < B; ++s) {
      T* g = gates.data_ptr<T>() + s * 4 * C;
      const T* cp = c0.data_ptr<T>() + s * C;
      T *cn = c.data_ptr<T>() + s * C, *hn = h.data_ptr<T>() + s * C;
      for (int64_t k = 0; k < 3 * C; ++k) g[k] = sigm(g[k]);
      for (int64_t k = 3 * C; k < 4 * C; ++k) g[k] = std::tanh(g[k]);
      for (int64_t k = 0; k < C; ++k) {
        cn[k] = g[C + k] * cp[k] + g[k] * g[3 * C + k];
        hn[k] = g[2 * C + k] * std::tanh(cn[k]);
      }
    }
  });
  auto xi_raw = at::addmm(b_xi, h, w_xi.t());  // (B, P)
  auto xi = clip > 0 ? xi_raw.clamp(-clip, clip) : xi_raw;
  auto out = access_forward(xi, Mp, up, Lp, pp, wrp, wwp);  // M, u, L, p, wr, ww, reads, aux
  return {h, c, out[0], out[1], out[2], out[3], out[4], out[5], out[6], gates, xi_raw, out[7]};
}

// Gradients of step_forward: of xp, h0, c0, Mp, up, Lp, pp, wrp, wwp, rp, w_rh, w_xi, b_xi.
std::vector<at::Tensor> step_backward(const at::Tensor& gh_in, const at::Tensor& gc_in, const at::Tensor& gM,
                                      const at::Tensor& gu, const at::Tensor& gL, const at::Tensor& gp,
                                      const at::Tensor& gwr, const at::Tensor& gww, const at::Tensor& greads,
                                      const at::Tensor& h0, const at::Tensor& c0, const at::Tensor& Mp,
                                      const at::Tensor& up, const at::Tensor& Lp, const at::Tensor& pp,
                                      const at::Tensor& wrp, const at::Tensor& wwp, const at::Tensor& rp,
                                      const at::Tensor& w_rh, const at::Tensor& w_xi, const at::Tensor& h,
                                      const at::Tensor& c, const at::Tensor& M, const at::Tensor& u,
                                      const at::Tensor& wr, const at::Tensor& ww,
                                      const at::Tensor& gates, const at::Tensor& xi_raw, const at::Tensor& aux,
                                      double clip) {
  const int64_t B = h0.size(0), C = h0.size(1);
  auto xi = clip > 0 ? xi_raw.clamp(-clip, clip) : xi_raw;
  auto ga = access_backward(gM, gu, gL, gp, gwr, gww, greads, xi, Mp, up, Lp, pp, wrp, wwp, M, u, wr, ww, aux);
  auto gxi = ga[0];
  if (clip > 0) gxi = gxi * ((xi_raw >= -clip) & (xi_raw <= clip)).to(gxi.scalar_type());  // as torch's clamp
  auto gw_xi = at::mm(gxi.t(), h);
  auto gb_xi = gxi.sum(0);
  auto gh = at::addmm(gh_in, gxi, w_xi);  // (B, C)
  auto gpre = at::empty_like(gates), gc0 = at::empty_like(c0);
  AT_DISPATCH_FLOATING_TYPES(h0.scalar_type(), "dnc_step_cell_backward", [&] {
    using T = scalar_t;
    for (int64_t s = 0; s < B; ++s) {
      const T *g = gates.data_ptr<T>() + s * 4 * C, *cp = c0.data_ptr<T>() + s * C, *cn = c.data_ptr<T>() + s * C;
      const T *ghp = gh.data_ptr<T>() + s * C, *gcp = gc_in.data_ptr<T>() + s * C;
      T *d = gpre.data_ptr<T>() + s * 4 * C, *gcn = gc0.data_ptr<T>() + s * C;
      for (int64_t k = 0; k < C; ++k) {
        const T i = g[k], f = g[C + k], o = g[2 * C + k], z = g[3 * C + k], tc = std::tanh(cn[k]);
        const T gct = gcp[k] + ghp[k] * o * (1 - tc * tc);
        d[k] = gct * z * i * (1 - i);
        d[C + k] = gct * cp[k] * f * (1 - f);
        d[2 * C + k] = ghp[k] * tc * o * (1 - o);
        d[3 * C + k] = gct * i * (1 - z * z);
        gcn[k] = gct * f;
      }
    }
  });
  auto hin = at::cat({rp.reshape({B, -1}), h0}, 1);
  auto gw_rh = at::mm(gpre.t(), hin);
  auto ghin = at::mm(gpre, w_rh);  // (B, R*W + C)
  const int64_t RW = ghin.size(1) - C;
  auto grp = ghin.slice(1, 0, RW).reshape(rp.sizes()).contiguous();
  auto gh0 = ghin.slice(1, RW).contiguous();
  return {gpre, gh0, gc0, ga[1], ga[2], ga[3], ga[4], ga[5], ga[6], grp, gw_rh, gw_xi, gb_xi};
}

}  // namespace

TORCH_LIBRARY(dnc_bench, m) {
  m.def("link_forward(Tensor Lp, Tensor p, Tensor w, Tensor wr) -> Tensor[]");
  m.def("link_backward(Tensor gL, Tensor gf, Tensor gb, Tensor Lp, Tensor p, Tensor w, Tensor wr) -> Tensor[]");
  m.def("access_forward(Tensor xi, Tensor Mp, Tensor up, Tensor Lp, Tensor pp, Tensor wrp, Tensor wwp) -> Tensor[]");
  m.def("access_backward(Tensor gM, Tensor gu, Tensor gL, Tensor gp, Tensor gwr, Tensor gww, Tensor greads, "
        "Tensor xi, Tensor Mp, Tensor up, Tensor Lp, Tensor pp, Tensor wrp, Tensor wwp, Tensor M, Tensor u, "
        "Tensor wr, Tensor ww, Tensor aux) -> Tensor[]");
  m.def("step_forward(Tensor xp, Tensor h0, Tensor c0, Tensor Mp, Tensor up, Tensor Lp, Tensor pp, Tensor wrp, "
        "Tensor wwp, Tensor rp, Tensor w_rh, Tensor w_xi, Tensor b_xi, float clip) -> Tensor[]");
  m.def("step_backward(Tensor gh, Tensor gc, Tensor gM, Tensor gu, Tensor gL, Tensor gp, Tensor gwr, Tensor gww, "
        "Tensor greads, Tensor h0, Tensor c0, Tensor Mp, Tensor up, Tensor Lp, Tensor pp, Tensor wrp, Tensor wwp, "
        "Tensor rp, Tensor w_rh, Tensor w_xi, Tensor h, Tensor c, Tensor M, Tensor u, Tensor wr, "
        "Tensor ww, Tensor gates, Tensor xi_raw, Tensor aux, float clip) -> Tensor[]");
}

TORCH_LIBRARY_IMPL(dnc_bench, CPU, m) {
  m.impl("link_forward", &link_forward);
  m.impl("link_backward", &link_backward);
  m.impl("access_forward", &access_forward);
  m.impl("access_backward", &access_backward);
  m.impl("step_forward", &step_forward);
  m.impl("step_backward", &step_backward);
}
