//! Pool ids, checked before they reach a URL.
//!
//! Batch allows letters, digits, hyphens and underscores, at most 64 of them.
//! Anything else is refused here, so a request can never smuggle a `/`, `?` or
//! `%2F` into the path of a Batch call.
//!
//! Batch ids are case-preserving and case-insensitive: `P1` and `p1` name the
//! same pool. So two `PoolId`s are equal (and hash alike) when they differ
//! only in case, wherever the handler compares them (the allowlist, the
//! looks shared per pool); each keeps the spelling it was given.

use std::fmt;
use std::hash::{Hash, Hasher};
use std::str::FromStr;

#[derive(Debug, Clone)]
pub(crate) struct PoolId(String);

impl PartialEq for PoolId {
    fn eq(&self, other: &Self) -> bool {
        self.0.eq_ignore_ascii_case(&other.0)
    }
}

impl Eq for PoolId {}

impl Hash for PoolId {
    fn hash<H: Hasher>(&self, state: &mut H) {
        for byte in self.0.bytes() {
            state.write_u8(byte.to_ascii_lowercase());
        }
        state.write_u8(0xff);
    }
}

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
    fn ids_differing_only_in_case_are_one_pool_spelled_as_given() {
        let upper: PoolId = "ADF-Pool_1".parse().unwrap();
        let lower: PoolId = "adf-pool_1".parse().unwrap();
        assert_eq!(upper, lower);
        assert_ne!(upper, "adf-pool_2".parse::<PoolId>().unwrap());
        let set: std::collections::HashSet<PoolId> = [upper.clone(), lower].into();
        assert_eq!(set.len(), 1);
        assert_eq!(upper.to_string(), "ADF-Pool_1");
        assert_eq!(upper.as_str(), "ADF-Pool_1");
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
