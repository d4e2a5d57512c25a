//! The node caps every face enforces (`MAX_*_NODES`), checked once here.

/// The most nodes any request may ask for, so a leaked key or script cannot
/// run up a bill (`MAX_DEDICATED_NODES`, `MAX_LOW_PRIORITY_NODES`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Limits {
    pub max_dedicated: u32,
    pub max_low_priority: u32,
}

/// A count above its cap: which, how many, the cap and the setting.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{what} is {asked}, above the limit of {max} ({setting})")]
pub(crate) struct OverLimit {
    pub what: &'static str,
    pub asked: u32,
    pub max: u32,
    pub setting: &'static str,
}

impl Limits {
    /// What the leases' need is capped by: (dedicated, low-priority).
    pub(crate) fn caps(&self) -> (u32, u32) {
        (self.max_dedicated, self.max_low_priority)
    }

    /// Checks both counts; `names` say how the face calls them
    /// (`dedicatedNodes` over HTTP, `--dedicated` on the command line).
    pub(crate) fn check(
        &self,
        dedicated: u32,
        low_priority: u32,
        names: (&'static str, &'static str),
    ) -> Result<(), OverLimit> {
        if dedicated > self.max_dedicated {
            return Err(OverLimit {
                what: names.0,
                asked: dedicated,
                max: self.max_dedicated,
                setting: "MAX_DEDICATED_NODES",
            });
        }
        if low_priority > self.max_low_priority {
            return Err(OverLimit {
                what: names.1,
                asked: low_priority,
                max: self.max_low_priority,
                setting: "MAX_LOW_PRIORITY_NODES",
            });
        }
        Ok(())
    }
}
