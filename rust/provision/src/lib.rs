//! `provision-devices`: per-device provisioning data for the factory line.
//!
//! For each device of a CSV list (serial, hardware revision) it generates a
//! server token and writes the manufacturing file the layer's first-boot
//! script reads ([`envfile`]), as a separate file, into a copy of the
//! image's bootenv or data partition, or into a whole per-device copy of
//! the disk image; optionally it registers the device on the server first.
//! See docs/manufacturing.md.

pub mod atomic;
pub mod devices;
pub mod envfile;
pub mod exec;
pub mod gpt;
pub mod image;
pub mod register;
pub mod token;

use std::path::{Path, PathBuf};

use devices::{Device, DeviceListError};
use gpt::{GptError, Partition};
use image::{FsKind, ImageError};
use register::{RegisterError, Registrar};
use token::Token;

/// What to produce per device.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Output {
    /// `OUT/<serial>.provisioning.env`
    Files,
    /// `OUT/<serial>.<partition>.img`: the partition, with the file in it
    Partition,
    /// `OUT/<serial>.img`: the whole disk image, with the file in the partition
    Image,
}

#[derive(Debug)]
pub struct Plan {
    pub devices: Vec<Device>,
    pub output: Output,
    pub out_dir: PathBuf,
    /// The factory image (needed for `Partition` and `Image`).
    pub image: Option<PathBuf>,
    /// GPT name of the partition to write into (`bootenv` or `data`).
    pub partition: String,
    /// Server base URL, written as a comment and used for registration.
    pub server: Option<String>,
    /// `controllerId,securityToken` of every device, mode 0600.
    pub secrets_file: Option<PathBuf>,
}

#[derive(Debug, thiserror::Error)]
pub enum Error {
    #[error(transparent)]
    DeviceList(#[from] DeviceListError),
    #[error("{path}: {source}")]
    Io {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("{0}: {1}")]
    Gpt(PathBuf, GptError),
    #[error("{image}: no partition named '{name}' (found: {found})")]
    NoPartition {
        image: PathBuf,
        name: String,
        found: String,
    },
    #[error("this output needs the factory image (--image)")]
    NoImage,
    #[error("{0} already exists: provisioning never overwrites (a second run would give devices new tokens)")]
    Exists(PathBuf),
    #[error("{serial}: {source}")]
    Image { serial: String, source: ImageError },
    #[error("factory image: {0}")]
    FactoryImage(#[from] ImageError),
    #[error("registration stopped after {done} of {total} device(s): {source}")]
    Register {
        done: usize,
        total: usize,
        source: RegisterError,
    },
    #[error("cannot generate a token: {0}")]
    Random(std::io::Error),
}

/// What was done for one device.
#[derive(Debug)]
pub struct Provisioned {
    pub device: Device,
    pub token: Token,
    pub output: PathBuf,
    pub registered: bool,
}

fn io(path: &Path) -> impl FnOnce(std::io::Error) -> Error + '_ {
    move |source| Error::Io {
        path: path.to_owned(),
        source,
    }
}

/// The file name for one device.
pub fn output_path(plan: &Plan, device: &Device) -> PathBuf {
    let name = match plan.output {
        Output::Files => format!("{}.{}", device.serial, envfile::FILE_NAME),
        Output::Partition => format!("{}.{}.img", device.serial, plan.partition),
        Output::Image => format!("{}.img", device.serial),
    };
    plan.out_dir.join(name)
}

/// Finds `name` in the image's partition table and its file system.
pub fn find_partition(image: &Path, name: &str) -> Result<(Partition, FsKind), Error> {
    let parts = gpt::partitions(image).map_err(|e| Error::Gpt(image.to_owned(), e))?;
    let part = parts
        .iter()
        .find(|p| p.name == name)
        .cloned()
        .ok_or_else(|| Error::NoPartition {
            image: image.to_owned(),
            name: name.into(),
            found: parts
                .iter()
                .map(|p| p.name.as_str())
                .collect::<Vec<_>>()
                .join(", "),
        })?;
    let kind = image::detect(image, part.offset())?;
    Ok((part, kind))
}

/// Runs the plan: checks everything that can be checked up front, then
/// per device generates a token, registers it (if `registrar`), and writes
/// its output. Stops at the first failure; what is finished stays.
pub fn provision(plan: &Plan, registrar: Option<&Registrar>) -> Result<Vec<Provisioned>, Error> {
    std::fs::create_dir_all(&plan.out_dir).map_err(io(&plan.out_dir))?;
    for device in &plan.devices {
        let path = output_path(plan, device);
        if path.exists() {
            return Err(Error::Exists(path));
        }
    }
    if let Some(s) = &plan.secrets_file {
        if s.exists() {
            return Err(Error::Exists(s.clone()));
        }
    }
    let target = match plan.output {
        Output::Files => None,
        Output::Partition | Output::Image => {
            let image = plan.image.as_deref().ok_or(Error::NoImage)?;
            Some((image, find_partition(image, &plan.partition)?))
        }
    };

    let mut done = Vec::with_capacity(plan.devices.len());
    for device in &plan.devices {
        let token = Token::generate().map_err(Error::Random)?;
        if let Some(r) = registrar {
            r.register(&device.serial, &token)
                .map_err(|source| Error::Register {
                    done: done.len(),
                    total: plan.devices.len(),
                    source,
                })?;
        }
        let content = envfile::render(device, &token, plan.server.as_deref());
        let path = output_path(plan, device);
        let wrap = |source| Error::Image {
            serial: device.serial.clone(),
            source,
        };
        match (plan.output, &target) {
            (Output::Files, _) => {
                atomic::write_file(&path, content.as_bytes(), 0o600).map_err(io(&path))?
            }
            (Output::Partition, Some((image, (part, kind)))) => {
                write_copy(&path, |tmp| {
                    image::copy_range(image, part.offset(), part.size(), tmp)?;
                    image::put_file(tmp, 0, *kind, &content, &plan.out_dir)
                })
                .map_err(wrap)?;
            }
            (Output::Image, Some((image, (part, kind)))) => {
                let len = std::fs::metadata(image).map_err(io(image))?.len();
                write_copy(&path, |tmp| {
                    image::copy_range(image, 0, len, tmp)?;
                    image::put_file(tmp, part.offset(), *kind, &content, &plan.out_dir)
                })
                .map_err(wrap)?;
            }
            _ => return Err(Error::NoImage),
        }
        done.push(Provisioned {
            device: device.clone(),
            token,
            output: path,
            registered: registrar.is_some(),
        });
    }

    if let Some(s) = &plan.secrets_file {
        let mut csv = String::from("controllerId,securityToken\n");
        for p in &done {
            csv.push_str(&format!("{},{}\n", p.device.serial, p.token.expose()));
        }
        atomic::write_file(s, csv.as_bytes(), 0o600).map_err(io(s))?;
    }
    Ok(done)
}

/// Builds a file at a temporary name with `fill`, then syncs and renames it.
fn write_copy(
    path: &Path,
    fill: impl FnOnce(&Path) -> Result<(), ImageError>,
) -> Result<(), ImageError> {
    let tmp = atomic::temp_path(path);
    let result = fill(&tmp).and_then(|()| {
        atomic::commit(&tmp, path).map_err(|source| ImageError::Io {
            path: path.to_owned(),
            source,
        })
    });
    if result.is_err() {
        let _ = std::fs::remove_file(&tmp);
    }
    result
}
