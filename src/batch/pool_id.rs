//! Pool ids, checked before they reach a URL.
//!
//! Batch allows letters, digits, hyphens and underscores, at most 64 of them.
//! Anything else is refused here, so a request can never smuggle a `/`, `?` or
//! `%2F` into the path of a Batch call.

use std::fmt;
use std::str::FromStr;

#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub(crate) struct PoolId(String);

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub(crate) enum InvalidPoolId {
    #[error("a pool id must not be empty")]
    Empty,
    #[error("a pool id has at most 64 characters; this one has {0}")]
    TooLong(usize),
    #[error("a pool id may contain only letters, digits, '-' and '_'")]
    BadCharacter,
}

impl PoolId {
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
}

impl FromStr for PoolId {
    type Err = InvalidPoolId;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        if s.is_empty() {
            return Err(InvalidPoolId::Empty);
        }
        let length = s.chars().count();
        if length > 64 {
            return Err(InvalidPoolId::TooLong(length));
        }
        if !s
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
        {
            return Err(InvalidPoolId::BadCharacter);
        }
        Ok(Self(s.to_owned()))
    }
}

impl fmt::Display for PoolId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn accepts_what_batch_accepts() {
        for ok in ["p", "adf-pool_01", &"a".repeat(64)] {
            assert!(ok.parse::<PoolId>().is_ok(), "{ok}");
        }
    }

    #[test]
    fn refuses_what_could_escape_the_path() {
        for bad in [
            "",
            "a/b",
            "a?b",
            "..",
            "a%2Fb",
            "a b",
            "pööl",
            &"a".repeat(65),
        ] {
            assert!(bad.parse::<PoolId>().is_err(), "{bad}");
        }
    }
}
