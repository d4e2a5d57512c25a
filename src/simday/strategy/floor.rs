//! The baseline every saving is measured against: one node held all day, as a pool
//! without any sizing would be.

use async_trait::async_trait;
use reqwest::Method;
use serde_json::json;

use super::{Ctx, Strategy};

/// One node, all day.
pub(crate) struct Floor;

#[async_trait]
impl Strategy for Floor {
    fn name(&self) -> &str {
        "1-node floor"
    }

    fn description(&self) -> String {
        "one dedicated node all day (resized once, before the first day)".into()
    }

    async fn prepare(&self, ctx: &Ctx) -> Result<(), String> {
        ctx.call(
            Method::POST,
            &format!("/pools/{}/resize", ctx.pool),
            json!({"targetDedicatedNodes": 1}),
        )
        .await
    }
}
