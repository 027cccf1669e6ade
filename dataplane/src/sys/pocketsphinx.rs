//! pocketsphinx 0.8 / 5prealpha (sphinxbase-era API) behind a safe [`Decoder`].
//!
//! A decoder is not thread-safe: create it on the thread that uses it and keep it there (it is
//! neither `Send` nor `Sync`, which the raw pointer inside makes so).

use std::ffi::{CStr, CString, c_char, c_int, c_void};
use std::path::{Path, PathBuf};
use std::ptr::{self, NonNull};
use std::sync::Once;

#[repr(C)]
struct PsDecoder {
    _opaque: [u8; 0],
}

#[repr(C)]
struct CmdLn {
    _opaque: [u8; 0],
}

#[repr(C)]
struct ArgT {
    _opaque: [u8; 0],
}

unsafe extern "C" {
    fn ps_args() -> *const ArgT;
    fn cmd_ln_parse_r(
        inout: *mut CmdLn,
        defn: *const ArgT,
        argc: i32,
        argv: *mut *mut c_char,
        strict: i32,
    ) -> *mut CmdLn;
    fn cmd_ln_free_r(cmdln: *mut CmdLn) -> c_int;
    fn cmd_ln_set_float_r(cmdln: *mut CmdLn, name: *const c_char, fv: f64);
    fn ps_get_config(ps: *mut PsDecoder) -> *mut CmdLn;
    fn err_set_logfp(stream: *mut c_void);
    fn ps_init(config: *mut CmdLn) -> *mut PsDecoder;
    fn ps_free(ps: *mut PsDecoder) -> c_int;
    fn ps_start_utt(ps: *mut PsDecoder) -> c_int;
    fn ps_process_raw(
        ps: *mut PsDecoder,
        data: *const i16,
        n_samples: usize,
        no_search: c_int,
        full_utt: c_int,
    ) -> c_int;
    fn ps_end_utt(ps: *mut PsDecoder) -> c_int;
    fn ps_get_hyp(ps: *mut PsDecoder, out_best_score: *mut i32) -> *const c_char;
    fn ps_lookup_word(ps: *mut PsDecoder, word: *const c_char) -> *mut c_char;
    fn ckd_free(ptr: *mut c_void);
    fn ps_set_jsgf_string(ps: *mut PsDecoder, name: *const c_char, jsgf: *const c_char) -> c_int;
    fn ps_set_search(ps: *mut PsDecoder, name: *const c_char) -> c_int;
    fn ps_get_search(ps: *mut PsDecoder) -> *const c_char;
    fn ps_unset_search(ps: *mut PsDecoder, name: *const c_char) -> c_int;
}

/// The files of a pocketsphinx acoustic model, language model and dictionary.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelPaths {
    /// Acoustic model directory (`-hmm`).
    pub hmm: PathBuf,
    /// Language model (`-lm`), used when no grammar is set.
    pub lm: PathBuf,
    /// Pronunciation dictionary (`-dict`).
    pub dict: PathBuf,
}

/// Where Debian's `pocketsphinx-en-us` puts the US English model.
pub const DEBIAN_EN_US: &str = "/usr/share/pocketsphinx/model/en-us";

impl ModelPaths {
    /// The US English model as installed by Debian's `pocketsphinx-en-us` (`scripts/bootstrap`).
    pub fn debian_en_us() -> ModelPaths {
        ModelPaths::in_dir(Path::new(DEBIAN_EN_US))
    }

    /// The model files in `dir` laid out as Debian does (`en-us/`, `en-us.lm.bin`,
    /// `cmudict-en-us.dict`).
    pub fn in_dir(dir: &Path) -> ModelPaths {
        ModelPaths {
            hmm: dir.join("en-us"),
            lm: dir.join("en-us.lm.bin"),
            dict: dir.join("cmudict-en-us.dict"),
        }
    }

    /// The first file or directory that does not exist, if any.
    pub fn missing(&self) -> Option<&Path> {
        [&self.hmm, &self.lm, &self.dict]
            .into_iter()
            .find(|p| !p.exists())
            .map(PathBuf::as_path)
    }
}

/// Why a pocketsphinx call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PsError {
    /// A model file is missing.
    #[error("pocketsphinx model file {path} is missing: run scripts/bootstrap (Debian pocketsphinx-en-us)")]
    MissingModel {
        /// The missing path.
        path: PathBuf,
    },
    /// A path or string contained a NUL byte.
    #[error("{what} contains a NUL byte")]
    Nul {
        /// Which argument.
        what: &'static str,
    },
    /// The configuration was rejected.
    #[error("pocketsphinx rejected its configuration")]
    Config,
    /// `ps_init` failed (bad model files).
    #[error("pocketsphinx could not load the model in {hmm}")]
    Init {
        /// The acoustic model directory.
        hmm: PathBuf,
    },
    /// A decoder call returned an error code.
    #[error("pocketsphinx {call} failed with {code}")]
    Call {
        /// Which function.
        call: &'static str,
        /// Its return value.
        code: i32,
    },
}

fn cstring(s: &str, what: &'static str) -> Result<CString, PsError> {
    CString::new(s).map_err(|_| PsError::Nul { what })
}

fn path_cstring(p: &Path, what: &'static str) -> Result<CString, PsError> {
    cstring(&p.to_string_lossy(), what)
}

fn check(call: &'static str, code: c_int) -> Result<(), PsError> {
    if code < 0 {
        Err(PsError::Call { call, code })
    } else {
        Ok(())
    }
}

static QUIET: Once = Once::new();

/// One pocketsphinx decoder (`ps_decoder_t`). Loading the model takes a while (hundreds of
/// milliseconds): create one per worker thread and reuse it.
#[derive(Debug)]
pub struct Decoder {
    ps: NonNull<PsDecoder>,
    default_search: CString,
}

impl Decoder {
    /// Loads the model at 16 kHz with the language model as the default search.
    pub fn new(model: &ModelPaths) -> Result<Decoder, PsError> {
        if let Some(path) = model.missing() {
            return Err(PsError::MissingModel {
                path: path.to_path_buf(),
            });
        }
        QUIET.call_once(|| {
            // SAFETY: a NULL stream disables sphinxbase's logging; called once, before any decoder
            // exists, so no other thread is logging at the same time.
            unsafe { err_set_logfp(ptr::null_mut()) }
        });
        let args = [
            cstring("-hmm", "arg")?,
            path_cstring(&model.hmm, "hmm path")?,
            cstring("-lm", "arg")?,
            path_cstring(&model.lm, "lm path")?,
            cstring("-dict", "arg")?,
            path_cstring(&model.dict, "dict path")?,
            cstring("-samprate", "arg")?,
            cstring("16000", "arg")?,
            // Digital silence (all zeros) otherwise upsets the energy features.
            cstring("-dither", "arg")?,
            cstring("yes", "arg")?,
            cstring("-seed", "arg")?,
            cstring("1", "arg")?,
        ];
        let mut argv: Vec<*mut c_char> = args.iter().map(|a| a.as_ptr().cast_mut()).collect();
        // SAFETY: `argv` holds `argv.len()` valid NUL-terminated strings that outlive the call
        // (sphinxbase copies the values it keeps); `ps_args()` is the static definition table.
        let config = unsafe { cmd_ln_parse_r(ptr::null_mut(), ps_args(), argv.len() as i32, argv.as_mut_ptr(), 1) };
        if config.is_null() {
            return Err(PsError::Config);
        }
        // SAFETY: `config` is a valid configuration; `ps_init` takes its own reference to it.
        let ps = unsafe { ps_init(config) };
        // SAFETY: we release the reference `cmd_ln_parse_r` gave us; the decoder keeps its own.
        unsafe { cmd_ln_free_r(config) };
        let ps = NonNull::new(ps).ok_or_else(|| PsError::Init { hmm: model.hmm.clone() })?;
        // SAFETY: `ps` is a live decoder; the returned name is owned by it and copied at once.
        let name = unsafe { ps_get_search(ps.as_ptr()) };
        let default_search = if name.is_null() {
            c"_default".to_owned()
        } else {
            // SAFETY: non-null, NUL-terminated, valid while the decoder's search table is unchanged.
            unsafe { CStr::from_ptr(name) }.to_owned()
        };
        Ok(Decoder { ps, default_search })
    }

    /// Sets the language weight (`-lw`) and word insertion penalty (`-wip`) of grammar searches
    /// added from now on (the language model keeps the weights it was loaded with).
    pub fn set_grammar_weights(&mut self, lw: f32, wip: f32) {
        // SAFETY: live decoder; its configuration lives as long as it does; the names are
        // static C strings of known float parameters.
        unsafe {
            let config = ps_get_config(self.ps.as_ptr());
            if !config.is_null() {
                cmd_ln_set_float_r(config, c"-lw".as_ptr(), f64::from(lw));
                cmd_ln_set_float_r(config, c"-wip".as_ptr(), f64::from(wip));
            }
        }
    }

    /// Whether the dictionary knows `word` (lower case).
    pub fn knows(&mut self, word: &str) -> bool {
        let Ok(w) = CString::new(word) else { return false };
        // SAFETY: live decoder and a valid C string; the result is a heap string we own.
        let phones = unsafe { ps_lookup_word(self.ps.as_ptr(), w.as_ptr()) };
        if phones.is_null() {
            return false;
        }
        // SAFETY: `phones` was allocated by sphinxbase's allocator and is freed exactly once.
        unsafe { ckd_free(phones.cast()) };
        true
    }

    /// Adds (or replaces) a JSGF grammar search named `name`.
    pub fn set_jsgf(&mut self, name: &str, jsgf: &str) -> Result<(), PsError> {
        let n = cstring(name, "search name")?;
        let g = cstring(jsgf, "grammar")?;
        // SAFETY: live decoder, valid C strings (copied by pocketsphinx).
        check("ps_set_jsgf_string", unsafe {
            ps_set_jsgf_string(self.ps.as_ptr(), n.as_ptr(), g.as_ptr())
        })
    }

    /// Removes a search added with [`Decoder::set_jsgf`].
    pub fn unset_search(&mut self, name: &str) -> Result<(), PsError> {
        let n = cstring(name, "search name")?;
        // SAFETY: live decoder, valid C string.
        check("ps_unset_search", unsafe {
            ps_unset_search(self.ps.as_ptr(), n.as_ptr())
        })
    }

    /// Makes `name` the active search (between utterances).
    pub fn use_search(&mut self, name: &str) -> Result<(), PsError> {
        let n = cstring(name, "search name")?;
        // SAFETY: live decoder, valid C string.
        check("ps_set_search", unsafe { ps_set_search(self.ps.as_ptr(), n.as_ptr()) })
    }

    /// Makes the language model the active search.
    pub fn use_default_search(&mut self) -> Result<(), PsError> {
        // SAFETY: live decoder, valid C string owned by `self`.
        check("ps_set_search", unsafe {
            ps_set_search(self.ps.as_ptr(), self.default_search.as_ptr())
        })
    }

    /// Starts an utterance.
    pub fn start_utt(&mut self) -> Result<(), PsError> {
        // SAFETY: live decoder.
        check("ps_start_utt", unsafe { ps_start_utt(self.ps.as_ptr()) })
    }

    /// Decodes more audio of the current utterance (16 kHz mono).
    pub fn process(&mut self, pcm: &[i16]) -> Result<(), PsError> {
        if pcm.is_empty() {
            return Ok(());
        }
        // SAFETY: live decoder; `pcm` is valid for `pcm.len()` samples and only read.
        check("ps_process_raw", unsafe {
            ps_process_raw(self.ps.as_ptr(), pcm.as_ptr(), pcm.len(), 0, 0)
        })
    }

    /// Ends the utterance (the final hypothesis is then available).
    pub fn end_utt(&mut self) -> Result<(), PsError> {
        // SAFETY: live decoder.
        check("ps_end_utt", unsafe { ps_end_utt(self.ps.as_ptr()) })
    }

    /// The best hypothesis so far (or the final one after [`Decoder::end_utt`]); empty when none.
    pub fn hypothesis(&mut self) -> String {
        let mut score = 0i32;
        // SAFETY: live decoder; `score` is a valid out pointer; the string is owned by the
        // decoder and copied before any other call.
        let hyp = unsafe { ps_get_hyp(self.ps.as_ptr(), &mut score) };
        if hyp.is_null() {
            return String::new();
        }
        // SAFETY: non-null NUL-terminated string owned by the decoder.
        unsafe { CStr::from_ptr(hyp) }.to_string_lossy().into_owned()
    }
}

impl Drop for Decoder {
    fn drop(&mut self) {
        // SAFETY: we own the only reference to the decoder; it is not used after this.
        unsafe { ps_free(self.ps.as_ptr()) };
    }
}
