//! Target filter queries in hawkBit's FIQL/RSQL syntax, parsed into an AST.
//!
//! ```text
//! query      := or
//! or         := and ( (',' | ' or ') and )*
//! and        := term ( (';' | ' and ') term )*
//! term       := '(' or ')' | comparison
//! comparison := field operator argument
//! operator   := '==' | '!=' | '=in=' | '=out='
//! argument   := value | '(' value (',' value)* ')'
//! value      := unquoted | '"' ... '"' | '\'' ... '\''     ('*' is a wildcard)
//! ```
//!
//! Fields (case-insensitive): `name`, `controllerid` (alias `id`), `attribute.<key>`,
//! `updatestatus`, `installedds.version`, `installedds.name`, `assignedds.version`,
//! `assignedds.name`, `tag` (alias `tag.name`), `targettype` (alias `targettype.name`,
//! `targettype.key`), `group`.
//!
//! This module only parses; [`crate::store`] compiles the AST to parameterized SQL, so no value
//! from a query ever becomes SQL text.

use std::fmt;

/// A parsed query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Node {
    /// All must hold.
    And(Vec<Node>),
    /// At least one must hold.
    Or(Vec<Node>),
    /// One comparison.
    Cmp(Comparison),
}

/// `field op value(s)`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Comparison {
    /// What is compared.
    pub field: Field,
    /// How.
    pub op: Op,
    /// One value for `==`/`!=`, one or more for `=in=`/`=out=`. `*` is a wildcard.
    pub values: Vec<String>,
}

/// Comparison operators.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    /// `==`
    Eq,
    /// `!=`
    Ne,
    /// `=in=`
    In,
    /// `=out=`
    Out,
}

/// Filterable target properties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Field {
    /// Display name.
    Name,
    /// Controller id.
    ControllerId,
    /// A device-reported attribute.
    Attribute(String),
    /// hawkBit's derived update status: `unknown`, `registered`, `pending`, `in_sync`, `error`.
    UpdateStatus,
    /// Version of the distribution set last installed successfully.
    InstalledDsVersion,
    /// Name of the distribution set last installed successfully.
    InstalledDsName,
    /// Version of the distribution set last assigned.
    AssignedDsVersion,
    /// Name of the distribution set last assigned.
    AssignedDsName,
    /// A tag name.
    Tag,
    /// The target type's name.
    TargetType,
    /// The target's group.
    Group,
}

/// The values `updatestatus` can take.
pub const UPDATE_STATUSES: [&str; 5] = ["unknown", "registered", "pending", "in_sync", "error"];

impl Field {
    fn parse(name: &str) -> Option<Field> {
        let lower = name.to_ascii_lowercase();
        if let Some(key) = name
            .get(..10)
            .filter(|p| p.eq_ignore_ascii_case("attribute."))
            .map(|_| &name[10..])
        {
            return (!key.is_empty()).then(|| Field::Attribute(key.to_owned()));
        }
        Some(match lower.as_str() {
            "name" => Field::Name,
            "controllerid" | "id" => Field::ControllerId,
            "updatestatus" => Field::UpdateStatus,
            "installedds.version" => Field::InstalledDsVersion,
            "installedds.name" => Field::InstalledDsName,
            "assignedds.version" => Field::AssignedDsVersion,
            "assignedds.name" => Field::AssignedDsName,
            "tag" | "tag.name" => Field::Tag,
            "targettype" | "targettype.name" | "targettype.key" => Field::TargetType,
            "group" => Field::Group,
            _ => return None,
        })
    }
}

/// Why a query could not be parsed: where, and what was expected there.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ParseError {
    /// Byte offset into the query (0-based).
    pub position: usize,
    /// What the parser expected (or what was wrong).
    pub expected: String,
}

impl fmt::Display for ParseError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "invalid query at position {}: expected {}",
            self.position, self.expected
        )
    }
}

impl std::error::Error for ParseError {}

/// Longest query accepted (bounds parse time and SQL size).
pub const MAX_QUERY_LEN: usize = 4096;
/// Deepest parenthesis nesting accepted.
const MAX_DEPTH: usize = 32;

/// Parses a query.
///
/// # Errors
///
/// [`ParseError`] with the position and what was expected.
pub fn parse(query: &str) -> Result<Node, ParseError> {
    if query.len() > MAX_QUERY_LEN {
        return Err(ParseError {
            position: MAX_QUERY_LEN,
            expected: format!("a query of at most {MAX_QUERY_LEN} bytes"),
        });
    }
    let mut p = Parser {
        s: query,
        pos: 0,
        depth: 0,
    };
    p.skip_ws();
    if p.at_end() {
        return Err(p.err("a comparison such as name==device-*"));
    }
    let node = p.or()?;
    p.skip_ws();
    if !p.at_end() {
        return Err(p.err("';', ',' or the end of the query"));
    }
    Ok(node)
}

struct Parser<'a> {
    s: &'a str,
    pos: usize,
    depth: usize,
}

impl Parser<'_> {
    fn rest(&self) -> &str {
        &self.s[self.pos..]
    }
    fn at_end(&self) -> bool {
        self.pos >= self.s.len()
    }
    fn peek(&self) -> Option<char> {
        self.rest().chars().next()
    }
    fn err(&self, expected: &str) -> ParseError {
        ParseError {
            position: self.pos,
            expected: expected.to_owned(),
        }
    }
    fn skip_ws(&mut self) {
        while let Some(c) = self.peek() {
            if c.is_whitespace() {
                self.pos += c.len_utf8();
            } else {
                break;
            }
        }
    }
    /// Consumes `;`/`,` or the words `and`/`or` (surrounded by whitespace or parentheses).
    fn eat_operator(&mut self, symbol: char, word: &str) -> bool {
        let save = self.pos;
        self.skip_ws();
        if self.peek() == Some(symbol) {
            self.pos += 1;
            return true;
        }
        if save != self.pos || self.pos == 0 {
            let r = self.rest();
            if r.len() > word.len()
                && r[..word.len()].eq_ignore_ascii_case(word)
                && r[word.len()..].starts_with(|c: char| c.is_whitespace() || c == '(')
            {
                self.pos += word.len();
                return true;
            }
        }
        self.pos = save;
        false
    }

    fn or(&mut self) -> Result<Node, ParseError> {
        let mut items = vec![self.and()?];
        while self.eat_operator(',', "or") {
            items.push(self.and()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            Node::Or(items)
        })
    }

    fn and(&mut self) -> Result<Node, ParseError> {
        let mut items = vec![self.term()?];
        while self.eat_operator(';', "and") {
            items.push(self.term()?);
        }
        Ok(if items.len() == 1 {
            items.pop().expect("one item")
        } else {
            Node::And(items)
        })
    }

    fn term(&mut self) -> Result<Node, ParseError> {
        self.skip_ws();
        if self.peek() == Some('(') {
            if self.depth >= MAX_DEPTH {
                return Err(self.err("less deeply nested parentheses"));
            }
            self.pos += 1;
            self.depth += 1;
            let inner = self.or()?;
            self.skip_ws();
            if self.peek() != Some(')') {
                return Err(self.err("')'"));
            }
            self.pos += 1;
            self.depth -= 1;
            return Ok(inner);
        }
        self.comparison().map(Node::Cmp)
    }

    fn comparison(&mut self) -> Result<Comparison, ParseError> {
        let start = self.pos;
        let len = self
            .rest()
            .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-')))
            .unwrap_or(self.rest().len());
        if len == 0 {
            return Err(self.err(
                "a field (name, controllerid, attribute.<key>, updatestatus, installedds.version, \
                 assignedds.version, tag, targettype, group) or '('",
            ));
        }
        let name = &self.s[start..start + len];
        let field = Field::parse(name).ok_or_else(|| ParseError {
            position: start,
            expected: format!(
                "a known field (name, controllerid, attribute.<key>, updatestatus, \
                 installedds.version, installedds.name, assignedds.version, assignedds.name, \
                 tag, targettype, group), not {name:?}"
            ),
        })?;
        self.pos += len;
        self.skip_ws();
        let op = if self.rest().starts_with("==") {
            self.pos += 2;
            Op::Eq
        } else if self.rest().starts_with("!=") {
            self.pos += 2;
            Op::Ne
        } else if self.rest().len() >= 4 && self.rest()[..4].eq_ignore_ascii_case("=in=") {
            self.pos += 4;
            Op::In
        } else if self.rest().len() >= 5 && self.rest()[..5].eq_ignore_ascii_case("=out=") {
            self.pos += 5;
            Op::Out
        } else {
            return Err(self.err("an operator: '==', '!=', '=in=' or '=out='"));
        };
        self.skip_ws();
        let values = match op {
            Op::Eq | Op::Ne => vec![self.value()?],
            Op::In | Op::Out => {
                if self.peek() != Some('(') {
                    return Err(self.err("'(' starting a value list"));
                }
                self.pos += 1;
                let mut vs = Vec::new();
                loop {
                    self.skip_ws();
                    vs.push(self.value()?);
                    self.skip_ws();
                    match self.peek() {
                        Some(',') => self.pos += 1,
                        Some(')') => {
                            self.pos += 1;
                            break;
                        }
                        _ => return Err(self.err("',' or ')' in the value list")),
                    }
                }
                vs
            }
        };
        if field == Field::UpdateStatus {
            for v in &values {
                if !v.contains('*') && !UPDATE_STATUSES.contains(&v.to_ascii_lowercase().as_str()) {
                    return Err(ParseError {
                        position: start,
                        expected: format!(
                            "an update status ({}), not {v:?}",
                            UPDATE_STATUSES.join(", ")
                        ),
                    });
                }
            }
        }
        Ok(Comparison { field, op, values })
    }

    fn value(&mut self) -> Result<String, ParseError> {
        match self.peek() {
            Some(q @ ('"' | '\'')) => {
                let start = self.pos;
                self.pos += 1;
                let mut out = String::new();
                loop {
                    match self.peek() {
                        None => {
                            return Err(ParseError {
                                position: start,
                                expected: format!("a closing {q}"),
                            })
                        }
                        Some('\\') => {
                            self.pos += 1;
                            match self.peek() {
                                Some(c) => {
                                    out.push(c);
                                    self.pos += c.len_utf8();
                                }
                                None => return Err(self.err("a character after '\\'")),
                            }
                        }
                        Some(c) if c == q => {
                            self.pos += 1;
                            return Ok(out);
                        }
                        Some(c) => {
                            out.push(c);
                            self.pos += c.len_utf8();
                        }
                    }
                }
            }
            _ => {
                let len = self
                    .rest()
                    .find(|c: char| {
                        c.is_whitespace() || matches!(c, ';' | ',' | '(' | ')' | '"' | '\'')
                    })
                    .unwrap_or(self.rest().len());
                if len == 0 {
                    return Err(self.err("a value"));
                }
                let v = self.rest()[..len].to_owned();
                self.pos += len;
                Ok(v)
            }
        }
    }
}

impl Node {
    /// Calls `f` on every comparison.
    pub fn for_each_comparison<'a>(&'a self, f: &mut impl FnMut(&'a Comparison)) {
        match self {
            Node::And(v) | Node::Or(v) => v.iter().for_each(|n| n.for_each_comparison(f)),
            Node::Cmp(c) => f(c),
        }
    }

    /// Whether the query names development devices explicitly: it compares the
    /// `development` attribute, or the tag or target type `development`. Such a query may
    /// select development devices; others never do (see [`Node::named_controller_ids`]).
    pub fn mentions_development(&self) -> bool {
        let mut found = false;
        self.for_each_comparison(&mut |c| match &c.field {
            Field::Attribute(k) if k.eq_ignore_ascii_case(DEVELOPMENT) => found = true,
            Field::Tag | Field::TargetType
                if matches!(c.op, Op::Eq | Op::In)
                    && c.values.iter().any(|v| v.eq_ignore_ascii_case(DEVELOPMENT)) =>
            {
                found = true;
            }
            _ => {}
        });
        found
    }

    /// Controller ids the query names exactly (`controllerid==x` or `=in=` without wildcards).
    pub fn named_controller_ids(&self) -> Vec<String> {
        let mut out = Vec::new();
        self.for_each_comparison(&mut |c| {
            if c.field == Field::ControllerId && matches!(c.op, Op::Eq | Op::In) {
                out.extend(c.values.iter().filter(|v| !v.contains('*')).cloned());
            }
        });
        out
    }
}

/// The tag, target type and attribute name that mark development devices.
pub const DEVELOPMENT: &str = "development";

#[cfg(test)]
mod tests {
    use super::*;

    fn cmp(field: Field, op: Op, values: &[&str]) -> Node {
        Node::Cmp(Comparison {
            field,
            op,
            values: values.iter().map(|s| (*s).to_owned()).collect(),
        })
    }

    #[test]
    fn parses_hawkbit_examples() {
        assert_eq!(
            parse("attribute.hw_revision==rev-b;updatestatus==error").unwrap(),
            Node::And(vec![
                cmp(Field::Attribute("hw_revision".into()), Op::Eq, &["rev-b"]),
                cmp(Field::UpdateStatus, Op::Eq, &["error"]),
            ])
        );
        assert_eq!(
            parse("name==dev*,controllerid!=x").unwrap(),
            Node::Or(vec![
                cmp(Field::Name, Op::Eq, &["dev*"]),
                cmp(Field::ControllerId, Op::Ne, &["x"]),
            ])
        );
    }

    #[test]
    fn and_binds_tighter_than_or_and_parentheses_override() {
        let a = cmp(Field::Name, Op::Eq, &["a"]);
        let b = cmp(Field::Name, Op::Eq, &["b"]);
        let c = cmp(Field::Name, Op::Eq, &["c"]);
        assert_eq!(
            parse("name==a,name==b;name==c").unwrap(),
            Node::Or(vec![a.clone(), Node::And(vec![b.clone(), c.clone()])])
        );
        assert_eq!(
            parse("(name==a,name==b);name==c").unwrap(),
            Node::And(vec![Node::Or(vec![a.clone(), b.clone()]), c.clone()])
        );
        assert_eq!(
            parse("name==a or name==b and name==c").unwrap(),
            Node::Or(vec![a, Node::And(vec![b, c])])
        );
    }

    #[test]
    fn lists_quotes_and_field_aliases() {
        assert_eq!(
            parse("tag=in=(a, 'b c',\"d;e\")").unwrap(),
            cmp(Field::Tag, Op::In, &["a", "b c", "d;e"])
        );
        assert_eq!(
            parse("TargetType.Name=OUT=(x)").unwrap(),
            cmp(Field::TargetType, Op::Out, &["x"])
        );
        assert_eq!(
            parse("installedds.version==1.*").unwrap(),
            cmp(Field::InstalledDsVersion, Op::Eq, &["1.*"])
        );
        assert_eq!(
            parse(" group == 'line 1' ").unwrap(),
            cmp(Field::Group, Op::Eq, &["line 1"])
        );
    }

    #[test]
    fn errors_name_position_and_expectation() {
        let e = parse("name=dev").unwrap_err();
        assert_eq!(e.position, 4);
        assert!(e.expected.contains("operator"), "{e}");
        let e = parse("colour==red").unwrap_err();
        assert_eq!(e.position, 0);
        assert!(e.expected.contains("known field"), "{e}");
        let e = parse("(name==a;name==b").unwrap_err();
        assert_eq!(e.position, 16);
        assert_eq!(e.expected, "')'");
        let e = parse("name==a;").unwrap_err();
        assert_eq!(e.position, 8);
        let e = parse("tag=in=(a,b").unwrap_err();
        assert!(e.expected.contains("')'"), "{e}");
        let e = parse("name=='abc").unwrap_err();
        assert_eq!(e.position, 6);
        let e = parse("updatestatus==broken").unwrap_err();
        assert!(e.expected.contains("in_sync"), "{e}");
        assert!(parse("").is_err());
        assert!(parse("name==a)").unwrap_err().expected.contains("end"));
        assert!(e.to_string().starts_with("invalid query at position 0"));
        let deep = "(".repeat(100) + "name==a" + &")".repeat(100);
        assert!(parse(&deep).is_err());
    }

    #[test]
    fn development_markers_and_named_ids() {
        assert!(parse("attribute.development==true")
            .unwrap()
            .mentions_development());
        assert!(parse("name==x;tag==Development")
            .unwrap()
            .mentions_development());
        assert!(!parse("tag!=development").unwrap().mentions_development());
        assert!(!parse("name==x").unwrap().mentions_development());
        assert_eq!(
            parse("controllerid=in=(a,b*,c),controllerid==d")
                .unwrap()
                .named_controller_ids(),
            vec!["a", "c", "d"]
        );
    }
}
