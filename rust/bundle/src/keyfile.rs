//! A reader and writer for the INI dialect RAUC uses for `manifest.raucm`.
//!
//! RAUC parses manifests with GLib's `GKeyFile`, so a compatible tool has to
//! agree with GKeyFile on the details that change meaning: `#` comments only at
//! the start of a line, whitespace around `=`, backslash escapes (`\s`, `\n`,
//! `\t`, `\r`, `\\`), `;`-separated lists with `\;` as an escaped separator,
//! a later duplicate key replacing an earlier one and a repeated group header
//! continuing the same group. Writing follows GKeyFile's output too: one blank
//! line between groups, lists with a trailing `;`, and a final newline, so that
//! a manifest written here is byte-identical to one written by `rauc bundle`.
//!
//! This module knows nothing about manifests; [`crate::manifest`] gives the
//! groups and keys their meaning.

use std::fmt::Write as _;

/// Why a key file could not be parsed. Line numbers are 1-based.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum KeyFileError {
    /// A line that is neither a comment, a group header nor `key=value`.
    #[error("line {line}: expected `[group]`, `key=value` or a `#` comment, found {text:?}")]
    Syntax {
        /// Line number.
        line: usize,
        /// The offending line.
        text: String,
    },
    /// A key before the first group header.
    #[error("line {line}: key {key:?} appears before any [group] header")]
    KeyOutsideGroup {
        /// Line number.
        line: usize,
        /// The key.
        key: String,
    },
    /// A group header with an empty name or invalid characters.
    #[error("line {line}: invalid group name {name:?}")]
    InvalidGroup {
        /// Line number.
        line: usize,
        /// The group name as written.
        name: String,
    },
    /// A backslash escape GKeyFile does not define.
    #[error("group [{group}] key {key:?}: invalid escape sequence in value {value:?}")]
    InvalidEscape {
        /// Group name.
        group: String,
        /// Key name.
        key: String,
        /// The raw value.
        value: String,
    },
    /// The file is not valid UTF-8.
    #[error("not valid UTF-8 (at byte {offset})")]
    NotUtf8 {
        /// Byte offset of the first invalid sequence.
        offset: usize,
    },
}

/// One `[group]` with its keys in file order. Values are kept raw (escaped);
/// use [`KeyFile::string`] or [`KeyFile::list`] to decode them.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Group {
    /// Group name without brackets.
    pub name: String,
    /// `(key, raw value)` pairs; keys are unique within a group.
    pub entries: Vec<(String, String)>,
}

/// A parsed key file: groups in the order they first appeared.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyFile {
    groups: Vec<Group>,
}

impl KeyFile {
    /// Parses key-file text.
    pub fn parse(bytes: &[u8]) -> Result<KeyFile, KeyFileError> {
        let text = std::str::from_utf8(bytes).map_err(|e| KeyFileError::NotUtf8 {
            offset: e.valid_up_to(),
        })?;
        let mut kf = KeyFile::default();
        let mut current: Option<usize> = None;
        for (idx, raw_line) in text.split('\n').enumerate() {
            let line_no = idx + 1;
            let line = raw_line.strip_suffix('\r').unwrap_or(raw_line);
            let trimmed = line.trim_start();
            if trimmed.is_empty() || trimmed.starts_with('#') {
                continue;
            }
            if let Some(rest) = trimmed.strip_prefix('[') {
                let Some(name) = rest.trim_end().strip_suffix(']') else {
                    return Err(KeyFileError::Syntax {
                        line: line_no,
                        text: line.to_string(),
                    });
                };
                if name.is_empty()
                    || name.contains(['[', ']'])
                    || name.chars().any(char::is_control)
                {
                    return Err(KeyFileError::InvalidGroup {
                        line: line_no,
                        name: name.to_string(),
                    });
                }
                current = Some(kf.group_index_or_insert(name));
                continue;
            }
            let Some((key, value)) = trimmed.split_once('=') else {
                return Err(KeyFileError::Syntax {
                    line: line_no,
                    text: line.to_string(),
                });
            };
            let key = key.trim_end();
            if key.is_empty() {
                return Err(KeyFileError::Syntax {
                    line: line_no,
                    text: line.to_string(),
                });
            }
            // GKeyFile drops whitespace after '=' but keeps trailing whitespace.
            let value = value.trim_start_matches([' ', '\t']);
            let Some(g) = current else {
                return Err(KeyFileError::KeyOutsideGroup {
                    line: line_no,
                    key: key.to_string(),
                });
            };
            kf.groups[g].set_raw(key, value);
        }
        Ok(kf)
    }

    fn group_index_or_insert(&mut self, name: &str) -> usize {
        if let Some(i) = self.groups.iter().position(|g| g.name == name) {
            return i;
        }
        self.groups.push(Group {
            name: name.to_string(),
            entries: Vec::new(),
        });
        self.groups.len() - 1
    }

    /// All groups in file order.
    pub fn groups(&self) -> &[Group] {
        &self.groups
    }

    /// The group called `name`, if present.
    pub fn group(&self, name: &str) -> Option<&Group> {
        self.groups.iter().find(|g| g.name == name)
    }

    /// Decoded string value of `group`/`key`.
    pub fn string(&self, group: &str, key: &str) -> Result<Option<String>, KeyFileError> {
        match self.group(group).and_then(|g| g.raw(key)) {
            None => Ok(None),
            Some(raw) => unescape(raw, false)
                .map(|mut v| Some(v.pop().unwrap_or_default()))
                .map_err(|()| KeyFileError::InvalidEscape {
                    group: group.to_string(),
                    key: key.to_string(),
                    value: raw.to_string(),
                }),
        }
    }

    /// Decoded `;`-separated list value of `group`/`key`.
    pub fn list(&self, group: &str, key: &str) -> Result<Option<Vec<String>>, KeyFileError> {
        match self.group(group).and_then(|g| g.raw(key)) {
            None => Ok(None),
            Some(raw) => unescape(raw, true)
                .map(Some)
                .map_err(|()| KeyFileError::InvalidEscape {
                    group: group.to_string(),
                    key: key.to_string(),
                    value: raw.to_string(),
                }),
        }
    }

    /// Appends (or replaces) a string value, escaping it as GKeyFile does.
    pub fn set_string(&mut self, group: &str, key: &str, value: &str) {
        let g = self.group_index_or_insert(group);
        self.groups[g].set_raw(key, &escape(value, false));
    }

    /// Appends (or replaces) a list value; each element is followed by `;`.
    pub fn set_list<S: AsRef<str>>(&mut self, group: &str, key: &str, values: &[S]) {
        let mut raw = String::new();
        for v in values {
            raw.push_str(&escape(v.as_ref(), true));
            raw.push(';');
        }
        let g = self.group_index_or_insert(group);
        self.groups[g].set_raw(key, &raw);
    }

    /// Serialises in GKeyFile's layout: groups separated by one blank line,
    /// ending with exactly one newline.
    pub fn to_text(&self) -> String {
        let mut out = String::new();
        for (i, g) in self.groups.iter().enumerate() {
            if i > 0 {
                out.push('\n');
            }
            let _ = writeln!(out, "[{}]", g.name);
            for (k, v) in &g.entries {
                let _ = writeln!(out, "{k}={v}");
            }
        }
        out
    }
}

impl Group {
    /// The raw (still escaped) value of `key`.
    pub fn raw(&self, key: &str) -> Option<&str> {
        self.entries
            .iter()
            .find(|(k, _)| k == key)
            .map(|(_, v)| v.as_str())
    }

    fn set_raw(&mut self, key: &str, value: &str) {
        match self.entries.iter_mut().find(|(k, _)| k == key) {
            Some(slot) => slot.1 = value.to_string(),
            None => self.entries.push((key.to_string(), value.to_string())),
        }
    }
}

/// Undoes GKeyFile escaping. For lists, splits on unescaped `;` and drops the
/// empty element after a trailing separator.
fn unescape(raw: &str, as_list: bool) -> Result<Vec<String>, ()> {
    let mut items = Vec::new();
    let mut cur = String::new();
    let mut chars = raw.chars();
    while let Some(c) = chars.next() {
        match c {
            '\\' => match chars.next() {
                Some('s') => cur.push(' '),
                Some('n') => cur.push('\n'),
                Some('t') => cur.push('\t'),
                Some('r') => cur.push('\r'),
                Some('\\') => cur.push('\\'),
                Some(';') if as_list => cur.push(';'),
                Some(',') if as_list => cur.push(','),
                _ => return Err(()),
            },
            ';' if as_list => items.push(std::mem::take(&mut cur)),
            c => cur.push(c),
        }
    }
    if !as_list || !cur.is_empty() {
        items.push(cur);
    }
    Ok(items)
}

fn escape(value: &str, in_list: bool) -> String {
    let mut out = String::with_capacity(value.len());
    for (i, c) in value.chars().enumerate() {
        match c {
            ' ' if i == 0 => out.push_str("\\s"),
            '\n' => out.push_str("\\n"),
            '\t' => out.push_str("\\t"),
            '\r' => out.push_str("\\r"),
            '\\' => out.push_str("\\\\"),
            ';' if in_list => out.push_str("\\;"),
            c => out.push(c),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn parses_groups_keys_comments_and_whitespace() {
        let kf = KeyFile::parse(
            b"# comment\n[update]\ncompatible = Test Device\n  version=1.0\n\n[image.rootfs]\nhooks=pre-install;post-install;\n",
        )
        .unwrap();
        assert_eq!(
            kf.string("update", "compatible").unwrap().unwrap(),
            "Test Device"
        );
        assert_eq!(kf.string("update", "version").unwrap().unwrap(), "1.0");
        assert_eq!(
            kf.list("image.rootfs", "hooks").unwrap().unwrap(),
            vec!["pre-install", "post-install"]
        );
    }

    #[test]
    fn later_duplicates_win_and_groups_continue() {
        let kf = KeyFile::parse(b"[a]\nx=1\n[b]\ny=2\n[a]\nx=3\nz=4\n").unwrap();
        assert_eq!(kf.groups().len(), 2);
        assert_eq!(kf.string("a", "x").unwrap().unwrap(), "3");
        assert_eq!(kf.string("a", "z").unwrap().unwrap(), "4");
    }

    #[test]
    fn escapes_round_trip() {
        let mut kf = KeyFile::default();
        kf.set_string("g", "k", " lead\ttab\nnl\\bs");
        kf.set_list("g", "l", &["a;b", "c"]);
        let text = kf.to_text();
        assert_eq!(text, "[g]\nk=\\slead\\ttab\\nnl\\\\bs\nl=a\\;b;c;\n");
        let back = KeyFile::parse(text.as_bytes()).unwrap();
        assert_eq!(
            back.string("g", "k").unwrap().unwrap(),
            " lead\ttab\nnl\\bs"
        );
        assert_eq!(back.list("g", "l").unwrap().unwrap(), vec!["a;b", "c"]);
    }

    #[test]
    fn list_without_trailing_separator() {
        let kf = KeyFile::parse(b"[g]\nl=a;b\n").unwrap();
        assert_eq!(kf.list("g", "l").unwrap().unwrap(), vec!["a", "b"]);
    }

    #[test]
    fn rejects_garbage() {
        assert!(matches!(
            KeyFile::parse(b"[g]\njust words\n"),
            Err(KeyFileError::Syntax { line: 2, .. })
        ));
        assert!(matches!(
            KeyFile::parse(b"k=v\n"),
            Err(KeyFileError::KeyOutsideGroup { line: 1, .. })
        ));
        assert!(matches!(
            KeyFile::parse(b"[g\n"),
            Err(KeyFileError::Syntax { .. })
        ));
        assert!(matches!(
            KeyFile::parse(b"[]\n"),
            Err(KeyFileError::InvalidGroup { .. })
        ));
        assert!(matches!(
            KeyFile::parse(b"[g]\nk=\xff\n"),
            Err(KeyFileError::NotUtf8 { .. })
        ));
        let kf = KeyFile::parse(b"[g]\nk=bad\\q\n").unwrap();
        assert!(matches!(
            kf.string("g", "k"),
            Err(KeyFileError::InvalidEscape { .. })
        ));
    }

    #[test]
    fn writes_blank_line_between_groups_and_one_final_newline() {
        let mut kf = KeyFile::default();
        kf.set_string("update", "compatible", "X");
        kf.set_string("image.rootfs", "filename", "r.img");
        assert_eq!(
            kf.to_text(),
            "[update]\ncompatible=X\n\n[image.rootfs]\nfilename=r.img\n"
        );
    }
}
