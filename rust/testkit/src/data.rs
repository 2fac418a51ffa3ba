//! Deterministic test data.

/// Pseudo-random bytes (xorshift): incompressible like real binaries, but
/// the same on every run, so tests need no RNG.
pub fn noise(len: usize, seed: u64) -> Vec<u8> {
    let mut x = seed | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            (x >> 24) as u8
        })
        .collect()
}

/// A root filesystem image: a quarter incompressible data, a quarter text,
/// the rest zeros. `len` must be a multiple of 4096.
pub fn image(len: usize, seed: u64) -> Vec<u8> {
    assert_eq!(len % 4096, 0, "image length must be a multiple of 4096");
    let mut v = noise(len / 4, seed);
    let text = "the quick brown fox jumps over the lazy dog\n".repeat(len / 4 / 44 + 1);
    v.extend_from_slice(&text.as_bytes()[..len / 4]);
    v.resize(len, 0);
    v
}
