//! The handler's shared state: the Batch client, settings, clock, stop
//! signal, the looks shared by waiting requests and the cap on concurrent
//! waits. Its own module so routes, handlers and timers all depend on it and
//! not on each other.

use super::status_url::StatusUrlKeys;
use crate::batch::BatchClient;
use crate::clock::Clock;
use crate::resizer::looks::Looks;
use crate::resizer::{Converger, PollPolicy};
use crate::service::Service;
use crate::settings::{Settings, SettingsError, StatusUrlSecret};
use std::sync::Arc;
use tokio_util::sync::CancellationToken;

/// Parameters fit in a few hundred bytes; refuse anything big before reading it.
pub(crate) const BODY_LIMIT: usize = 64 * 1024;

#[derive(Clone)]
/// What every request shares: the Batch client, the settings, the poll policy, the shutdown token and the shared looks. Cheap to clone.
pub struct AppState(pub(super) Arc<Inner>);

pub(super) struct Inner {
    pub(super) batch: BatchClient,
    pub(super) settings: Settings,
    pub(super) clock: Clock,
    pub(super) policy: PollPolicy,
    pub(super) stop: CancellationToken,
    /// Looks shared by every request waiting on the same pool.
    pub(super) looks: Looks,
    /// Permits for inline waits; past [`MAX_CONCURRENT_WAITS`] a scale
    /// request is answered 202 at once and carried on by its status URL.
    pub(super) waits: Arc<tokio::sync::Semaphore>,
    /// Seal and open status URLs (`STATUS_URL_SECRET`).
    pub(super) status_urls: StatusUrlKeys,
}

/// Inline waits one instance holds at once. Each costs little (a task and a
/// few KiB), but past this the instance would only queue work that the
/// status URL can carry just as well, and Batch calls stay bounded by the
/// shared looks anyway.
pub(crate) const MAX_CONCURRENT_WAITS: usize = 1000;

impl AppState {
    /// The state of one handler process; `stop` ends waits with an honest 202.
    ///
    /// Refused without `STATUS_URL_SECRET`: a secret made up here would
    /// differ per instance, and ADF's polls land on any instance.
    pub fn new(
        batch: BatchClient,
        settings: Settings,
        policy: PollPolicy,
        stop: CancellationToken,
    ) -> Result<Self, SettingsError> {
        let Some(secret) = &settings.status_url_secret else {
            return Err(SettingsError(vec![StatusUrlSecret::NOT_SET.to_owned()]));
        };
        let status_urls = StatusUrlKeys::new(&secret.current, secret.previous.as_ref());
        let clock = Clock::scaled(settings.time_scale);
        Ok(Self(Arc::new(Inner {
            batch,
            settings,
            clock,
            policy,
            stop,
            looks: Looks::default(),
            waits: Arc::new(tokio::sync::Semaphore::new(MAX_CONCURRENT_WAITS)),
            status_urls,
        })))
    }

    pub(super) fn status_urls(&self) -> &StatusUrlKeys {
        &self.0.status_urls
    }

    pub(crate) fn settings(&self) -> &Settings {
        &self.0.settings
    }

    /// The handler's clock: real time in Azure, scaled in dev and tests.
    pub(super) fn clock(&self) -> Clock {
        self.0.clock
    }

    /// The service every route calls, with this instance's shared looks
    /// and its cap on concurrent waits.
    pub(super) fn service(&self) -> Service<'_, BatchClient> {
        Service {
            converger: self.converger(),
            limits: self.0.settings.limits(),
            provision_deadline: self.0.settings.provision_deadline,
            waits: Some(&self.0.waits),
        }
    }

    pub(super) fn converger(&self) -> Converger<'_, BatchClient> {
        Converger {
            batch: &self.0.batch,
            clock: self.0.clock,
            policy: self.0.policy,
            stop: self.0.stop.clone(),
            progress: None,
            looks: Some(&self.0.looks),
        }
    }
}
