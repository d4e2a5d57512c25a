//! The Batch client a strategy drives pool-resizer's library with: every call counted
//! for the table's "Batch calls" column, and flown through [`Flight`](crate::simday::flight::Flight) so it takes no
//! simulated time.

use std::sync::atomic::Ordering;

use super::Ctx;
use crate::batch::BatchError;
use crate::batch::PoolId;
use crate::batch::models::{MetadataItem, Node, Pool, ResizePool};
use crate::resizer::PoolApi;

/// The Batch client, counting every call the resizer makes (each taking no simulated
/// time, see [`Flight`](crate::simday::flight::Flight)).
pub(super) struct Counted<'a>(pub(super) &'a Ctx);

impl Counted<'_> {
    fn count(&self) {
        self.0.strategy_calls.fetch_add(1, Ordering::Relaxed);
    }
}

impl PoolApi for Counted<'_> {
    fn get_pool(&self, pool_id: &PoolId) -> impl Future<Output = Result<Pool, BatchError>> + Send {
        self.count();
        self.0.flight.around(self.0.batch.get_pool(pool_id))
    }
    fn list_nodes(
        &self,
        pool_id: &PoolId,
    ) -> impl Future<Output = Result<Vec<Node>, BatchError>> + Send {
        self.count();
        self.0.flight.around(self.0.batch.list_nodes(pool_id, None))
    }
    fn resize_pool(
        &self,
        pool_id: &PoolId,
        body: &ResizePool,
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<(), BatchError>> + Send {
        self.count();
        self.0
            .flight
            .around(self.0.batch.resize_pool(pool_id, body, if_match))
    }
    fn stop_resize(
        &self,
        pool_id: &PoolId,
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<(), BatchError>> + Send {
        self.count();
        self.0
            .flight
            .around(self.0.batch.stop_resize(pool_id, if_match))
    }
    fn remove_nodes(
        &self,
        pool_id: &PoolId,
        node_ids: &[String],
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<(), BatchError>> + Send {
        self.count();
        self.0
            .flight
            .around(self.0.batch.remove_nodes(pool_id, node_ids, if_match))
    }
    fn replace_pool_metadata(
        &self,
        pool_id: &PoolId,
        metadata: &[MetadataItem],
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<(), BatchError>> + Send {
        self.count();
        self.0.flight.around(
            self.0
                .batch
                .replace_pool_metadata(pool_id, metadata, if_match),
        )
    }
}
