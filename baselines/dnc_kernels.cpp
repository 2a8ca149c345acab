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

#include <vector>

namespace {

template <typename scalar_t>
void forward_impl(const at::Tensor& Lp, const at::Tensor& p, const at::Tensor& w, const at::Tensor& wr,
                  at::Tensor& L, at::Tensor& f, at::Tensor& b) {
  const int64_t B = Lp.size(0), N = Lp.size(1), R = wr.size(1);
  for (int64_t s = 0; s < B; ++s) {
    const scalar_t *__restrict lp = Lp.data_ptr<scalar_t>() + s * N * N, *pp = p.data_ptr<scalar_t>() + s * N,
                   *ww = w.data_ptr<scalar_t>() + s * N, *rr = wr.data_ptr<scalar_t>() + s * R * N;
    scalar_t *__restrict ll = L.data_ptr<scalar_t>() + s * N * N, *__restrict ff = f.data_ptr<scalar_t>() + s * R * N,
             *__restrict bb = b.data_ptr<scalar_t>() + s * R * N;
    for (int64_t i = 0; i < N; ++i) {
      const scalar_t wi = ww[i], keep = 1 - wi;
      const scalar_t* __restrict lpr = lp + i * N;
      scalar_t* __restrict lr = ll + i * N;
      for (int64_t j = 0; j < N; ++j) lr[j] = (keep - ww[j]) * lpr[j] + wi * pp[j];
      lr[i] = 0;
      for (int64_t r = 0; r < R; ++r) {
        const scalar_t* __restrict rw = rr + r * N;
        scalar_t* __restrict br = bb + r * N;
        const scalar_t ri = rw[i];
        scalar_t acc = 0;
#pragma omp simd reduction(+ : acc)
        for (int64_t j = 0; j < N; ++j) {
          acc += lr[j] * rw[j];
          br[j] += ri * lr[j];
        }
        ff[r * N + i] = acc;
      }
    }
  }
}

template <typename scalar_t>
void backward_impl(const at::Tensor& gL, const at::Tensor& gf, const at::Tensor& gb, const at::Tensor& Lp,
                   const at::Tensor& L, const at::Tensor& p, const at::Tensor& w, const at::Tensor& wr, at::Tensor& gLp,
                   at::Tensor& gp, at::Tensor& gw, at::Tensor& gwr) {
  const int64_t B = Lp.size(0), N = Lp.size(1), R = wr.size(1);
  std::vector<scalar_t> g(N);
  for (int64_t s = 0; s < B; ++s) {
    const scalar_t *__restrict lp = Lp.data_ptr<scalar_t>() + s * N * N, *ll = L.data_ptr<scalar_t>() + s * N * N,
                   *gl = gL.data_ptr<scalar_t>() + s * N * N, *pp = p.data_ptr<scalar_t>() + s * N,
                   *ww = w.data_ptr<scalar_t>() + s * N, *rr = wr.data_ptr<scalar_t>() + s * R * N,
                   *gff = gf.data_ptr<scalar_t>() + s * R * N, *gbb = gb.data_ptr<scalar_t>() + s * R * N;
    scalar_t *__restrict glp = gLp.data_ptr<scalar_t>() + s * N * N, *__restrict gpp = gp.data_ptr<scalar_t>() + s * N,
             *__restrict gww = gw.data_ptr<scalar_t>() + s * N, *__restrict grr = gwr.data_ptr<scalar_t>() + s * R * N;
    for (int64_t i = 0; i < N; ++i) {
      scalar_t* __restrict gv = g.data();
      const scalar_t *__restrict glr = gl + i * N, *__restrict lr = ll + i * N, *__restrict lpr = lp + i * N;
      // gv[j]: the whole gradient reaching L[i, j], from later steps and from f and b
      for (int64_t j = 0; j < N; ++j) gv[j] = glr[j];
      for (int64_t r = 0; r < R; ++r) {
        const scalar_t *__restrict rw = rr + r * N, *__restrict gbr = gbb + r * N;
        const scalar_t gfi = gff[r * N + i], ri = rw[i];
        scalar_t* __restrict gr = grr + r * N;
        scalar_t acc = 0;
#pragma omp simd reduction(+ : acc)
        for (int64_t j = 0; j < N; ++j) {
          gv[j] += gfi * rw[j] + ri * gbr[j];
          gr[j] += lr[j] * gfi;  // from f[r, i] = sum_j L[i, j] wr[r, j]
          acc += lr[j] * gbr[j];  // from b[r, j] = sum_i wr[r, i] L[i, j]
        }
        gr[i] += acc;
      }
      gv[i] = 0;  // L[i, i] = 0 whatever its inputs
      const scalar_t wi = ww[i], keep = 1 - wi;
      scalar_t* __restrict glpr = glp + i * N;
      scalar_t gwi = 0;
#pragma omp simd reduction(+ : gwi)
      for (int64_t j = 0; j < N; ++j) {
        const scalar_t q = gv[j] * lpr[j];
        glpr[j] = gv[j] * (keep - ww[j]);
        gwi += gv[j] * pp[j] - q;
        gww[j] -= q;
        gpp[j] += gv[j] * wi;
      }
      gww[i] += gwi;
    }
  }
}

std::vector<at::Tensor> link_forward(const at::Tensor& Lp, const at::Tensor& p, const at::Tensor& w,
                                     const at::Tensor& wr) {
  auto L = at::empty_like(Lp);
  auto f = at::zeros_like(wr);
  auto b = at::zeros_like(wr);
  AT_DISPATCH_FLOATING_TYPES(Lp.scalar_type(), "dnc_link_forward", [&] { forward_impl<scalar_t>(Lp, p, w, wr, L, f, b); });
  return {L, f, b};
}

// Gradients of link_forward given those of its outputs (gL of L, gf, gb), with its inputs and L.
std::vector<at::Tensor> link_backward(const at::Tensor& gL, const at::Tensor& gf, const at::Tensor& gb,
                                      const at::Tensor& Lp, const at::Tensor& L, const at::Tensor& p,
                                      const at::Tensor& w, const at::Tensor& wr) {
  auto gLp = at::empty_like(Lp);
  auto gp = at::zeros_like(p);
  auto gw = at::zeros_like(w);
  auto gwr = at::zeros_like(wr);
  AT_DISPATCH_FLOATING_TYPES(Lp.scalar_type(), "dnc_link_backward", [&] {
    backward_impl<scalar_t>(gL, gf, gb, Lp, L, p, w, wr, gLp, gp, gw, gwr);
  });
  return {gLp, gp, gw, gwr};
}

}  // namespace

TORCH_LIBRARY(dnc_bench, m) {
  m.def("link_forward(Tensor Lp, Tensor p, Tensor w, Tensor wr) -> Tensor[]");
  m.def("link_backward(Tensor gL, Tensor gf, Tensor gb, Tensor Lp, Tensor L, Tensor p, Tensor w, Tensor wr) -> Tensor[]");
}

TORCH_LIBRARY_IMPL(dnc_bench, CPU, m) {
  m.impl("link_forward", &link_forward);
  m.impl("link_backward", &link_backward);
}
