//! Target-delay estimation from packet arrival statistics (NetEq-style).
//!
//! For every packet the *transit* `arrival − media time` is computed; its excess over the
//! smallest transit of the last two seconds (the fastest recent packet) is the packet's
//! *relative delay*: how much later than the best case it came. Relative delays go into a
//! histogram (5 ms bins) with an exponential forgetting factor; the target is its configured
//! quantile (0.95 by default), plus one frame. Reordered packets also go to a second histogram
//! from which a reorder optimiser (after NetEq's) picks the extra delay that minimises delay
//! plus a loss cost, so that rare but systematic reordering is waited for. A peak detector gives fast reaction: when
//! [`SUSTAIN`] packets in a row are all later than the quantile by a margin (a delay spike,
//! not one outlier) the target is lifted to that level at once; that level is held for
//! [`PEAK_HOLD_US`] and then decays slowly ([`PEAK_DECAY_US_PER_S`]). The result is clamped to
//! `[min_delay, max_delay]`.

use super::JitterConfig;

/// Histogram bin width.
const BIN_US: i64 = 5_000;
/// Length of the sliding window that defines the fastest recent packet.
const WINDOW_US: i64 = 2_000_000;
/// Most entries of the sliding-minimum queue; it is sized for the packets of one window at the
/// configured frame length, twice over (packets half a frame long), within 32..=512.
const WINDOW_CAP: usize = 512;
/// Pseudo-packets of weight given to `initial_delay` before real statistics exist.
const PRIOR_PACKETS: u64 = 5;
/// Reorder optimiser: 1 % of packets lost late is worth this much extra delay (NetEq uses 20 ms).
const MS_PER_LOSS_PERCENT: f32 = 20.0;
/// Packets in a row that must all exceed the quantile by [`PEAK_MARGIN_US`] to make a peak.
pub const SUSTAIN: usize = 3;
/// Margin over the quantile that makes a peak.
const PEAK_MARGIN_US: i64 = 20_000;
/// A peak level is held this long after the last spike.
pub const PEAK_HOLD_US: i64 = 4_000_000;
/// Then it decays by this much per second.
pub const PEAK_DECAY_US_PER_S: i64 = 15_000;

/// Sliding-window minimum of transit times plus a forgetting histogram of relative delays.
#[derive(Debug, Clone)]
pub struct DelayEstimator {
    hist: Vec<f32>,
    /// Rate of reordered packets per relative-delay bin (sums to the reorder rate).
    reorder_hist: Vec<f32>,
    /// Whether a reordered packet has been counted. Until then the reorder histogram is all
    /// zeros: forgetting leaves it so and its optimiser picks 0, so both are skipped.
    reorder_seen: bool,
    reorder_us: i64,
    quantile: f32,
    forget: f32,
    packets: u64,
    /// Monotonic queue of (arrival µs, transit µs), transit increasing from head.
    win: Vec<(i64, i64)>,
    win_head: usize,
    win_len: usize,
    quantile_us: i64,
    peak_us: i64,
    last_peak_at: i64,
    recent: [i64; SUSTAIN],
    recent_pos: usize,
    frame_us: i64,
    min_us: i64,
    max_us: i64,
    discontinuity_us: i64,
}

impl DelayEstimator {
    /// Starts loading the histograms every packet updates into the cache.
    #[inline]
    pub fn prefetch(&self) {
        crate::simd::prefetch_slice(&self.hist);
        if self.reorder_seen {
            crate::simd::prefetch_slice(&self.reorder_hist);
        }
    }

    /// Creates an estimator for the delay range of `cfg` (allocates once).
    pub fn new(cfg: &JitterConfig) -> Self {
        let min_us = super::micros(cfg.min_delay);
        let max_us = super::micros(cfg.max_delay);
        let bins = (max_us / BIN_US + 2) as usize;
        let mut hist = vec![0.0; bins];
        let init = (super::micros(cfg.initial_delay) - super::micros(cfg.frame)).clamp(0, max_us);
        hist[Self::bin_of(init.saturating_sub(1), bins)] = 1.0;
        Self {
            reorder_hist: vec![0.0; hist.len()],
            reorder_seen: false,
            reorder_us: 0,
            hist,
            quantile: cfg.quantile,
            forget: cfg.forget_factor,
            packets: PRIOR_PACKETS,
            win: vec![(0, 0); Self::window_cap(super::micros(cfg.frame))],
            win_head: 0,
            win_len: 0,
            quantile_us: init,
            peak_us: 0,
            last_peak_at: 0,
            recent: [0; SUSTAIN],
            recent_pos: 0,
            frame_us: super::micros(cfg.frame),
            min_us,
            max_us,
            discontinuity_us: (2 * max_us).max(1_000_000),
        }
    }

    fn window_cap(frame_us: i64) -> usize {
        let per_window = (WINDOW_US / frame_us.max(1)) as usize;
        (2 * per_window + 8).clamp(32, WINDOW_CAP)
    }

    fn bin_of(rel_us: i64, bins: usize) -> usize {
        ((rel_us.max(0) / BIN_US) as usize).min(bins - 1)
    }

    /// Forgets the fastest-packet reference (after a reset or a timestamp discontinuity);
    /// the histogram, which describes the network path, is kept.
    pub fn reset_window(&mut self) {
        self.win_head = 0;
        self.win_len = 0;
        self.recent_pos = 0;
    }

    /// Smallest transit (arrival − media time) in the window, if any packet is in it.
    pub fn min_transit_us(&self) -> Option<i64> {
        (self.win_len > 0).then(|| self.win[self.win_head].1)
    }

    /// Feeds one packet: `arrival_us` on the receiver clock, `media_us` its timestamp converted
    /// to µs. Returns its relative delay in µs, or `None` if the transit jumped by more than a
    /// plausible network delay (a timestamp discontinuity): the window is then restarted.
    ///
    /// `reordered` tells that the packet came after one with a higher sequence number; those
    /// feed the reorder optimiser, which may wait for them beyond the quantile when that is
    /// cheaper (in delay) than concealing them ([`MS_PER_LOSS_PERCENT`]).
    pub fn update(&mut self, arrival_us: i64, media_us: i64, reordered: bool) -> Option<i64> {
        let transit = arrival_us.saturating_sub(media_us);
        if let Some(min) = self.min_transit_us()
            && (transit.saturating_sub(min)).abs() > self.discontinuity_us
        {
            self.reset_window();
            self.push_window(arrival_us, transit);
            return None;
        }
        self.push_window(arrival_us, transit);
        let rel = transit - self.win[self.win_head].1;
        self.add_to_histogram(rel);
        self.update_reorder(rel, reordered);
        self.detect_peak(arrival_us, rel);
        Some(rel)
    }

    fn push_window(&mut self, arrival_us: i64, transit: i64) {
        let cap = self.win.len();
        while self.win_len > 0 && self.win[self.win_head].0 < arrival_us.saturating_sub(WINDOW_US) {
            self.win_head = (self.win_head + 1) % cap;
            self.win_len -= 1;
        }
        while self.win_len > 0 && self.win[(self.win_head + self.win_len - 1) % cap].1 >= transit {
            self.win_len -= 1;
        }
        if self.win_len == cap {
            self.win_head = (self.win_head + 1) % cap;
            self.win_len -= 1;
        }
        self.win[(self.win_head + self.win_len) % cap] = (arrival_us, transit);
        self.win_len += 1;
    }

    fn add_to_histogram(&mut self, rel_us: i64) {
        // Exact running mean at first, exponential forgetting once enough packets were seen.
        let f = self.forget.min(1.0 - 1.0 / (self.packets as f32 + 1.0));
        self.packets = self.packets.saturating_add(1);
        for b in self.hist.iter_mut() {
            *b *= f;
        }
        let bins = self.hist.len();
        self.hist[Self::bin_of(rel_us, bins)] += 1.0 - f;
        let total: f32 = self.hist.iter().sum();
        let want = self.quantile * total;
        let mut acc = 0.0;
        let mut idx = bins - 1;
        for (i, b) in self.hist.iter().enumerate() {
            acc += b;
            if acc >= want {
                idx = i;
                break;
            }
        }
        self.quantile_us = (idx as i64 + 1) * BIN_US;
    }

    fn update_reorder(&mut self, rel_us: i64, reordered: bool) {
        self.reorder_seen |= reordered;
        if !self.reorder_seen {
            return;
        }
        let f = self.forget;
        for b in self.reorder_hist.iter_mut() {
            *b *= f;
        }
        if reordered {
            let bins = self.reorder_hist.len();
            self.reorder_hist[Self::bin_of(rel_us, bins)] += 1.0 - f;
        }
        // Choose the delay d minimising d + cost × P(reordered packet later than d).
        let mut late: f32 = self.reorder_hist.iter().sum();
        let mut best = (0.0f32 + MS_PER_LOSS_PERCENT * 100.0 * late, 0usize);
        for (i, b) in self.reorder_hist.iter().enumerate() {
            late -= b;
            let d_ms = ((i as i64 + 1) * BIN_US) as f32 / 1000.0;
            let cost = d_ms + MS_PER_LOSS_PERCENT * 100.0 * late.max(0.0);
            if cost < best.0 {
                best = (cost, i + 1);
            }
        }
        self.reorder_us = best.1 as i64 * BIN_US;
    }

    /// Delay chosen by the reorder optimiser, in µs (0 without reordering).
    pub fn reorder_us(&self) -> i64 {
        self.reorder_us
    }

    fn detect_peak(&mut self, now_us: i64, rel_us: i64) {
        self.recent[self.recent_pos % SUSTAIN] = rel_us;
        self.recent_pos = self.recent_pos.wrapping_add(1);
        if self.recent_pos < SUSTAIN {
            return;
        }
        // A delay every one of the last few packets had: a real shift, not one outlier.
        let sustained = self.recent.iter().copied().min().unwrap_or(0);
        if sustained > self.quantile_us + PEAK_MARGIN_US {
            self.peak_us = self.decayed_peak(now_us).max(sustained.min(self.max_us));
            self.last_peak_at = now_us;
        }
    }

    fn decayed_peak(&self, now_us: i64) -> i64 {
        let since = now_us.saturating_sub(self.last_peak_at) - PEAK_HOLD_US;
        if since <= 0 {
            return self.peak_us;
        }
        let decay = since.saturating_mul(PEAK_DECAY_US_PER_S) / 1_000_000;
        self.peak_us.saturating_sub(decay).max(0)
    }

    /// The quantile of the histogram alone, in µs (upper edge of its bin).
    pub fn quantile_us(&self) -> i64 {
        self.quantile_us
    }

    /// Current peak level (0 when no peak is active), in µs.
    pub fn peak_us(&self, now_us: i64) -> i64 {
        self.decayed_peak(now_us)
    }

    /// The target delay at `now_us`: max(quantile, reorder optimiser, decaying peak) plus one frame (a packet is
    /// decoded whole, so the next one is needed up to a frame before its first sample plays),
    /// clamped to the configured range.
    pub fn target_us(&self, now_us: i64) -> i64 {
        let base = self.quantile_us.max(self.reorder_us).max(self.decayed_peak(now_us));
        (base + self.frame_us).clamp(self.min_us, self.max_us)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The reorder optimiser as it ran before `reorder_seen`: forgetting and the full search
    /// on every packet.
    fn reference_reorder(hist: &mut [f32], f: f32, rel_us: i64, reordered: bool) -> i64 {
        for b in hist.iter_mut() {
            *b *= f;
        }
        if reordered {
            let bins = hist.len();
            hist[DelayEstimator::bin_of(rel_us, bins)] += 1.0 - f;
        }
        let mut late: f32 = hist.iter().sum();
        let mut best = (MS_PER_LOSS_PERCENT * 100.0 * late, 0usize);
        for (i, b) in hist.iter().enumerate() {
            late -= b;
            let d_ms = ((i as i64 + 1) * BIN_US) as f32 / 1000.0;
            let cost = d_ms + MS_PER_LOSS_PERCENT * 100.0 * late.max(0.0);
            if cost < best.0 {
                best = (cost, i + 1);
            }
        }
        best.1 as i64 * BIN_US
    }

    #[test]
    fn skipping_the_empty_reorder_histogram_changes_no_result() {
        let cfg = JitterConfig::default();
        let mut est = DelayEstimator::new(&cfg);
        let mut hist = vec![0.0f32; est.reorder_hist.len()];
        let mut seed = 7u32;
        let mut seen = false;
        // 3,000 in-order packets with jitter, then reordering now and then.
        for k in 0..6_000i64 {
            seed = seed.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
            let jitter = i64::from(seed >> 24) * 120; // 0..30 ms
            let reordered = k >= 3_000 && seed.is_multiple_of(17);
            let media = k * 20_000;
            let Some(rel) = est.update(media + 40_000 + jitter, media, reordered) else {
                panic!("packet {k} reset the window");
            };
            let want = reference_reorder(&mut hist, cfg.forget_factor, rel, reordered);
            assert_eq!(est.reorder_us(), want, "packet {k}");
            seen |= reordered;
            assert_eq!(est.reorder_seen, seen, "packet {k}");
        }
        assert!(
            est.reorder_seen && est.reorder_us() > 0,
            "reordering was seen and waited for"
        );
        assert_eq!(est.reorder_hist, hist, "same histogram bits");
    }
}
