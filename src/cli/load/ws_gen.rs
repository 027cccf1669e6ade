//! `--ws URL`: N WebSocket media streams (Twilio Media Streams JSON) instead of SIP calls. Each
//! generator thread runs a current-thread runtime with one task per stream: connect (the setup
//! latency), `connected` + `start`, a `media` message of G.711 speech every 20 ms, the bot's
//! `media` messages timed on arrival (its `mark`s echoed), then `stop` after the hold.

use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::Context;
use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use futures_util::{SinkExt, StreamExt};
use tokio_tungstenite::tungstenite::Message;

use super::clip::Clip;
use super::stats::{GenStats, RxTrack};
use super::{RunResult, RunSpec, finish, measure_window, procfs};

/// Runs `spec.calls` streams against `url` and measures.
pub fn run_ws(spec: &RunSpec, url: &str, pid: Option<u32>) -> anyhow::Result<RunResult> {
    let clip = Clip::speech();
    let frames: Arc<Vec<String>> = Arc::new((0..clip.frames()).map(|i| B64.encode(clip.frame(i))).collect());
    let rss0 = pid.and_then(procfs::rss_kb);
    let start = Instant::now() + Duration::from_millis(300);
    let mut handles = Vec::new();
    for t in 0..spec.threads {
        let (frames, url, spec2) = (frames.clone(), url.to_owned(), spec.clone());
        let core = (!spec.gen_cores.is_empty()).then(|| spec.gen_cores[t % spec.gen_cores.len()]);
        let nice = spec.nice;
        handles.push(
            std::thread::Builder::new()
                .name(format!("cxb-load-ws-{t}"))
                .spawn(move || -> std::io::Result<GenStats> {
                    if let Some(c) = core {
                        core_affinity::set_for_current(core_affinity::CoreId { id: c });
                    }
                    super::spawn::renice_this_thread(nice);
                    let rt = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
                    let local = tokio::task::LocalSet::new();
                    Ok(local.block_on(&rt, thread_main(t, spec2, url, frames, start)))
                })
                .context("cannot start a generator thread")?,
        );
    }
    let window = measure_window(start, spec, pid, None);
    let mut stats = GenStats::default();
    for h in handles {
        let s = h
            .join()
            .map_err(|_| anyhow::anyhow!("a generator thread panicked"))?
            .context("generator thread")?;
        stats.merge(&s);
    }
    let mut r = finish(stats, window, rss0, spec);
    r.clip_source = clip.source;
    Ok(r)
}

async fn thread_main(t: usize, spec: RunSpec, url: String, frames: Arc<Vec<String>>, start: Instant) -> GenStats {
    let mut tasks = Vec::new();
    let mut k = t;
    while k < spec.calls as usize {
        let at = start + Duration::from_secs_f64(k as f64 / spec.rate);
        tasks.push(tokio::task::spawn_local(stream(
            k,
            at,
            start,
            spec.hold,
            super::steady_offsets(start, &spec),
            url.clone(),
            frames.clone(),
        )));
        k += spec.threads;
    }
    let mut total = GenStats::default();
    for task in tasks {
        if let Ok(s) = task.await {
            total.merge(&s);
        }
    }
    total
}

/// One stream; its own counters.
async fn stream(
    k: usize,
    at: Instant,
    t0: Instant,
    hold: Duration,
    steady: (Duration, Duration),
    url: String,
    frames: Arc<Vec<String>>,
) -> GenStats {
    let mut st = GenStats {
        attempted: 1,
        ..Default::default()
    };
    tokio::time::sleep_until(at.into()).await;
    let began = Instant::now();
    let mut ws = match tokio_tungstenite::connect_async(url.as_str()).await {
        Ok((ws, _)) => ws,
        Err(tokio_tungstenite::tungstenite::Error::Http(resp)) if resp.status().as_u16() == 503 => {
            st.refused_503 = 1;
            return st;
        }
        Err(_) => {
            st.failed = 1;
            return st;
        }
    };
    let sid = format!("MZload{k:028}");
    let connected = r#"{"event":"connected","protocol":"Call","version":"1.0.0"}"#;
    let start = format!(
        r#"{{"event":"start","sequenceNumber":"1","streamSid":"{sid}","start":{{"streamSid":"{sid}","accountSid":"AC0","callSid":"CAload{k}","tracks":["inbound"],"mediaFormat":{{"encoding":"audio/x-mulaw","sampleRate":8000,"channels":1}}}}}}"#
    );
    if ws.send(Message::text(connected)).await.is_err() || ws.send(Message::text(start)).await.is_err() {
        st.failed = 1;
        return st;
    }
    let answered = Instant::now();
    st.answered = 1;
    st.setup_us.push(answered.duration_since(began).as_micros() as u32);
    let mut rx = RxTrack::default();
    let mut seq = 2u64;
    let mut frame = k * 37;
    let mut iv = tokio::time::interval(Duration::from_millis(20));
    iv.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let end = answered + hold;
    let mut rx_seq = 0u16;
    loop {
        tokio::select! {
            _ = iv.tick() => {
                if Instant::now() >= end {
                    break;
                }
                let msg = format!(
                    r#"{{"event":"media","sequenceNumber":"{seq}","streamSid":"{sid}","media":{{"track":"inbound","chunk":"{c}","timestamp":"{ts}","payload":"{p}"}}}}"#,
                    c = seq - 1,
                    ts = (seq - 2) * 20,
                    p = frames[frame % frames.len()]
                );
                seq += 1;
                frame += 1;
                match ws.send(Message::text(msg)).await {
                    Ok(()) => st.sent += 1,
                    Err(_) => { st.dropped = 1; break; }
                }
            }
            m = ws.next() => match m {
                Some(Ok(Message::Text(text))) => {
                    let now = Instant::now();
                    if text.contains(r#""event":"media""#) {
                        if !rx.started {
                            st.first_audio_us.push(now.duration_since(answered).as_micros() as u32);
                        }
                        let at = now.saturating_duration_since(t0);
                        if let Some((dev, late)) = rx.on_packet(rx_seq, at) {
                            st.record_jitter(dev, late, at >= steady.0 && at < steady.1);
                        }
                        rx_seq = rx_seq.wrapping_add(1);
                    } else if text.contains(r#""event":"mark""#) {
                        // Echo the mark's own name (the dataplane names them `greeting`, `bot-1`, …).
                        let name = serde_json::from_str::<serde_json::Value>(text.as_str())
                            .ok()
                            .and_then(|v| v["mark"]["name"].as_str().map(str::to_owned))
                            .unwrap_or_default();
                        let echo = serde_json::json!({
                            "event": "mark", "sequenceNumber": seq.to_string(), "streamSid": sid,
                            "mark": {"name": name},
                        })
                        .to_string();
                        seq += 1;
                        let _ = ws.send(Message::text(echo)).await;
                    }
                }
                Some(Ok(_)) => {}
                _ => { st.dropped = 1; break; }
            },
        }
    }
    let stop =
        format!(r#"{{"event":"stop","sequenceNumber":"{seq}","streamSid":"{sid}","stop":{{"callSid":"CAload{k}"}}}}"#);
    let _ = ws.send(Message::text(stop)).await;
    let _ = ws.close(None).await;
    st.expected = rx.expected();
    st.received = rx.received;
    st.silent_calls = u64::from(!rx.started);
    st
}
