//! Formula text to tokens, each with the line and column Batch quotes in its messages
//! (`Line 1, Col 1: ...`, both 1-based).
//!
//! Comments (`// ...` to the end of the line, `/* ... */`) and whitespace, line breaks
//! included, separate tokens and are otherwise ignored, as in the documentation's
//! examples, which are commented.

use super::FormulaError;

/// Where a token starts: 1-based line and column.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub(crate) struct Pos {
    pub line: u32,
    pub col: u32,
}

#[derive(Debug, Clone, PartialEq)]
pub(super) enum Tok {
    Number(f64),
    Str(String),
    /// A name, `$` included when it has one (`$PendingTasks`, `startingNumberOfVMs`).
    Ident(String),
    Semi,
    Comma,
    Dot,
    LParen,
    RParen,
    Question,
    Colon,
    Assign,
    Plus,
    Minus,
    Star,
    Slash,
    Bang,
    AndAnd,
    OrOr,
    Eq,
    Ne,
    Lt,
    Le,
    Gt,
    Ge,
    End,
}

impl Tok {
    /// How a message names the token.
    pub(super) fn describe(&self) -> String {
        match self {
            Tok::Number(n) => format!("'{n}'"),
            Tok::Str(s) => format!("'\"{s}\"'"),
            Tok::Ident(s) => format!("'{s}'"),
            Tok::End => "end of formula".into(),
            other => format!("'{}'", other.symbol()),
        }
    }

    fn symbol(&self) -> &'static str {
        match self {
            Tok::Semi => ";",
            Tok::Comma => ",",
            Tok::Dot => ".",
            Tok::LParen => "(",
            Tok::RParen => ")",
            Tok::Question => "?",
            Tok::Colon => ":",
            Tok::Assign => "=",
            Tok::Plus => "+",
            Tok::Minus => "-",
            Tok::Star => "*",
            Tok::Slash => "/",
            Tok::Bang => "!",
            Tok::AndAnd => "&&",
            Tok::OrOr => "||",
            Tok::Eq => "==",
            Tok::Ne => "!=",
            Tok::Lt => "<",
            Tok::Le => "<=",
            Tok::Gt => ">",
            Tok::Ge => ">=",
            _ => "",
        }
    }
}

/// The whole formula as tokens, ending with [`Tok::End`].
///
/// Longer than the house's 80 lines on purpose: one loop, one match on the
/// next character, an arm per token; split into helpers, each would have to
/// carry the position and the line/column bookkeeping the arms share.
pub(super) fn tokenize(src: &str) -> Result<Vec<(Tok, Pos)>, FormulaError> {
    let chars: Vec<char> = src.chars().collect();
    let mut out = Vec::new();
    let (mut i, mut line, mut col) = (0usize, 1u32, 1u32);
    // Moves past `n` characters, keeping line and column right.
    let advance = |i: &mut usize, line: &mut u32, col: &mut u32, n: usize| {
        for _ in 0..n {
            if chars.get(*i) == Some(&'\n') {
                *line += 1;
                *col = 1;
            } else {
                *col += 1;
            }
            *i += 1;
        }
    };
    while i < chars.len() {
        let c = chars[i];
        let pos = Pos { line, col };
        let next = chars.get(i + 1).copied();
        if c.is_whitespace() {
            advance(&mut i, &mut line, &mut col, 1);
            continue;
        }
        if c == '/' && next == Some('/') {
            while i < chars.len() && chars[i] != '\n' {
                advance(&mut i, &mut line, &mut col, 1);
            }
            continue;
        }
        if c == '/' && next == Some('*') {
            advance(&mut i, &mut line, &mut col, 2);
            loop {
                if i >= chars.len() {
                    return Err(FormulaError::syntax(pos, "Unterminated comment"));
                }
                if chars[i] == '*' && chars.get(i + 1) == Some(&'/') {
                    advance(&mut i, &mut line, &mut col, 2);
                    break;
                }
                advance(&mut i, &mut line, &mut col, 1);
            }
            continue;
        }
        if c.is_ascii_digit() || (c == '.' && next.is_some_and(|d| d.is_ascii_digit())) {
            let start = i;
            let mut j = i;
            while j < chars.len() && chars[j].is_ascii_digit() {
                j += 1;
            }
            if j < chars.len() && chars[j] == '.' {
                j += 1;
                while j < chars.len() && chars[j].is_ascii_digit() {
                    j += 1;
                }
            }
            if j < chars.len() && (chars[j] == 'e' || chars[j] == 'E') {
                let mut k = j + 1;
                if k < chars.len() && (chars[k] == '+' || chars[k] == '-') {
                    k += 1;
                }
                if k < chars.len() && chars[k].is_ascii_digit() {
                    while k < chars.len() && chars[k].is_ascii_digit() {
                        k += 1;
                    }
                    j = k;
                }
            }
            let text: String = chars[start..j].iter().collect();
            let n: f64 = text
                .parse()
                .map_err(|_| FormulaError::syntax(pos, format!("Invalid number: {text}")))?;
            out.push((Tok::Number(n), pos));
            advance(&mut i, &mut line, &mut col, j - start);
            continue;
        }
        if c == '$' || c == '_' || c.is_ascii_alphabetic() {
            let start = i;
            let mut j = i + 1;
            while j < chars.len() && (chars[j] == '_' || chars[j].is_ascii_alphanumeric()) {
                j += 1;
            }
            if c == '$' && j == i + 1 {
                return Err(FormulaError::syntax(pos, "Unexpected character: '$'"));
            }
            out.push((Tok::Ident(chars[start..j].iter().collect()), pos));
            advance(&mut i, &mut line, &mut col, j - start);
            continue;
        }
        if c == '"' {
            let mut j = i + 1;
            while j < chars.len() && chars[j] != '"' && chars[j] != '\n' {
                j += 1;
            }
            if j >= chars.len() || chars[j] != '"' {
                return Err(FormulaError::syntax(pos, "Unterminated string"));
            }
            out.push((Tok::Str(chars[i + 1..j].iter().collect()), pos));
            let len = j + 1 - i;
            advance(&mut i, &mut line, &mut col, len);
            continue;
        }
        let two = next.map(|n| [c, n]);
        let (tok, len) = match two {
            Some(['&', '&']) => (Tok::AndAnd, 2),
            Some(['|', '|']) => (Tok::OrOr, 2),
            Some(['=', '=']) => (Tok::Eq, 2),
            Some(['!', '=']) => (Tok::Ne, 2),
            Some(['<', '=']) => (Tok::Le, 2),
            Some(['>', '=']) => (Tok::Ge, 2),
            _ => match c {
                ';' => (Tok::Semi, 1),
                ',' => (Tok::Comma, 1),
                '.' => (Tok::Dot, 1),
                '(' => (Tok::LParen, 1),
                ')' => (Tok::RParen, 1),
                '?' => (Tok::Question, 1),
                ':' => (Tok::Colon, 1),
                '=' => (Tok::Assign, 1),
                '+' => (Tok::Plus, 1),
                '-' => (Tok::Minus, 1),
                '*' => (Tok::Star, 1),
                '/' => (Tok::Slash, 1),
                '!' => (Tok::Bang, 1),
                '<' => (Tok::Lt, 1),
                '>' => (Tok::Gt, 1),
                other => {
                    return Err(FormulaError::syntax(
                        pos,
                        format!("Unexpected character: '{other}'"),
                    ));
                }
            },
        };
        out.push((tok, pos));
        advance(&mut i, &mut line, &mut col, len);
    }
    out.push((Tok::End, Pos { line, col }));
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn toks(s: &str) -> Vec<Tok> {
        tokenize(s).unwrap().into_iter().map(|(t, _)| t).collect()
    }

    #[test]
    fn reads_names_numbers_and_operators() {
        assert_eq!(
            toks("$a=min(1.5e1,.5)>=2&&!b;"),
            vec![
                Tok::Ident("$a".into()),
                Tok::Assign,
                Tok::Ident("min".into()),
                Tok::LParen,
                Tok::Number(15.0),
                Tok::Comma,
                Tok::Number(0.5),
                Tok::RParen,
                Tok::Ge,
                Tok::Number(2.0),
                Tok::AndAnd,
                Tok::Bang,
                Tok::Ident("b".into()),
                Tok::Semi,
                Tok::End,
            ]
        );
    }

    #[test]
    fn skips_comments_and_counts_lines_and_columns() {
        let t = tokenize("// first\n  $x = 1; /* a\n b */ $y").unwrap();
        assert_eq!(t[0].1, Pos { line: 2, col: 3 });
        let y = t
            .iter()
            .find(|(t, _)| *t == Tok::Ident("$y".into()))
            .unwrap();
        assert_eq!(y.1, Pos { line: 3, col: 7 });
    }

    #[test]
    fn refuses_stray_characters_where_they_are() {
        let e = tokenize("$a = 1 # 2").unwrap_err();
        assert_eq!(e.to_string(), "Line 1, Col 8: Unexpected character: '#'");
    }
}
