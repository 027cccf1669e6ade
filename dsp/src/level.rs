//! Signal level of a block of samples.

/// RMS level of `pcm` in dBFS (a full-scale square wave is 0 dBFS, a full-scale sine −3);
/// −120 for digital silence or an empty block.
pub fn dbfs(pcm: &[i16]) -> f32 {
    if pcm.is_empty() {
        return -120.0;
    }
    let sum: f64 = pcm.iter().map(|&s| f64::from(s) * f64::from(s)).sum();
    let rms = (sum / pcm.len() as f64).sqrt() / 32768.0;
    if rms <= 1e-6 {
        -120.0
    } else {
        (20.0 * rms.log10()) as f32
    }
}

#[cfg(test)]
mod tests {
    use super::dbfs;

    #[test]
    fn levels() {
        assert_eq!(dbfs(&[]), -120.0);
        assert_eq!(dbfs(&[0; 320]), -120.0);
        assert!(dbfs(&[32767; 320]).abs() < 0.01);
        let sine: Vec<i16> = (0..1600).map(|i| (32767.0 * (i as f64 * 0.05).sin()) as i16).collect();
        assert!((dbfs(&sine) + 3.01).abs() < 0.1);
    }
}
