// What the native GPU check programs share: seeded random inputs, NaN-poisoned device arrays, the
// relative error ||out - ref|| / ||ref|| (NaN never passes) and the PASS/FAIL lines with their counts.
#pragma once
#include <cuda_bf16.h>
#include <cuda_runtime.h>

#include <algorithm>
#include <cmath>
#include <cstdint>
#include <cstdio>
#include <random>
#include <string>
#include <type_traits>
#include <vector>

#include "common.cuh"
#include "cuda_backend.h"
#include "engine/engine.h"

using Vec = std::vector<float>;
using Ints = std::vector<int32_t>;

static std::mt19937_64 g_rng;
static int g_fail = 0, g_pass = 0;

static Vec randn(size_t n, float scale = 1.0f) {
  std::normal_distribution<float> d(0.0f, scale);
  Vec v(n);
  for (auto& x : v) x = d(g_rng);
  return v;
}
static int randint(int lo, int hi) { return std::uniform_int_distribution<int>(lo, hi)(g_rng); }
static float bf16_round(float x) { return __bfloat162float(__float2bfloat16(x)); }
static Vec rounded(const Vec& v) {
  Vec r(v.size());
  for (size_t i = 0; i < v.size(); i++) r[i] = bf16_round(v[i]);
  return r;
}
// The values T can hold (bf16 cases run the CPU op on rounded inputs, so the error is the kernel's own).
template <typename T> static Vec prep(const Vec& v) { return sizeof(T) == 2 ? rounded(v) : v; }
template <typename T> static std::string tname() { return sizeof(T) == 2 ? "bf16" : "fp32"; }
template <typename T> static double tol_op() { return sizeof(T) == 2 ? 1e-2 : 1e-5; }

// Device array of T: NaN-poisoned (0xFF bytes: NaN in fp32 and bf16), or holding a host vector
// (fp32 values converted to T; int32 copied).
template <typename T>
struct Dev {
  T* p = nullptr;
  size_t n = 0;
  explicit Dev(size_t count) : n(count) {
    CUDA_CHECK(cudaMalloc(&p, std::max<size_t>(1, n) * sizeof(T)));
    poison();
  }
  explicit Dev(const Vec& v) : Dev(v.size()) { upload(v); }
  explicit Dev(const Ints& v) : Dev(v.size()) {
    static_assert(std::is_same<T, int32_t>::value, "int32 arrays only");
    CUDA_CHECK(cudaMemcpy(p, v.data(), n * sizeof(T), cudaMemcpyHostToDevice));
  }
  Dev(const Dev&) = delete;
  Dev& operator=(const Dev&) = delete;
  ~Dev() { cudaFree(p); }
  void upload(const Vec& v) {
    std::vector<T> h(v.size());
    for (size_t i = 0; i < v.size(); i++) h[i] = (T)v[i];
    CUDA_CHECK(cudaMemcpy(p, h.data(), v.size() * sizeof(T), cudaMemcpyHostToDevice));
  }
  void poison() { CUDA_CHECK(cudaMemset(p, 0xFF, std::max<size_t>(1, n) * sizeof(T))); }
  Vec get() const {
    std::vector<T> h(n);
    CUDA_CHECK(cudaDeviceSynchronize());
    CUDA_CHECK(cudaMemcpy(h.data(), p, n * sizeof(T), cudaMemcpyDeviceToHost));
    Vec v(n);
    for (size_t i = 0; i < n; i++) v[i] = (float)h[i];
    return v;
  }
};

static double rel_err(const Vec& out, const Vec& ref) {
  double num = 0, den = 0;
  for (size_t i = 0; i < ref.size(); i++) {
    if (!std::isfinite(out[i])) return NAN;
    const double d = (double)out[i] - ref[i];
    num += d * d;
    den += (double)ref[i] * ref[i];
  }
  if (den == 0) return num == 0 ? 0 : INFINITY;
  return std::sqrt(num / den);
}

static void report(const std::string& name, double err, double tol) {
  const bool ok = std::isfinite(err) && err <= tol;
  if (ok) g_pass++; else g_fail++;
  std::printf("%s %-66s rel %.2e (tol %.0e)\n", ok ? "PASS" : "FAIL", name.c_str(), err, tol);
}
static void report_exact(const std::string& name, bool ok, const std::string& detail = "") {
  if (ok) g_pass++; else g_fail++;
  std::printf("%s %-66s %s\n", ok ? "PASS" : "FAIL", name.c_str(), detail.c_str());
}

// Seeds the inputs and prints the device; false (after a SKIP line) where no GPU is usable.
static bool start_checks(uint64_t seed) {
  g_rng.seed(seed);
  const mypt::cuda::Discovery found = mypt::cuda::discover();
  if (found.devices.empty()) {
    std::printf("SKIP no usable GPU: %s\n", found.reason.c_str());
    return false;
  }
  const auto& devs = found.devices;
  std::printf("device: %s (%d SMs), seed %llu\n", devs[0].name.c_str(), devs[0].multiprocessors, (unsigned long long)seed);
  return true;
}
