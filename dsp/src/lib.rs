//! `cxb-dsp`: the audio signal processing core of cxb.
//!
//! Sans-IO and allocation-free per frame: every type here is driven by the caller with samples
//! and time values; nothing reads a clock or a socket. Buffers are sized at construction.
//!
//! Each SIMD kernel has a scalar reference implementation that is its definition; the vector
//! versions live in [`simd`] (the only place `unsafe` is allowed in this crate), are selected
//! once at construction and are property-tested against the scalar one.
#![deny(unsafe_code)]

pub mod amd;
pub mod dtmf;
pub mod echo;
pub mod g711;
pub mod g722;
pub mod goertzel;
pub mod jitter;
pub mod level;
pub mod opus;
pub mod plc;
pub mod resample;
pub mod simd;
pub mod tone;
pub mod vad;
