//! Latency samples (milliseconds) and their percentiles.

/// The `p` quantile (0.0 to 1.0) of `v`, nearest rank; NaN when empty. Sorts `v`.
pub fn percentile(v: &mut [f64], p: f64) -> f64 {
    v.sort_by(f64::total_cmp);
    if v.is_empty() {
        f64::NAN
    } else {
        v[((v.len() - 1) as f64 * p).round() as usize]
    }
}

/// The median of `v`; NaN when empty. Sorts `v`.
pub fn median(v: &mut [f64]) -> f64 {
    percentile(v, 0.5)
}
