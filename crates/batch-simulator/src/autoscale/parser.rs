//! Tokens to statements: a recursive-descent parser, one function per precedence level.
//!
//! ```text
//! formula    := statement? (';' statement?)*
//! statement  := NAME '=' expr | expr
//! expr       := or ('?' expr ':' expr)?            right-associative
//! or         := and ('||' and)*
//! and        := equality ('&&' equality)*
//! equality   := relation (('==' | '!=') relation)*
//! relation   := additive (('<' | '<=' | '>' | '>=') additive)*
//! additive   := term (('+' | '-') term)*
//! term       := unary (('*' | '/') unary)*
//! unary      := ('-' | '+' | '!') unary | postfix
//! postfix    := primary ('.' NAME ('(' args ')')?)*
//! primary    := NUMBER | STRING | NAME ('(' args ')')? | '(' expr ')'
//! ```
//!
//! Every node keeps the position of its first token (a binary node: its operator), so
//! an evaluation error can say where, as Batch's messages do.

use super::FormulaError;
use super::lexer::{Pos, Tok, tokenize};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum UnOp {
    Neg,
    Not,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BinOp {
    Add,
    Sub,
    Mul,
    Div,
    Lt,
    Le,
    Gt,
    Ge,
    Eq,
    Ne,
    And,
    Or,
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Expr {
    Num(f64),
    Str(String),
    Name(String, Pos),
    Unary(UnOp, Box<Expr>, Pos),
    Binary(BinOp, Box<Expr>, Box<Expr>, Pos),
    Ternary(Box<Expr>, Box<Expr>, Box<Expr>, Pos),
    /// `name(args)`: a built-in function.
    Call(String, Vec<Expr>, Pos),
    /// `x.Name(args)`: a method of a sampled variable.
    Method(Box<Expr>, String, Vec<Expr>, Pos),
    /// `x.name`: a field of a timestamp.
    Field(Box<Expr>, String, Pos),
}

#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Stmt {
    Assign(String, Pos, Expr),
    Expr(Expr, Pos),
}

/// The longest formula Batch accepts, in characters.
pub(crate) const MAX_FORMULA_CHARS: usize = 8192;
/// The most statements Batch accepts.
pub(super) const MAX_STATEMENTS: usize = 100;

/// Parse a whole formula.
pub(super) fn parse(src: &str) -> Result<Vec<Stmt>, FormulaError> {
    let toks = tokenize(src)?;
    let mut p = Parser { toks, i: 0 };
    let mut out = Vec::new();
    loop {
        while p.eat(&Tok::Semi) {}
        if p.peek() == &Tok::End {
            break;
        }
        out.push(p.statement()?);
        if out.len() > MAX_STATEMENTS {
            return Err(FormulaError::syntax(
                p.pos(),
                format!("A formula holds at most {MAX_STATEMENTS} statements"),
            ));
        }
        match p.peek() {
            Tok::Semi => {}
            Tok::End => break,
            other => {
                let msg = format!("Unexpected {}; expected ';'", other.describe());
                return Err(FormulaError::syntax(p.pos(), msg));
            }
        }
    }
    Ok(out)
}

struct Parser {
    toks: Vec<(Tok, Pos)>,
    i: usize,
}

impl Parser {
    fn peek(&self) -> &Tok {
        &self.toks[self.i.min(self.toks.len() - 1)].0
    }

    fn peek2(&self) -> &Tok {
        &self.toks[(self.i + 1).min(self.toks.len() - 1)].0
    }

    fn pos(&self) -> Pos {
        self.toks[self.i.min(self.toks.len() - 1)].1
    }

    fn bump(&mut self) -> (Tok, Pos) {
        let t = self.toks[self.i.min(self.toks.len() - 1)].clone();
        if self.i < self.toks.len() - 1 {
            self.i += 1;
        }
        t
    }

    fn eat(&mut self, t: &Tok) -> bool {
        if self.peek() == t {
            self.bump();
            true
        } else {
            false
        }
    }

    fn expect(&mut self, t: &Tok, what: &str) -> Result<(), FormulaError> {
        if self.eat(t) {
            Ok(())
        } else {
            let msg = format!("Unexpected {}; expected {what}", self.peek().describe());
            Err(FormulaError::syntax(self.pos(), msg))
        }
    }

    fn statement(&mut self) -> Result<Stmt, FormulaError> {
        let pos = self.pos();
        if let (Tok::Ident(name), Tok::Assign) = (self.peek().clone(), self.peek2()) {
            self.bump();
            self.bump();
            return Ok(Stmt::Assign(name, pos, self.expr()?));
        }
        Ok(Stmt::Expr(self.expr()?, pos))
    }

    fn expr(&mut self) -> Result<Expr, FormulaError> {
        let cond = self.or()?;
        if self.peek() == &Tok::Question {
            let (_, pos) = self.bump();
            let yes = self.expr()?;
            self.expect(&Tok::Colon, "':'")?;
            let no = self.expr()?;
            return Ok(Expr::Ternary(
                Box::new(cond),
                Box::new(yes),
                Box::new(no),
                pos,
            ));
        }
        Ok(cond)
    }

    /// One left-associative level: `next (op next)*` for the operators in `ops`.
    fn level(
        &mut self,
        ops: &[(Tok, BinOp)],
        next: fn(&mut Self) -> Result<Expr, FormulaError>,
    ) -> Result<Expr, FormulaError> {
        let mut left = next(self)?;
        loop {
            let Some(op) = ops
                .iter()
                .find(|(t, _)| t == self.peek())
                .map(|(_, op)| *op)
            else {
                return Ok(left);
            };
            let (_, pos) = self.bump();
            let right = next(self)?;
            left = Expr::Binary(op, Box::new(left), Box::new(right), pos);
        }
    }

    fn or(&mut self) -> Result<Expr, FormulaError> {
        self.level(&[(Tok::OrOr, BinOp::Or)], Self::and)
    }

    fn and(&mut self) -> Result<Expr, FormulaError> {
        self.level(&[(Tok::AndAnd, BinOp::And)], Self::equality)
    }

    fn equality(&mut self) -> Result<Expr, FormulaError> {
        self.level(
            &[(Tok::Eq, BinOp::Eq), (Tok::Ne, BinOp::Ne)],
            Self::relation,
        )
    }

    fn relation(&mut self) -> Result<Expr, FormulaError> {
        self.level(
            &[
                (Tok::Lt, BinOp::Lt),
                (Tok::Le, BinOp::Le),
                (Tok::Gt, BinOp::Gt),
                (Tok::Ge, BinOp::Ge),
            ],
            Self::additive,
        )
    }

    fn additive(&mut self) -> Result<Expr, FormulaError> {
        self.level(
            &[(Tok::Plus, BinOp::Add), (Tok::Minus, BinOp::Sub)],
            Self::term,
        )
    }

    fn term(&mut self) -> Result<Expr, FormulaError> {
        self.level(
            &[(Tok::Star, BinOp::Mul), (Tok::Slash, BinOp::Div)],
            Self::unary,
        )
    }

    fn unary(&mut self) -> Result<Expr, FormulaError> {
        let pos = self.pos();
        match self.peek() {
            Tok::Minus => {
                self.bump();
                Ok(Expr::Unary(UnOp::Neg, Box::new(self.unary()?), pos))
            }
            Tok::Bang => {
                self.bump();
                Ok(Expr::Unary(UnOp::Not, Box::new(self.unary()?), pos))
            }
            Tok::Plus => {
                self.bump();
                self.unary()
            }
            _ => self.postfix(),
        }
    }

    /// A method call or field read is placed where its receiver starts, so an error in
    /// `$PendingTasks.GetSample(1)` points at `$PendingTasks`.
    fn postfix(&mut self) -> Result<Expr, FormulaError> {
        let pos = self.pos();
        let mut e = self.primary()?;
        while self.peek() == &Tok::Dot {
            self.bump();
            let Tok::Ident(name) = self.peek().clone() else {
                let msg = format!("Unexpected {}; expected a name", self.peek().describe());
                return Err(FormulaError::syntax(self.pos(), msg));
            };
            self.bump();
            if self.peek() == &Tok::LParen {
                let args = self.args()?;
                e = Expr::Method(Box::new(e), name, args, pos);
            } else {
                e = Expr::Field(Box::new(e), name, pos);
            }
        }
        Ok(e)
    }

    fn args(&mut self) -> Result<Vec<Expr>, FormulaError> {
        self.expect(&Tok::LParen, "'('")?;
        let mut args = Vec::new();
        if self.eat(&Tok::RParen) {
            return Ok(args);
        }
        loop {
            args.push(self.expr()?);
            if self.eat(&Tok::Comma) {
                continue;
            }
            self.expect(&Tok::RParen, "',' or ')'")?;
            return Ok(args);
        }
    }

    fn primary(&mut self) -> Result<Expr, FormulaError> {
        let (tok, pos) = self.bump();
        match tok {
            Tok::Number(n) => Ok(Expr::Num(n)),
            Tok::Str(s) => Ok(Expr::Str(s)),
            Tok::Ident(name) => {
                if self.peek() == &Tok::LParen {
                    let args = self.args()?;
                    Ok(Expr::Call(name, args, pos))
                } else {
                    Ok(Expr::Name(name, pos))
                }
            }
            Tok::LParen => {
                let e = self.expr()?;
                self.expect(&Tok::RParen, "')'")?;
                Ok(e)
            }
            other => Err(FormulaError::syntax(
                pos,
                format!("Unexpected {}; expected a value", other.describe()),
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn precedence_binds_as_in_c() {
        let s = parse("$x = 1 + 2 * 3 > 6 && !0 ? 10 : 20").unwrap();
        let Stmt::Assign(name, _, Expr::Ternary(cond, yes, no, _)) = &s[0] else {
            panic!("{s:?}")
        };
        assert_eq!(name, "$x");
        assert!(matches!(**cond, Expr::Binary(BinOp::And, _, _, _)));
        assert_eq!((&**yes, &**no), (&Expr::Num(10.0), &Expr::Num(20.0)));
    }

    #[test]
    fn methods_and_fields_chain_on_names() {
        let s = parse("$PendingTasks.GetSample(1); time().hour").unwrap();
        assert!(
            matches!(&s[0], Stmt::Expr(Expr::Method(_, m, a, _), _) if m == "GetSample" && a.len() == 1)
        );
        assert!(matches!(&s[1], Stmt::Expr(Expr::Field(_, f, _), _) if f == "hour"));
    }

    #[test]
    fn empty_statements_and_a_trailing_semicolon_are_fine() {
        assert_eq!(parse(";;$a = 1;;").unwrap().len(), 1);
        assert!(parse("").unwrap().is_empty());
    }

    #[test]
    fn syntax_errors_say_where() {
        let e = parse("$a = 1;\n$b = (2 + ;").unwrap_err();
        assert_eq!(
            e.to_string(),
            "Line 2, Col 11: Unexpected ';'; expected a value"
        );
        assert_eq!(
            parse("$a = 1 $b = 2").unwrap_err().to_string(),
            "Line 1, Col 8: Unexpected '$b'; expected ';'"
        );
        assert!(parse("$a = max(1, 2").is_err());
    }
}
