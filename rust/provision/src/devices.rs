//! The factory's device list: a CSV file with one device per line,
//! `serial,hardware revision`.
//!
//! Blank lines and lines starting with `#` are skipped, a first line whose
//! first field is `serial` is taken as a header, fields may be enclosed in
//! double quotes. Every problem is reported with its line number, all of
//! them at once, so a list can be fixed in one pass.

use std::collections::HashMap;
use std::fmt;

/// A hardware revision, as RAUC's variant (`variant-file`) names it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum HardwareRevision {
    RevA,
    RevB,
}

impl HardwareRevision {
    /// Accepts what the first-boot script accepts (`rev-a`, `A`, `a`, `1`;
    /// `rev-b`, `B`, `b`, `2`), except `unknown`: manufacturing knows.
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "rev-a" | "A" | "a" | "1" => Some(Self::RevA),
            "rev-b" | "B" | "b" | "2" => Some(Self::RevB),
            _ => None,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::RevA => "rev-a",
            Self::RevB => "rev-b",
        }
    }
}

impl fmt::Display for HardwareRevision {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

/// One device of the list. The serial is also its controller id.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Device {
    /// 1-based line in the CSV file.
    pub line: usize,
    pub serial: String,
    pub hardware_revision: HardwareRevision,
}

/// One bad line.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LineError {
    pub line: usize,
    pub problem: String,
}

impl fmt::Display for LineError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "line {}: {}", self.line, self.problem)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum DeviceListError {
    #[error("{} bad line(s) in the device list:\n  {}", .0.len(), join(.0))]
    Lines(Vec<LineError>),
    #[error("the device list has no devices")]
    Empty,
}

fn join(errors: &[LineError]) -> String {
    errors
        .iter()
        .map(ToString::to_string)
        .collect::<Vec<_>>()
        .join("\n  ")
}

/// Longest serial accepted: it becomes a controller id, a file name and a
/// URL path segment.
pub const MAX_SERIAL_LEN: usize = 64;

/// Values firmware puts where a serial should be; the first-boot script
/// treats them as "no serial".
const PLACEHOLDER_SERIALS: &[&str] = &["0", "00000000", "0000000000000000", "None"];

/// Why `serial` cannot be used, if it cannot.
pub fn serial_problem(serial: &str) -> Option<String> {
    if serial.is_empty() {
        return Some("the serial is empty".into());
    }
    if serial.len() > MAX_SERIAL_LEN {
        return Some(format!(
            "the serial is longer than {MAX_SERIAL_LEN} characters"
        ));
    }
    if let Some(c) = serial
        .chars()
        .find(|c| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
    {
        return Some(format!(
            "the serial '{serial}' contains {c:?}: only A-Z a-z 0-9 . _ - are allowed"
        ));
    }
    if serial.starts_with('.') {
        return Some(format!("the serial '{serial}' starts with '.'"));
    }
    if PLACEHOLDER_SERIALS.contains(&serial) {
        return Some(format!(
            "'{serial}' is a firmware placeholder, not a serial"
        ));
    }
    None
}

/// Splits one CSV line into trimmed fields, removing enclosing quotes.
fn fields(line: &str) -> Result<Vec<String>, String> {
    line.split(',')
        .map(|raw| {
            let f = raw.trim();
            let f = match f.strip_prefix('"') {
                Some(rest) => rest
                    .strip_suffix('"')
                    .ok_or_else(|| format!("unbalanced quote in field {f:?}"))?,
                None => f,
            };
            if f.contains('"') {
                return Err(format!("quote inside field {f:?}"));
            }
            Ok(f.to_owned())
        })
        .collect()
}

/// Parses the whole list.
pub fn parse_device_list(text: &str) -> Result<Vec<Device>, DeviceListError> {
    let mut devices = Vec::new();
    let mut errors = Vec::new();
    let mut seen: HashMap<String, usize> = HashMap::new();
    let mut first_data_line = true;
    for (index, raw) in text.lines().enumerate() {
        let line = index + 1;
        let trimmed = raw.trim();
        if trimmed.is_empty() || trimmed.starts_with('#') {
            continue;
        }
        let mut bad = |problem: String| errors.push(LineError { line, problem });
        let fs = match fields(trimmed) {
            Ok(fs) => fs,
            Err(problem) => {
                bad(problem);
                continue;
            }
        };
        let header = first_data_line && fs[0].eq_ignore_ascii_case("serial");
        first_data_line = false;
        if header {
            continue;
        }
        if fs.len() != 2 {
            bad(format!(
                "expected 2 fields (serial,hardware revision), found {}",
                fs.len()
            ));
            continue;
        }
        let (serial, rev) = (&fs[0], &fs[1]);
        if let Some(problem) = serial_problem(serial) {
            bad(problem);
            continue;
        }
        let Some(hardware_revision) = HardwareRevision::parse(rev) else {
            bad(if rev.is_empty() {
                "the hardware revision is empty".into()
            } else {
                format!("unknown hardware revision '{rev}' (expected rev-a or rev-b)")
            });
            continue;
        };
        if let Some(first) = seen.get(serial) {
            bad(format!("serial '{serial}' already listed on line {first}"));
            continue;
        }
        seen.insert(serial.clone(), line);
        devices.push(Device {
            line,
            serial: serial.clone(),
            hardware_revision,
        });
    }
    if !errors.is_empty() {
        return Err(DeviceListError::Lines(errors));
    }
    if devices.is_empty() {
        return Err(DeviceListError::Empty);
    }
    Ok(devices)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn header_comments_quotes_and_aliases() {
        let list = "# batch 7\nSerial,Revision\n\nSN-1,rev-a\n\"SN-2\" , B\n";
        let d = parse_device_list(list).unwrap();
        assert_eq!(d.len(), 2);
        assert_eq!(
            (d[0].line, d[0].serial.as_str(), d[0].hardware_revision),
            (4, "SN-1", HardwareRevision::RevA)
        );
        assert_eq!(
            (d[1].line, d[1].serial.as_str(), d[1].hardware_revision),
            (5, "SN-2", HardwareRevision::RevB)
        );
    }
}
