//! pool-resizer: hold Azure Batch nodes only while a pipeline needs them.
pub mod simulator;
