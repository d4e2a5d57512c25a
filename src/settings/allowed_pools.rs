//! Which pools requests, the schedule and the forecast may touch.

use crate::batch::PoolId;

/// Which pools HTTP requests may name. A leaked function key must not be
/// able to resize every pool in the account, so the default is the one
/// pool the app is for (`BATCH_POOL_ID`); `*` opens it to all, on purpose.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum AllowedPools {
    Any,
    Only(Vec<PoolId>),
}

impl AllowedPools {
    pub(crate) const NONE_SET: &str = "neither BATCH_POOL_ID nor ALLOWED_POOLS is set, so no request could name a pool: set BATCH_POOL_ID to the pool this app resizes, or ALLOWED_POOLS to a comma-separated list (or * for every pool in the account)";

    /// `ALLOWED_POOLS`, else the default pool alone.
    pub(super) fn read(
        get: &impl Fn(&str) -> Option<String>,
        default_pool_id: Option<&PoolId>,
        problems: &mut Vec<String>,
    ) -> Self {
        match get("ALLOWED_POOLS") {
            Some(raw) if raw == "*" => AllowedPools::Any,
            Some(raw) => {
                let mut ids = Vec::new();
                for id in raw.split(',').map(str::trim).filter(|id| !id.is_empty()) {
                    match id.parse::<PoolId>() {
                        Ok(id) => ids.push(id),
                        Err(e) => problems
                            .push(format!("ALLOWED_POOLS: '{id}' is not a valid pool id: {e}")),
                    }
                }
                if ids.is_empty() {
                    problems.push("ALLOWED_POOLS is empty: list pool ids separated by commas, or * for every pool".to_owned());
                }
                AllowedPools::Only(ids)
            }
            // Nothing allowed: the HTTP handler refuses to start on that
            // (`AllowedPools::NONE_SET`); the CLI, which holds the credentials
            // itself, does not need the list.
            None => AllowedPools::Only(default_pool_id.into_iter().cloned().collect()),
        }
    }

    pub(crate) fn is_empty(&self) -> bool {
        matches!(self, AllowedPools::Only(ids) if ids.is_empty())
    }

    /// The list as a problem message shows it.
    fn describe(&self) -> String {
        match self {
            AllowedPools::Any => "*".to_owned(),
            AllowedPools::Only(ids) if ids.is_empty() => "none".to_owned(),
            AllowedPools::Only(ids) => ids
                .iter()
                .map(PoolId::as_str)
                .collect::<Vec<_>>()
                .join(", "),
        }
    }

    /// How a problem names the list: `ALLOWED_POOLS` when it is set, else
    /// what stands in for it.
    pub(super) fn named(&self, get: &impl Fn(&str) -> Option<String>) -> String {
        match get("ALLOWED_POOLS") {
            Some(_) => format!("ALLOWED_POOLS ({})", self.describe()),
            None => format!(
                "the pools requests may name (ALLOWED_POOLS is not set, so only BATCH_POOL_ID: {})",
                self.describe()
            ),
        }
    }

    /// Batch pool ids are case-insensitive, and so is `PoolId`'s equality.
    pub(crate) fn allows(&self, pool_id: &PoolId) -> bool {
        match self {
            AllowedPools::Any => true,
            AllowedPools::Only(ids) => ids.contains(pool_id),
        }
    }
}
