//! DTMF dual-tone generator.

use std::f64::consts::TAU;

use super::{DtmfDigit, DtmfError};

/// Level, twist and timing of generated digits.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ToneShape {
    /// Level of the low-group tone, in dB relative to a full-scale sine (e.g. -10.0).
    pub level_dbfs: f32,
    /// High-group level minus low-group level, in dB (telephone sets send about +2 dB).
    pub twist_db: f32,
    /// Tone duration in ms.
    pub tone_ms: u32,
    /// Silence after the tone, in ms.
    pub pause_ms: u32,
}

impl Default for ToneShape {
    fn default() -> Self {
        ToneShape {
            level_dbfs: -10.0,
            twist_db: 0.0,
            tone_ms: 100,
            pause_ms: 100,
        }
    }
}

/// Generates one DTMF digit at a time: [`DtmfGenerator::play`], then [`DtmfGenerator::fill`]
/// buffers until it returns 0. Allocation-free.
#[derive(Debug, Clone)]
pub struct DtmfGenerator {
    rate: u32,
    shape: ToneShape,
    /// Phase increments (radians per sample) and amplitudes of the two tones.
    w: [f64; 2],
    amp: [f64; 2],
    /// Samples generated of the current digit.
    n: u64,
    tone_len: u64,
    total_len: u64,
}

impl DtmfGenerator {
    /// A generator at `sample_rate` (4000..=192000 Hz) with this shape.
    pub fn new(sample_rate: u32, shape: ToneShape) -> Result<Self, DtmfError> {
        if !(4000..=192_000).contains(&sample_rate) {
            return Err(DtmfError::UnsupportedRate {
                rate: sample_rate,
                min: 4000,
                max: 192_000,
            });
        }
        Ok(DtmfGenerator {
            rate: sample_rate,
            shape,
            w: [0.0; 2],
            amp: [0.0; 2],
            n: 0,
            tone_len: 0,
            total_len: 0,
        })
    }

    /// Changes the shape for the next digits.
    pub fn set_shape(&mut self, shape: ToneShape) {
        self.shape = shape;
    }

    /// Starts `digit` (replacing any digit in progress).
    pub fn play(&mut self, digit: DtmfDigit) {
        let (lo, hi) = digit.freqs();
        let rate = f64::from(self.rate);
        self.w = [TAU * f64::from(lo) / rate, TAU * f64::from(hi) / rate];
        let a = 32767.0 * 10f64.powf(f64::from(self.shape.level_dbfs) / 20.0);
        self.amp = [a, a * 10f64.powf(f64::from(self.shape.twist_db) / 20.0)];
        self.n = 0;
        self.tone_len = u64::from(self.shape.tone_ms) * u64::from(self.rate) / 1000;
        self.total_len = self.tone_len + u64::from(self.shape.pause_ms) * u64::from(self.rate) / 1000;
    }

    /// Samples left of the current digit (tone and pause).
    pub fn remaining(&self) -> u64 {
        self.total_len - self.n
    }

    /// Writes the next samples of the current digit (tone, then pause) into `out`, saturating
    /// at full scale. Returns the count written: less than `out.len()` only at the end of
    /// the digit, 0 once it is done.
    pub fn fill(&mut self, out: &mut [i16]) -> usize {
        let k = (out.len() as u64).min(self.remaining()) as usize;
        for o in &mut out[..k] {
            *o = if self.n < self.tone_len {
                let t = self.n as f64;
                let v = self.amp[0] * (self.w[0] * t).sin() + self.amp[1] * (self.w[1] * t).sin();
                v.round().clamp(-32768.0, 32767.0) as i16
            } else {
                0
            };
            self.n += 1;
        }
        k
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lengths_and_levels() {
        let shape = ToneShape {
            level_dbfs: -6.0,
            twist_db: 0.0,
            tone_ms: 50,
            pause_ms: 30,
        };
        let mut g = DtmfGenerator::new(8000, shape).unwrap();
        g.play(DtmfDigit::D1);
        let mut buf = [0i16; 1000];
        assert_eq!(g.fill(&mut buf), 640);
        assert_eq!(g.fill(&mut buf), 0);
        let peak = buf[..400].iter().map(|v| v.unsigned_abs()).max().unwrap();
        // Two tones of 0.5 full scale each: the peak approaches full scale.
        assert!(peak > 28000, "{peak}");
        assert!(buf[400..640].iter().all(|&v| v == 0));
        assert!(DtmfGenerator::new(100, shape).is_err());
        // Loud tones saturate instead of wrapping.
        let mut g = DtmfGenerator::new(
            16000,
            ToneShape {
                level_dbfs: 0.0,
                ..shape
            },
        )
        .unwrap();
        g.play(DtmfDigit::D);
        assert_eq!(g.fill(&mut buf), 1000);
        assert!(buf.contains(&i16::MAX));
    }
}
