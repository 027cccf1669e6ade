//! Foreign-function interfaces to the C libraries of the embedded voice stack: pocketsphinx
//! (speech to text) and espeak-ng (text to speech). Besides `cxb_dsp::simd`, this is the only
//! place where `unsafe` is allowed; every block says why it is sound. Each module wraps its
//! library in a small safe type that the rest of the crate uses.

pub mod espeak;
pub mod pocketsphinx;
