//! [`SharedPcm`] and the downlink's shared (uncopied) queue.

use std::sync::Arc;

use super::downlink::DOWNLINK_CAPACITY;
use super::tests::tone;
use super::*;

/// Plays `d` until it is drained (and `extra` frames more), returning every line-rate frame.
fn play(d: &mut Downlink, extra: usize) -> Vec<i16> {
    let mut out = vec![0i16; d.frame_len()];
    let mut all = Vec::new();
    while d.queued_samples() > 0 {
        let n = d.next_frame(&mut out);
        all.extend_from_slice(&out[..n]);
    }
    for _ in 0..extra {
        let n = d.next_frame(&mut out);
        all.extend_from_slice(&out[..n]);
    }
    all
}

fn events(d: &mut Downlink) -> Vec<MediaEvent> {
    std::iter::from_fn(|| d.poll_event()).collect()
}

#[test]
fn shared_pcm_slices_share_the_buffer() {
    let buf: Arc<[i16]> = (0..100).collect::<Vec<i16>>().into();
    let all = SharedPcm::from(Arc::clone(&buf));
    assert_eq!(all.len(), 100);
    assert_eq!(Arc::strong_count(&buf), 2);
    let mid = all.slice(10..20);
    assert_eq!(*mid, (10..20).collect::<Vec<i16>>()[..]);
    let inner = mid.slice(2..=3);
    assert_eq!(inner, vec![12, 13]);
    assert!(inner.shares_buffer(&all) && Arc::ptr_eq(inner.buffer(), &buf));
    assert_eq!(inner.as_ptr(), buf[12..].as_ptr(), "points into the buffer");
    assert_eq!(Arc::strong_count(&buf), 4);
    assert!(all.slice(100..).is_empty() && all.slice(..0).is_empty());

    let mut s = all.slice(..);
    s.advance(95);
    assert_eq!(s, vec![95, 96, 97, 98, 99]);
    s.truncate(2);
    assert_eq!(s, vec![95, 96]);
    s.truncate(10);
    s.advance(10);
    assert!(s.is_empty());

    // Equality is by samples; copies do not share.
    let copy = SharedPcm::from(&buf[10..20]);
    assert_eq!(copy, mid);
    assert!(!copy.shares_buffer(&mid));
    assert_eq!(format!("{:?}", SharedPcm::from(vec![1, 2])), "[1, 2]");
    assert!(SharedPcm::default().is_empty());
    drop((all, mid, inner, s));
    assert_eq!(Arc::strong_count(&buf), 1);
}

#[test]
#[should_panic(expected = "out of range")]
fn shared_pcm_slice_out_of_range_panics_like_a_slice() {
    let _ = SharedPcm::from(vec![0i16; 10]).slice(5..11);
}

#[test]
fn two_downlinks_play_slices_of_one_buffer_like_copies() {
    for rate in [8000, 16_000, 48_000] {
        let phrase: Arc<[i16]> = tone(700.0, 16_000, 0, 7_777, 9000.0).into();
        let mut copied = Downlink::new(rate).unwrap();
        let mut a = Downlink::new(rate).unwrap();
        let mut b = Downlink::new(rate).unwrap();
        // Uneven chunks, as a TTS stream hands them out.
        let cuts = [0, 1_000, 1_001, 4_500, 7_777];
        for w in cuts.windows(2) {
            assert_eq!(copied.push_bot_audio(&phrase[w[0]..w[1]]), w[1] - w[0]);
            copied.mark(w[1] as u64);
            for d in [&mut a, &mut b] {
                let s = SharedPcm::from(Arc::clone(&phrase)).slice(w[0]..w[1]);
                assert_eq!(d.push_pcm(s), w[1] - w[0]);
                d.mark(w[1] as u64);
            }
        }
        assert_eq!(a.queued_samples(), 7_777);
        assert_eq!(
            Arc::strong_count(&phrase),
            1 + 2 * (cuts.len() - 1),
            "queued by reference"
        );

        let want = play(&mut copied, 3);
        assert_eq!(play(&mut a, 3), want, "rate {rate}");
        assert_eq!(a.last_frame_16k(), copied.last_frame_16k());
        assert_eq!(events(&mut a), events(&mut copied));
        assert_eq!(
            Arc::strong_count(&phrase),
            1 + (cuts.len() - 1),
            "a's slices dropped once played"
        );
        assert_eq!(play(&mut b, 3), want, "rate {rate}");
        assert_eq!(Arc::strong_count(&phrase), 1);
    }
}

#[test]
fn push_pcm_cuts_what_does_not_fit_and_keeps_sharing() {
    let mut d = Downlink::new(16_000).unwrap();
    let room = FRAME_16K + 100;
    assert_eq!(
        d.push_bot_audio(&vec![1i16; DOWNLINK_CAPACITY - room]),
        DOWNLINK_CAPACITY - room
    );
    let buf: Arc<[i16]> = vec![7i16; 1000].into();
    assert_eq!(
        d.push_pcm(SharedPcm::from(Arc::clone(&buf))),
        room,
        "cut to the room left"
    );
    assert_eq!(d.queued_samples(), DOWNLINK_CAPACITY);
    assert_eq!(Arc::strong_count(&buf), 2, "the cut slice still shares");
    assert_eq!(d.push_pcm(SharedPcm::from(Arc::clone(&buf))), 0, "full");
    assert_eq!(d.push_pcm(SharedPcm::default()), 0);
    assert_eq!(Arc::strong_count(&buf), 2, "nothing held for a rejected push");
    let all = play(&mut d, 0);
    let cut = DOWNLINK_CAPACITY - room;
    assert!(all[..cut].iter().all(|&x| x == 1));
    assert!(all[cut..DOWNLINK_CAPACITY].iter().all(|&x| x == 7));
    assert!(all[DOWNLINK_CAPACITY..].iter().all(|&x| x == 0));
    assert_eq!(Arc::strong_count(&buf), 1);
}

#[test]
fn clear_drops_the_references() {
    let mut d = Downlink::new(8000).unwrap();
    let buf: Arc<[i16]> = tone(440.0, 16_000, 0, 16_000, 10_000.0).into();
    let s = SharedPcm::from(Arc::clone(&buf));
    d.push_pcm(s.slice(..8000));
    d.mark(1);
    d.push_pcm(s.slice(8000..));
    drop(s);
    let mut out = [0i16; 160];
    d.next_frame(&mut out);
    assert_eq!(Arc::strong_count(&buf), 3);
    d.clear();
    assert_eq!(Arc::strong_count(&buf), 1, "clear drops every queued slice");
    assert_eq!(d.queued_samples(), 0);
    d.next_frame(&mut out);
    assert!(out.iter().all(|&x| x == 0));
    assert_eq!(
        events(&mut d),
        vec![
            MediaEvent::BotAudioStarted,
            MediaEvent::MarkPlayed { id: 1 },
            MediaEvent::BotAudioDrained
        ]
    );
}
