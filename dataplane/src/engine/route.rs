//! Which shard owns a call: a hash of the Call-ID. Outbound Call-IDs are minted so that they hash
//! to the shard that places the call.

/// FNV-1a over the Call-ID bytes (stable across processes and versions: a Kamailio dispatcher or a
/// restarted node computes the same owner).
pub fn call_id_hash(call_id: &[u8]) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for &b in call_id {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

/// The shard that owns `call_id` among `shards`.
pub fn owner(call_id: &[u8], shards: usize) -> usize {
    (call_id_hash(call_id) % shards.max(1) as u64) as usize
}

/// A Call-ID `<token>@<host>` that [`owner`] maps to `shard`. `next_random` supplies entropy;
/// on average `shards` draws are needed.
pub fn mint_call_id(shard: usize, shards: usize, host: &str, mut next_random: impl FnMut() -> u64) -> String {
    loop {
        let id = format!("{:016x}{:08x}@{host}", next_random(), next_random() as u32);
        if owner(id.as_bytes(), shards) == shard {
            return id;
        }
    }
}

/// Small xorshift generator for tokens (not for secrets).
#[derive(Debug, Clone)]
pub struct TokenRng(u64);

impl TokenRng {
    /// Seeded from the clock, the thread and a salt.
    pub fn new(salt: u64) -> TokenRng {
        let t = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos() as u64)
            .unwrap_or(0);
        TokenRng((t ^ salt.rotate_left(17) ^ u64::from(std::process::id()) << 32) | 1)
    }

    /// Next value.
    pub fn next_u64(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn minted_ids_hash_to_their_shard() {
        let mut rng = TokenRng::new(7);
        for shard in 0..4 {
            let id = mint_call_id(shard, 4, "127.0.0.1", || rng.next_u64());
            assert_eq!(owner(id.as_bytes(), 4), shard);
            assert!(id.ends_with("@127.0.0.1"));
        }
    }

    #[test]
    fn owner_is_spread() {
        let mut counts = [0usize; 4];
        for i in 0..4000 {
            counts[owner(format!("call-{i}@x").as_bytes(), 4)] += 1;
        }
        assert!(counts.iter().all(|&c| c > 800), "{counts:?}");
    }
}
