//! Just enough GPT to find a partition of a disk image by its name
//! (the wks `--part-name`, e.g. `bootenv` or `data`).

use std::fs::File;
use std::io::{self, Read, Seek, SeekFrom};
use std::path::Path;

const SECTOR: u64 = 512;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Partition {
    /// 1-based, as in `/dev/vda2`.
    pub number: u32,
    pub name: String,
    pub first_lba: u64,
    pub last_lba: u64,
}

impl Partition {
    pub fn offset(&self) -> u64 {
        self.first_lba * SECTOR
    }
    pub fn size(&self) -> u64 {
        (self.last_lba + 1 - self.first_lba) * SECTOR
    }
}

#[derive(Debug, thiserror::Error)]
pub enum GptError {
    #[error("cannot read the partition table: {0}")]
    Io(#[from] io::Error),
    #[error("no GPT partition table (the image must be a whole disk, as wic writes it)")]
    NotGpt,
    #[error("implausible GPT header: {0}")]
    Bad(&'static str),
}

fn u32_at(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes(b[at..at + 4].try_into().expect("4 bytes"))
}
fn u64_at(b: &[u8], at: usize) -> u64 {
    u64::from_le_bytes(b[at..at + 8].try_into().expect("8 bytes"))
}

/// The used entries of the primary GPT of the disk image at `path`.
pub fn partitions(path: &Path) -> Result<Vec<Partition>, GptError> {
    let mut f = File::open(path)?;
    let mut header = [0u8; 512];
    f.seek(SeekFrom::Start(SECTOR))?;
    if f.read_exact(&mut header).is_err() || &header[0..8] != b"EFI PART" {
        return Err(GptError::NotGpt);
    }
    let entries_lba = u64_at(&header, 72);
    let count = u32_at(&header, 80);
    let entry_size = u32_at(&header, 84) as usize;
    if !(128..=4096).contains(&entry_size) || count > 1024 {
        return Err(GptError::Bad("entry size or count out of range"));
    }
    let mut table = vec![0u8; entry_size * count as usize];
    f.seek(SeekFrom::Start(entries_lba * SECTOR))?;
    f.read_exact(&mut table)?;
    let mut out = Vec::new();
    for (i, e) in table.chunks(entry_size).enumerate() {
        if e[0..16].iter().all(|&b| b == 0) {
            continue;
        }
        let units: Vec<u16> = e[56..128]
            .chunks(2)
            .map(|c| u16::from_le_bytes([c[0], c[1]]))
            .take_while(|&u| u != 0)
            .collect();
        let (first_lba, last_lba) = (u64_at(e, 32), u64_at(e, 40));
        if last_lba < first_lba {
            return Err(GptError::Bad("a partition ends before it starts"));
        }
        out.push(Partition {
            number: i as u32 + 1,
            name: String::from_utf16_lossy(&units),
            first_lba,
            last_lba,
        });
    }
    Ok(out)
}
