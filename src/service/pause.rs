//! An operator's pause: the mark written, then a look.

use super::{Served, Service};
use crate::batch::PoolId;
use crate::resizer::budget::STATUS_PATIENCE;
use crate::resizer::marks::Paused;
use crate::resizer::{PoolApi, PoolEdit, Want};

impl<B: PoolApi> Service<'_, B> {
    /// Pauses (`Some`) or unpauses (`None`) the pool, then looks at it.
    pub(crate) async fn pause(&self, pool_id: &PoolId, paused: Option<Paused>) -> Served {
        let want = Want::look(pool_id.clone());
        let edit = match paused {
            Some(paused) => PoolEdit::Pause(paused),
            None => PoolEdit::Unpause,
        };
        let budget = self.converger.budget(STATUS_PATIENCE);
        if let Err(error) = self.converger.edit_pool(pool_id, &edit, &budget).await {
            return Served {
                want,
                result: Err(error),
                not_written: Vec::new(),
            };
        }
        let result = self.converger.check_within(&want, &budget).await;
        Served {
            want,
            result,
            not_written: Vec::new(),
        }
    }
}
