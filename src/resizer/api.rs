//! The Batch calls the resizer makes, as a trait: `BatchClient` in
//! production, a scripted fake in unit tests (`converge/tests.rs`), so
//! the loop can be tested on paused time without a network.

use crate::batch::models::{MetadataItem, Node, Pool, ResizePool};
use crate::batch::{BatchClient, BatchError, PoolId};
use std::future::Future;

/// The Batch calls the loop needs; `BatchClient` in production, a scripted
/// fake in unit tests.
pub(crate) trait PoolApi: Sync {
    fn get_pool(&self, pool_id: &PoolId) -> impl Future<Output = Result<Pool, BatchError>> + Send;
    fn list_nodes(
        &self,
        pool_id: &PoolId,
    ) -> impl Future<Output = Result<Vec<Node>, BatchError>> + Send;
    fn resize_pool(
        &self,
        pool_id: &PoolId,
        body: &ResizePool,
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<(), BatchError>> + Send;
    fn stop_resize(
        &self,
        pool_id: &PoolId,
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<(), BatchError>> + Send;
    fn remove_nodes(
        &self,
        pool_id: &PoolId,
        node_ids: &[String],
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<(), BatchError>> + Send;
    fn replace_pool_metadata(
        &self,
        pool_id: &PoolId,
        metadata: &[MetadataItem],
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<(), BatchError>> + Send;
}

impl PoolApi for BatchClient {
    fn get_pool(&self, pool_id: &PoolId) -> impl Future<Output = Result<Pool, BatchError>> + Send {
        BatchClient::get_pool(self, pool_id)
    }
    fn list_nodes(
        &self,
        pool_id: &PoolId,
    ) -> impl Future<Output = Result<Vec<Node>, BatchError>> + Send {
        BatchClient::list_nodes(self, pool_id, None)
    }
    fn resize_pool(
        &self,
        pool_id: &PoolId,
        body: &ResizePool,
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<(), BatchError>> + Send {
        BatchClient::resize_pool(self, pool_id, body, if_match)
    }
    fn stop_resize(
        &self,
        pool_id: &PoolId,
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<(), BatchError>> + Send {
        BatchClient::stop_resize(self, pool_id, if_match)
    }
    fn replace_pool_metadata(
        &self,
        pool_id: &PoolId,
        metadata: &[MetadataItem],
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<(), BatchError>> + Send {
        BatchClient::replace_pool_metadata(self, pool_id, metadata, if_match)
    }
    fn remove_nodes(
        &self,
        pool_id: &PoolId,
        node_ids: &[String],
        if_match: Option<&str>,
    ) -> impl Future<Output = Result<(), BatchError>> + Send {
        BatchClient::remove_nodes(self, pool_id, node_ids, if_match)
    }
}
