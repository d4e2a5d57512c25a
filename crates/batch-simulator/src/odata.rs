//! `$filter` and `$select`, the small OData subset Batch list/get calls use.
//!
//! Filters are parsed into an [`Expr`] tree and evaluated against the entity's *wire*
//! JSON (so a filter sees exactly the fields and values a client would see):
//!
//! ```text
//! expr    := and ("or" and)*
//! and     := unary ("and" unary)*
//! unary   := "not" unary | "(" expr ")" | path op literal
//!          | "startswith(" path "," 'text' ")"
//! path    := name ("/" name)*            e.g. state, startTaskInfo/state
//! op      := eq | ne | gt | ge | lt | le
//! literal := 'text' | number | true | false | datetime'2026-01-01T00:00:00Z'
//! ```
//!
//! String comparison is case-sensitive for values (the service's enum values are all
//! lower-case already). A path that does not exist compares as "no value": `eq` is false,
//! `ne` is true.

use serde_json::Value;

/// A parse error, reported to the client as 400 `InvalidQueryParameterValue`.
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
#[error("invalid $filter: {0}")]
pub(crate) struct FilterError(pub String);

#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) enum Op {
    Eq,
    Ne,
    Gt,
    Ge,
    Lt,
    Le,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Lit {
    Str(String),
    Num(f64),
    Bool(bool),
}

impl std::fmt::Display for Lit {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Lit::Str(s) => write!(f, "'{s}'"),
            Lit::Num(n) => write!(f, "{n}"),
            Lit::Bool(b) => write!(f, "{b}"),
        }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    And(Box<Expr>, Box<Expr>),
    Or(Box<Expr>, Box<Expr>),
    Not(Box<Expr>),
    Cmp(Vec<String>, Op, Lit),
    /// `startswith(path, 'prefix')` (ids and file names, per the service's filter docs).
    StartsWith(Vec<String>, String),
}

#[derive(Debug, Clone, PartialEq)]
enum Tok {
    Word(String),
    Str(String),
    LParen,
    RParen,
    Comma,
}

fn tokenize(s: &str) -> Result<Vec<Tok>, FilterError> {
    let mut out = Vec::new();
    let chars: Vec<char> = s.chars().collect();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c.is_whitespace() {
            i += 1;
        } else if c == '(' {
            out.push(Tok::LParen);
            i += 1;
        } else if c == ')' {
            out.push(Tok::RParen);
            i += 1;
        } else if c == ',' {
            out.push(Tok::Comma);
            i += 1;
        } else if c == '\'' {
            // OData escapes a quote by doubling it.
            let mut text = String::new();
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(FilterError("unterminated string literal".into())),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        text.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(ch) => {
                        text.push(*ch);
                        i += 1;
                    }
                }
            }
            out.push(Tok::Str(text));
        } else {
            let mut w = String::new();
            while let Some(ch) = chars.get(i) {
                if ch.is_whitespace() || matches!(*ch, '(' | ')' | '\'' | ',') {
                    break;
                }
                w.push(*ch);
                i += 1;
            }
            // datetime'...' literal: keep the quoted part as a string literal.
            if w.eq_ignore_ascii_case("datetime") && chars.get(i) == Some(&'\'') {
                continue;
            }
            out.push(Tok::Word(w));
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<Tok>,
    pos: usize,
}

impl Parser {
    fn peek_word(&self, w: &str) -> bool {
        matches!(self.toks.get(self.pos), Some(Tok::Word(x)) if x.eq_ignore_ascii_case(w))
    }

    fn expr(&mut self) -> Result<Expr, FilterError> {
        self.chain("or", Self::and, Expr::Or)
    }

    fn and(&mut self) -> Result<Expr, FilterError> {
        self.chain("and", Self::unary, Expr::And)
    }

    /// One precedence level: `next`-level operands joined by `word`, left-associative
    /// (`a or b or c` is `(a or b) or c`).
    fn chain(
        &mut self,
        word: &str,
        next: fn(&mut Self) -> Result<Expr, FilterError>,
        join: fn(Box<Expr>, Box<Expr>) -> Expr,
    ) -> Result<Expr, FilterError> {
        let mut left = next(self)?;
        while self.peek_word(word) {
            self.pos += 1;
            let right = next(self)?;
            left = join(Box::new(left), Box::new(right));
        }
        Ok(left)
    }

    fn unary(&mut self) -> Result<Expr, FilterError> {
        if self.peek_word("not") {
            self.pos += 1;
            return Ok(Expr::Not(Box::new(self.unary()?)));
        }
        match self.toks.get(self.pos).cloned() {
            Some(Tok::LParen) => {
                self.pos += 1;
                let e = self.expr()?;
                if self.toks.get(self.pos) != Some(&Tok::RParen) {
                    return Err(FilterError("missing ')'".into()));
                }
                self.pos += 1;
                Ok(e)
            }
            Some(Tok::Word(f))
                if f.eq_ignore_ascii_case("startswith")
                    && self.toks.get(self.pos + 1) == Some(&Tok::LParen) =>
            {
                let path = match self.toks.get(self.pos + 2) {
                    Some(Tok::Word(p)) => p.split('/').map(str::to_string).collect(),
                    _ => return Err(FilterError("startswith needs a property".into())),
                };
                let prefix = match (self.toks.get(self.pos + 3), self.toks.get(self.pos + 4)) {
                    (Some(Tok::Comma), Some(Tok::Str(s))) => s.clone(),
                    _ => return Err(FilterError("startswith needs a string literal".into())),
                };
                if self.toks.get(self.pos + 5) != Some(&Tok::RParen) {
                    return Err(FilterError("missing ')'".into()));
                }
                self.pos += 6;
                Ok(Expr::StartsWith(path, prefix))
            }
            Some(Tok::Word(path)) => {
                self.pos += 1;
                let op = match self.toks.get(self.pos) {
                    Some(Tok::Word(o)) => match o.to_ascii_lowercase().as_str() {
                        "eq" => Op::Eq,
                        "ne" => Op::Ne,
                        "gt" => Op::Gt,
                        "ge" => Op::Ge,
                        "lt" => Op::Lt,
                        "le" => Op::Le,
                        other => return Err(FilterError(format!("unknown operator '{other}'"))),
                    },
                    _ => return Err(FilterError(format!("expected operator after '{path}'"))),
                };
                self.pos += 1;
                let lit = match self.toks.get(self.pos) {
                    Some(Tok::Str(s)) => Lit::Str(s.clone()),
                    Some(Tok::Word(w)) if w == "true" => Lit::Bool(true),
                    Some(Tok::Word(w)) if w == "false" => Lit::Bool(false),
                    Some(Tok::Word(w)) => Lit::Num(
                        w.parse()
                            .map_err(|_| FilterError(format!("bad literal '{w}'")))?,
                    ),
                    _ => return Err(FilterError("expected a literal".into())),
                };
                self.pos += 1;
                let path = path.split('/').map(str::to_string).collect();
                Ok(Expr::Cmp(path, op, lit))
            }
            _ => Err(FilterError("expected a comparison".into())),
        }
    }
}

/// Parse a `$filter` expression.
pub(crate) fn parse_filter(s: &str) -> Result<Expr, FilterError> {
    let toks = tokenize(s)?;
    if toks.is_empty() {
        return Err(FilterError("empty filter".into()));
    }
    let mut p = Parser { toks, pos: 0 };
    let e = p.expr()?;
    if p.pos != p.toks.len() {
        return Err(FilterError("unexpected trailing input".into()));
    }
    Ok(e)
}

fn lookup<'a>(v: &'a Value, path: &[String]) -> Option<&'a Value> {
    let mut cur = v;
    for seg in path {
        let obj = cur.as_object()?;
        cur = obj
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(seg))
            .map(|(_, v)| v)?;
    }
    Some(cur)
}

fn compare(v: &Value, lit: &Lit) -> Option<std::cmp::Ordering> {
    match (v, lit) {
        (Value::String(a), Lit::Str(b)) => Some(a.as_str().cmp(b.as_str())),
        (Value::Number(a), Lit::Num(b)) => a.as_f64()?.partial_cmp(b),
        (Value::Bool(a), Lit::Bool(b)) => Some(a.cmp(b)),
        _ => None,
    }
}

impl Expr {
    /// Does the entity (its wire JSON) match?
    pub(crate) fn matches(&self, v: &Value) -> bool {
        use std::cmp::Ordering::*;
        match self {
            Expr::And(a, b) => a.matches(v) && b.matches(v),
            Expr::Or(a, b) => a.matches(v) || b.matches(v),
            Expr::Not(a) => !a.matches(v),
            Expr::StartsWith(path, prefix) => lookup(v, path)
                .and_then(Value::as_str)
                .is_some_and(|s| s.starts_with(prefix.as_str())),
            Expr::Cmp(path, op, lit) => {
                let ord = lookup(v, path).and_then(|x| compare(x, lit));
                match (op, ord) {
                    (Op::Ne, None) => true,
                    (_, None) => false,
                    (Op::Eq, Some(o)) => o == Equal,
                    (Op::Ne, Some(o)) => o != Equal,
                    (Op::Gt, Some(o)) => o == Greater,
                    (Op::Ge, Some(o)) => o != Less,
                    (Op::Lt, Some(o)) => o == Less,
                    (Op::Le, Some(o)) => o != Greater,
                }
            }
        }
    }
}

/// Parse `$select=id,state` into the list of requested top-level names.
pub(crate) fn parse_select(s: &str) -> Vec<String> {
    s.split(',')
        .map(|x| x.trim().to_string())
        .filter(|x| !x.is_empty())
        .collect()
}

/// Keep only the selected top-level fields (and `odata.*` annotations).
pub(crate) fn apply_select(v: &mut Value, select: &[String]) {
    if let Value::Object(map) = v {
        map.retain(|k, _| {
            k.starts_with("odata.") || select.iter().any(|s| s.eq_ignore_ascii_case(k))
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn filters() {
        let idle =
            json!({"state":"idle","startTaskInfo":{"state":"completed"},"runningTasksCount":0});
        let run = json!({"state":"running","runningTasksCount":1});
        let f = parse_filter("state eq 'idle'").unwrap();
        assert!(f.matches(&idle) && !f.matches(&run));
        let f = parse_filter("state ne 'idle'").unwrap();
        assert!(!f.matches(&idle) && f.matches(&run));
        let f = parse_filter("(state eq 'idle' or state eq 'running') and runningTasksCount ge 1")
            .unwrap();
        assert!(!f.matches(&idle) && f.matches(&run));
        let f = parse_filter("startTaskInfo/state eq 'completed'").unwrap();
        assert!(f.matches(&idle) && !f.matches(&run));
        assert!(parse_filter("state eq").is_err());
        assert!(parse_filter("state foo 'x'").is_err());
        assert!(parse_filter("state eq 'x").is_err());
        assert!(parse_filter("").is_err());
        let f = parse_filter("startswith(id,'jssdk') and state eq 'idle'").unwrap();
        assert!(f.matches(&json!({"id":"jssdkPool","state":"idle"})));
        assert!(!f.matches(&json!({"id":"other","state":"idle"})));
        assert!(parse_filter("startswith(id 'x')").is_err());
    }
}
