/**
 * Tolerances for comparing float64 results with the float32 goldens. The goldens' inputs are
 * float32 values, so a float64 result differs from them only by the goldens' own float32 rounding:
 * one rounding (relative 2^-24 = 6e-8) per add or multiply, over sums of at most a few dozen terms
 * of magnitude <= 50. That bounds the difference by ~1e-5 absolute, and by ~1e-6 relative where
 * there is no cancellation.
 */
export const FLOAT64_ATOL = 1e-5;
export const FLOAT64_RTOL = 1e-6;
