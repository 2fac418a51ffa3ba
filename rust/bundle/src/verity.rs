//! The dm-verity hash tree of verity bundles, and the block hash index of
//! adaptive images (the same per-block hashing without a salt or a tree).
//!
//! The tree is the kernel's format version 1 with SHA-256 and 4096-byte data
//! and hash blocks, no superblock: each block is hashed as
//! `sha256(salt ‖ block)`, digests are packed 128 to a block and zero-padded,
//! levels are built until one block remains, and the levels are stored with
//! the root-most level first. The root hash is `sha256(salt ‖ top block)`.
//! The output is byte-identical to `veritysetup format --no-superblock` with
//! those parameters, which the tests check against the real tool.
//!
//! Everything here streams: data is read once in large chunks and only the
//! tree (1/128 of the data) is kept in memory.

use openssl::sha::Sha256;
use std::io::{self, Read};

/// Data and hash block size used by RAUC bundles.
pub const BLOCK_SIZE: usize = 4096;
const DIGEST: usize = 32;
const PER_BLOCK: usize = BLOCK_SIZE / DIGEST;

/// Hashes consecutive 4 KiB blocks as they stream past, in pieces of any
/// size, optionally salted.
pub struct BlockHasher {
    salt: Vec<u8>,
    partial: Vec<u8>,
    digests: Vec<u8>,
}

impl BlockHasher {
    /// A hasher prefixing every block with `salt` (empty for no salt).
    pub fn new(salt: &[u8]) -> Self {
        BlockHasher {
            salt: salt.to_vec(),
            partial: Vec::with_capacity(BLOCK_SIZE),
            digests: Vec::new(),
        }
    }

    fn hash_block(&mut self, block: &[u8]) {
        let mut h = Sha256::new();
        h.update(&self.salt);
        h.update(block);
        self.digests.extend_from_slice(&h.finish());
    }

    /// Feeds the next bytes.
    pub fn update(&mut self, mut data: &[u8]) {
        if !self.partial.is_empty() {
            let take = (BLOCK_SIZE - self.partial.len()).min(data.len());
            self.partial.extend_from_slice(&data[..take]);
            data = &data[take..];
            if self.partial.len() == BLOCK_SIZE {
                let block = std::mem::take(&mut self.partial);
                self.hash_block(&block);
                self.partial = block;
                self.partial.clear();
            }
        }
        let mut chunks = data.chunks_exact(BLOCK_SIZE);
        for block in &mut chunks {
            self.hash_block(block);
        }
        self.partial.extend_from_slice(chunks.remainder());
    }

    /// Number of bytes that did not fill a whole block yet.
    pub fn pending(&self) -> usize {
        self.partial.len()
    }

    /// Ends the stream. A trailing partial block is zero-padded, which is
    /// what dm-verity would see; callers that need whole blocks check
    /// [`BlockHasher::pending`] first.
    pub fn finish(mut self) -> Vec<u8> {
        if !self.partial.is_empty() {
            let mut block = std::mem::take(&mut self.partial);
            block.resize(BLOCK_SIZE, 0);
            self.hash_block(&block);
        }
        self.digests
    }
}

/// A computed hash tree.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HashTree {
    /// Root hash.
    pub root: [u8; 32],
    /// The tree as stored after the data, root-most level first.
    pub tree: Vec<u8>,
    /// Byte offset of the lowest level (hashes of data blocks) within `tree`.
    pub leaf_offset: usize,
}

/// Builds the tree from the per-block digests of the data.
fn tree_from_leaves(leaves: Vec<u8>, salt: &[u8]) -> HashTree {
    // levels[0] is the lowest level, each padded to whole blocks.
    let mut levels: Vec<Vec<u8>> = Vec::new();
    let mut digests = leaves;
    loop {
        let mut level = digests;
        let blocks = level.len().div_ceil(BLOCK_SIZE).max(1);
        level.resize(blocks * BLOCK_SIZE, 0);
        let done = blocks == 1;
        let mut next = BlockHasher::new(salt);
        if !done {
            next.update(&level);
        }
        levels.push(level);
        if done {
            break;
        }
        digests = next.finish();
    }
    let top = levels.last().expect("at least one level");
    let mut h = Sha256::new();
    h.update(salt);
    h.update(top);
    let root = h.finish();
    let leaf_offset = levels[1..].iter().map(Vec::len).sum();
    let mut tree = Vec::with_capacity(levels.iter().map(Vec::len).sum());
    for level in levels.iter().rev() {
        tree.extend_from_slice(level);
    }
    HashTree {
        root,
        tree,
        leaf_offset,
    }
}

/// Computes the tree over `data_size` bytes read from `data`. `data_size`
/// must be a non-zero multiple of the block size.
pub fn compute<R: Read + ?Sized>(
    data: &mut R,
    data_size: u64,
    salt: &[u8],
    mut progress: impl FnMut(u64),
) -> io::Result<HashTree> {
    if data_size == 0 || data_size % BLOCK_SIZE as u64 != 0 {
        return Err(io::Error::new(
            io::ErrorKind::InvalidInput,
            format!("verity data size {data_size} is not a non-zero multiple of {BLOCK_SIZE}"),
        ));
    }
    let mut hasher = BlockHasher::new(salt);
    let mut buf = vec![0u8; 1 << 20];
    let mut left = data_size;
    while left > 0 {
        let want = (buf.len() as u64).min(left) as usize;
        data.read_exact(&mut buf[..want])?;
        hasher.update(&buf[..want]);
        left -= want as u64;
        progress(data_size - left);
    }
    Ok(tree_from_leaves(hasher.finish(), salt))
}

/// Length in bytes of the tree for `data_size` bytes of data.
pub fn tree_size(data_size: u64) -> u64 {
    let mut blocks = data_size.div_ceil(BLOCK_SIZE as u64);
    let mut total = 0;
    loop {
        let level = blocks.div_ceil(PER_BLOCK as u64).max(1);
        total += level;
        if level == 1 {
            return total * BLOCK_SIZE as u64;
        }
        blocks = level;
    }
}

/// Where a stored tree disagrees with the data.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mismatch {
    /// The data block starting at this byte offset does not match its hash.
    DataBlock(u64),
    /// The stored tree itself is damaged at this byte offset of the tree.
    Tree(u64),
    /// The root hash differs from the signed one.
    Root,
}

/// Compares a freshly computed tree with a stored tree and signed root hash.
pub fn compare(computed: &HashTree, stored: &[u8], root: &[u8]) -> Result<(), Mismatch> {
    if computed.tree.len() == stored.len() {
        let leaves = &computed.tree[computed.leaf_offset..];
        let stored_leaves = &stored[computed.leaf_offset..];
        if let Some(pos) = leaves
            .chunks(DIGEST)
            .zip(stored_leaves.chunks(DIGEST))
            .position(|(a, b)| a != b)
        {
            return Err(Mismatch::DataBlock(pos as u64 * BLOCK_SIZE as u64));
        }
        if let Some(pos) = computed.tree.iter().zip(stored).position(|(a, b)| a != b) {
            return Err(Mismatch::Tree(pos as u64));
        }
    } else {
        return Err(Mismatch::Tree(0));
    }
    if computed.root[..] != *root {
        return Err(Mismatch::Root);
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn block_hasher_handles_any_piece_size() {
        let data: Vec<u8> = (0..3 * BLOCK_SIZE).map(|i| (i * 7 % 251) as u8).collect();
        let mut whole = BlockHasher::new(b"salt");
        whole.update(&data);
        let mut pieces = BlockHasher::new(b"salt");
        for p in data.chunks(1000) {
            pieces.update(p);
        }
        assert_eq!(whole.finish(), pieces.finish());
    }

    #[test]
    fn tree_sizes_match_levels() {
        // 42148 blocks: levels of 330, 3 and 1 blocks.
        assert_eq!(tree_size(42148 * 4096), (330 + 3 + 1) * 4096);
        assert_eq!(tree_size(2 * 4096), 4096);
        assert_eq!(tree_size(129 * 4096), 3 * 4096);
    }

    #[test]
    fn computed_tree_has_the_predicted_size_and_detects_damage() {
        let data: Vec<u8> = (0..200 * BLOCK_SIZE).map(|i| (i % 253) as u8).collect();
        let t = compute(&mut &data[..], data.len() as u64, &[1; 32], |_| {}).unwrap();
        assert_eq!(t.tree.len() as u64, tree_size(data.len() as u64));
        assert_eq!(compare(&t, &t.tree, &t.root), Ok(()));
        let mut bad = data.clone();
        bad[5 * BLOCK_SIZE + 17] ^= 1;
        let t2 = compute(&mut &bad[..], bad.len() as u64, &[1; 32], |_| {}).unwrap();
        assert_eq!(
            compare(&t2, &t.tree, &t.root),
            Err(Mismatch::DataBlock(5 * 4096))
        );
        assert!(compute(&mut &data[..], 100, &[], |_| {}).is_err());
    }
}
