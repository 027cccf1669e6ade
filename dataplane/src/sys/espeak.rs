//! libespeak-ng 1.51 in synchronous mode behind a safe [`Espeak`].
//!
//! espeak-ng keeps global state, so the process holds at most one [`Espeak`], created and used
//! on a single thread (it is neither `Send` nor `Sync`).

use std::cell::Cell;
use std::ffi::{CString, c_char, c_int, c_uint, c_void};
use std::marker::PhantomData;
use std::ptr::{self, NonNull};
use std::sync::atomic::{AtomicBool, Ordering};

const ENOUTPUT_MODE_SYNCHRONOUS: c_int = 0x0001;
const ESPEAK_RATE: c_int = 1;
const POS_CHARACTER: c_int = 1;
const ESPEAK_CHARS_UTF8: c_uint = 1;
const ESPEAK_ENDPAUSE: c_uint = 0x1000;
const ENS_OK: u32 = 0;

type SynthCallback = unsafe extern "C" fn(wav: *mut i16, numsamples: c_int, events: *mut c_void) -> c_int;

unsafe extern "C" {
    fn espeak_ng_InitializePath(path: *const c_char);
    fn espeak_ng_Initialize(context: *mut *mut c_void) -> u32;
    fn espeak_ng_ClearErrorContext(context: *mut *mut c_void);
    fn espeak_ng_InitializeOutput(mode: c_int, buffer_length: c_int, device: *const c_char) -> u32;
    fn espeak_ng_GetSampleRate() -> c_int;
    fn espeak_ng_SetParameter(parameter: c_int, value: c_int, relative: c_int) -> u32;
    fn espeak_ng_SetVoiceByName(name: *const c_char) -> u32;
    fn espeak_ng_Synthesize(
        text: *const c_void,
        size: usize,
        position: c_uint,
        position_type: c_int,
        end_position: c_uint,
        flags: c_uint,
        unique_identifier: *mut c_uint,
        user_data: *mut c_void,
    ) -> u32;
    fn espeak_ng_GetStatusCodeMessage(status: u32, buffer: *mut c_char, length: usize);
    fn espeak_SetSynthCallback(cb: Option<SynthCallback>);
}

/// Why an espeak-ng call failed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EspeakError {
    /// Another [`Espeak`] exists in this process (espeak-ng has global state).
    #[error("espeak-ng is already initialised in this process")]
    AlreadyInitialized,
    /// A library call failed; `message` is espeak-ng's own description.
    #[error("espeak-ng {call} failed: {message} (run scripts/bootstrap to install espeak-ng-data)")]
    Status {
        /// Which function.
        call: &'static str,
        /// espeak-ng's message for the status code.
        message: String,
    },
    /// The voice name contained a NUL byte.
    #[error("voice name contains a NUL byte")]
    Nul,
}

fn status_message(status: u32) -> String {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is writable for its whole length, which we pass; espeak-ng writes a
    // NUL-terminated string into it.
    unsafe { espeak_ng_GetStatusCodeMessage(status, buf.as_mut_ptr().cast(), buf.len()) };
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    String::from_utf8_lossy(&buf[..end]).into_owned()
}

fn check(call: &'static str, status: u32) -> Result<(), EspeakError> {
    if status == ENS_OK {
        Ok(())
    } else {
        Err(EspeakError::Status {
            call,
            message: status_message(status),
        })
    }
}

static INITIALIZED: AtomicBool = AtomicBool::new(false);

type Sink = dyn FnMut(&[i16]) -> bool;

thread_local! {
    /// The audio sink of the synthesis running on this thread (set only during [`Espeak::synthesize`]).
    static SINK: Cell<Option<NonNull<Sink>>> = const { Cell::new(None) };
}

unsafe extern "C" fn on_audio(wav: *mut i16, numsamples: c_int, _events: *mut c_void) -> c_int {
    let Some(mut sink) = SINK.get() else { return 1 };
    if wav.is_null() || numsamples <= 0 {
        return 0;
    }
    // SAFETY: espeak-ng passes a buffer of `numsamples` samples valid for this call.
    let pcm = unsafe { std::slice::from_raw_parts(wav, numsamples as usize) };
    // SAFETY: `SINK` is set only for the duration of `Espeak::synthesize` on this thread, which
    // holds the unique `&mut` borrow it was made from; espeak-ng calls back synchronously on
    // the same thread, so the pointer is live and not aliased.
    let keep_going = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| unsafe { sink.as_mut() }(pcm)));
    if keep_going.unwrap_or(false) { 0 } else { 1 }
}

/// The process's espeak-ng synthesiser.
#[derive(Debug)]
pub struct Espeak {
    sample_rate: u32,
    voice: String,
    _not_send: PhantomData<*mut ()>,
}

impl Espeak {
    /// Initialises espeak-ng (default data path) for synchronous synthesis into a callback,
    /// delivering audio in chunks of about `chunk_ms`.
    pub fn new(chunk_ms: u32) -> Result<Espeak, EspeakError> {
        if INITIALIZED.swap(true, Ordering::SeqCst) {
            return Err(EspeakError::AlreadyInitialized);
        }
        let mut context: *mut c_void = ptr::null_mut();
        // SAFETY: NULL selects the default data path; `context` is a valid out pointer, and
        // whatever espeak-ng stored in it is released right after.
        let status = unsafe {
            espeak_ng_InitializePath(ptr::null());
            let s = espeak_ng_Initialize(&mut context);
            espeak_ng_ClearErrorContext(&mut context);
            s
        };
        if let Err(e) = check("espeak_ng_Initialize", status) {
            INITIALIZED.store(false, Ordering::SeqCst);
            return Err(e);
        }
        // SAFETY: the library is initialised; NULL device: no audio device in synchronous mode.
        check("espeak_ng_InitializeOutput", unsafe {
            espeak_ng_InitializeOutput(ENOUTPUT_MODE_SYNCHRONOUS, chunk_ms as c_int, ptr::null())
        })?;
        // SAFETY: `on_audio` has the callback's C signature and never unwinds.
        unsafe { espeak_SetSynthCallback(Some(on_audio)) };
        // SAFETY: initialised library, plain getter.
        let sample_rate = unsafe { espeak_ng_GetSampleRate() }.max(0) as u32;
        let mut e = Espeak {
            sample_rate,
            voice: String::new(),
            _not_send: PhantomData,
        };
        e.set_voice("en-us")?;
        Ok(e)
    }

    /// Output sample rate (22050 Hz for espeak-ng's voices).
    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Selects a voice by name (`en-us`, `en-gb`, `en-us+f3`); a no-op when already selected.
    pub fn set_voice(&mut self, name: &str) -> Result<(), EspeakError> {
        if self.voice == name {
            return Ok(());
        }
        let n = CString::new(name).map_err(|_| EspeakError::Nul)?;
        // SAFETY: initialised library, valid C string (copied).
        check("espeak_ng_SetVoiceByName", unsafe {
            espeak_ng_SetVoiceByName(n.as_ptr())
        })?;
        self.voice = name.to_owned();
        Ok(())
    }

    /// Sets the speaking rate in words per minute (80 to 450).
    pub fn set_rate(&mut self, wpm: u32) -> Result<(), EspeakError> {
        // SAFETY: initialised library; an integer parameter.
        check("espeak_ng_SetParameter", unsafe {
            espeak_ng_SetParameter(ESPEAK_RATE, wpm.clamp(80, 450) as c_int, 0)
        })
    }

    /// Speaks `text`, handing the audio to `sink` chunk by chunk as it is produced; `sink`
    /// returns `false` to stop early. Returns when synthesis is done.
    pub fn synthesize(&mut self, text: &str, sink: &mut dyn FnMut(&[i16]) -> bool) -> Result<(), EspeakError> {
        let Ok(text) = CString::new(text.replace('\0', " ")) else {
            return Err(EspeakError::Nul);
        };
        let bytes = text.as_bytes_with_nul();
        let raw: *mut (dyn FnMut(&[i16]) -> bool + '_) = sink;
        // SAFETY: only the lifetime is erased; the pointer is removed from `SINK` below, before
        // `sink`'s borrow ends, and is used only by `on_audio` during the call in between.
        let raw: *mut Sink = unsafe { std::mem::transmute(raw) };
        SINK.set(NonNull::new(raw));
        // SAFETY: `text` is valid UTF-8 NUL-terminated for `bytes.len()` bytes; synchronous mode
        // runs the whole synthesis (and all callbacks) before returning.
        let status = unsafe {
            espeak_ng_Synthesize(
                bytes.as_ptr().cast(),
                bytes.len(),
                0,
                POS_CHARACTER,
                0,
                ESPEAK_CHARS_UTF8 | ESPEAK_ENDPAUSE,
                ptr::null_mut(),
                ptr::null_mut(),
            )
        };
        SINK.set(None);
        check("espeak_ng_Synthesize", status)
    }
}
