//! Voice activity detection for telephone and wideband audio, in house (no ONNX/torch).
//!
//! * [`Vad`]: per 10 ms frame (80 samples at 8 kHz, 160 at 16 kHz) a speech probability in
//!   [0, 1]. Hand-made features ([`features`]: band SNRs over a minimum-statistics noise floor,
//!   harmonicity, flatness, flux, tone peakiness, 200 ms modulation, temporal context) feed a tiny
//!   MLP ([`model`]) whose weights were trained offline on synthetic telephone speech
//!   (`scripts/vad-train`). 16 kHz input is band-limited to 0–4 kHz and decimated, so both rates
//!   share one code path and one model. The probability of a frame comes out
//!   [`LOOKAHEAD_FRAMES`] frames later (20 ms of look-ahead).
//! * [`VadDetector`]: the stateful wrapper applying a bot's VAD settings (confidence,
//!   start/stop times, minimum volume) and emitting [`VadEvent`]s at exact sample positions.

pub mod detector;
pub mod features;
pub mod model;
mod weights;

pub use detector::{Segmenter, VadConfig, VadDetector, VadEvent};

use crate::simd::Isa;
use features::{Decimator2, FRAME, Features, NINPUT};
use model::Mlp;

/// Frames between a frame going in and its probability coming out.
pub const LOOKAHEAD_FRAMES: usize = features::LOOKAHEAD;

/// Errors of the VAD module.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum VadError {
    /// The VAD runs at 8000 or 16000 Hz only.
    #[error("unsupported sample rate {rate} Hz; the VAD takes 8000 or 16000 Hz")]
    UnsupportedRate {
        /// The rate asked for.
        rate: u32,
    },
    /// A frame passed to [`Vad::process_frame`] had the wrong length.
    #[error("VAD frame of {got} samples; expected {expected}")]
    FrameLength {
        /// Samples per frame at this rate.
        expected: usize,
        /// Samples given.
        got: usize,
    },
    /// A [`VadConfig`] field is out of range.
    #[error("VAD setting {field} = {value} is out of range ({range})")]
    InvalidConfig {
        /// Name of the field.
        field: &'static str,
        /// The rejected value.
        value: f32,
        /// The accepted range, for the message.
        range: &'static str,
    },
}

/// Frame-level speech probability estimator (sans-IO, no allocation per frame).
#[derive(Debug)]
pub struct Vad {
    rate: u32,
    frame_len: usize,
    features: Features,
    model: Mlp,
    decimator: Option<Decimator2>,
    frame8: [f32; FRAME],
}

impl Vad {
    /// A VAD for `rate` Hz (8000 or 16000) with the best kernels for this CPU.
    pub fn new(rate: u32) -> Result<Self, VadError> {
        Self::with_isa(rate, Isa::detect())
    }

    /// A VAD for `rate` Hz using the kernels of `isa` ([`Isa::Scalar`] is the reference).
    pub fn with_isa(rate: u32, isa: Isa) -> Result<Self, VadError> {
        let (frame_len, decimator) = match rate {
            8000 => (FRAME, None),
            16000 => (2 * FRAME, Some(Decimator2::new(isa, 2 * FRAME))),
            _ => return Err(VadError::UnsupportedRate { rate }),
        };
        Ok(Vad {
            rate,
            frame_len,
            features: Features::new(isa),
            model: Mlp::new(isa),
            decimator,
            frame8: [0.0; FRAME],
        })
    }

    /// Sample rate in Hz.
    pub fn sample_rate(&self) -> u32 {
        self.rate
    }

    /// Samples per 10 ms frame at this rate.
    pub fn frame_len(&self) -> usize {
        self.frame_len
    }

    /// Frames pushed so far.
    pub fn frames(&self) -> u64 {
        self.features.frames()
    }

    /// Feeds one 10 ms frame. Returns the speech probability of frame
    /// `frames() - 1 - LOOKAHEAD_FRAMES` (counting from 0), or `None` while the look-ahead fills.
    pub fn process_frame(&mut self, frame: &[i16]) -> Result<Option<f32>, VadError> {
        if frame.len() != self.frame_len {
            return Err(VadError::FrameLength {
                expected: self.frame_len,
                got: frame.len(),
            });
        }
        match &mut self.decimator {
            Some(d) => d.process_i16(frame, &mut self.frame8),
            None => {
                for (o, &s) in self.frame8.iter_mut().zip(frame) {
                    *o = f32::from(s) * (1.0 / 32768.0);
                }
            }
        }
        self.features.push(&self.frame8);
        if self.features.frames() <= LOOKAHEAD_FRAMES as u64 {
            return Ok(None);
        }
        Ok(Some(self.model.probability(self.features.input())))
    }

    /// The model input vector of the last probability returned (what the training tool reads).
    pub fn model_input(&self) -> &[f32; NINPUT] {
        self.features.input()
    }

    /// Back to the state of a fresh VAD (new call).
    pub fn reset(&mut self) {
        self.features.reset();
        self.model.reset();
        if let Some(d) = &mut self.decimator {
            d.reset();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rejects_bad_rates_and_frames() {
        assert_eq!(Vad::new(44100).unwrap_err(), VadError::UnsupportedRate { rate: 44100 });
        let mut v = Vad::new(8000).unwrap();
        assert_eq!(
            v.process_frame(&[0; 81]).unwrap_err(),
            VadError::FrameLength { expected: 80, got: 81 }
        );
    }

    #[test]
    fn probabilities_are_in_range_and_delayed_by_lookahead() {
        for rate in [8000, 16000] {
            let mut v = Vad::new(rate).unwrap();
            let n = v.frame_len();
            let mut s = 1u32;
            for i in 0..300 {
                let frame: Vec<i16> = (0..n)
                    .map(|_| {
                        s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                        if i % 50 < 25 { (s >> 16) as i16 } else { 0 }
                    })
                    .collect();
                let p = v.process_frame(&frame).unwrap();
                if i < LOOKAHEAD_FRAMES {
                    assert!(p.is_none());
                } else {
                    let p = p.unwrap();
                    assert!((0.0..=1.0).contains(&p), "{p}");
                }
            }
        }
    }

    #[test]
    fn scalar_and_selected_isa_give_the_same_probabilities() {
        let mut a = Vad::with_isa(8000, Isa::Scalar).unwrap();
        let mut b = Vad::new(8000).unwrap();
        let mut s = 99u32;
        for i in 0..400 {
            let frame: Vec<i16> = (0..80)
                .map(|k| {
                    s = s.wrapping_mul(1_664_525).wrapping_add(1_013_904_223);
                    let tone = ((i * 80 + k) as f32 * 0.1).sin() * 3000.0;
                    (tone + ((s >> 20) as f32 - 2048.0)) as i16
                })
                .collect();
            match (a.process_frame(&frame).unwrap(), b.process_frame(&frame).unwrap()) {
                (Some(x), Some(y)) => assert!((x - y).abs() < 1e-3, "frame {i}: {x} vs {y}"),
                (None, None) => {}
                other => panic!("{other:?}"),
            }
        }
    }
}
