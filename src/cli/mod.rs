//! One file per subcommand; each has an `Args` (clap) and a `run`.

pub mod call;
pub mod control;
pub mod dataplane;
pub mod dsp_amd;
pub mod dsp_jitter;
pub mod dsp_resample;
pub mod dsp_vad;
pub mod fd_limit;
pub mod load;
pub mod replay;
pub mod sip_parse;
pub mod up;
