//! The OpenTelemetry providers and their Application Insights exporter.
//!
//! `opentelemetry-application-insights` writes Microsoft's ingestion format
//! (requests, dependencies, metrics) to the connection string's
//! `IngestionEndpoint`, gzip and retries included; the SDK's batch span
//! processor and periodic metric reader run the exports on their own threads
//! with bounded queues (a full queue drops spans and counts them, and the SDK
//! logs the count at shutdown). We hand the exporter our own HTTPS client
//! ([`crate::https::https_client`]: ring rustls, Mozilla's roots
//! plus `TELEMETRY_CA_FILE`), so no second TLS stack is linked, and each upload
//! runs on the handler's runtime with a hard timeout.

use super::settings::TelemetrySettings;
use crate::https::{TransportError, https_client, read_ca_file};
use opentelemetry::KeyValue;
use opentelemetry_http::{Bytes, HttpClient, HttpError, Request, Response};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::metrics::{PeriodicReader, SdkMeterProvider};
use opentelemetry_sdk::trace::{BatchConfigBuilder, BatchSpanProcessor, SdkTracerProvider};
use std::time::Duration;

/// One upload's longest wait for the ingestion endpoint, connection to last
/// byte. The exporter retries a failed upload with backoff; the SDK's
/// threads, not an answer, wait for it.
const UPLOAD_TIMEOUT: Duration = Duration::from_secs(10);
/// How often metrics are sent: Application Insights' own one-minute grain.
const METRIC_INTERVAL: Duration = Duration::from_secs(60);

/// Why telemetry could not start (it is then off; the handler still serves).
#[derive(Debug, thiserror::Error)]
pub enum TelemetryError {
    /// The connection string does not parse. Its text is not repeated: it
    /// holds the instrumentation key.
    #[error(
        "APPLICATIONINSIGHTS_CONNECTION_STRING is not a valid connection string (InstrumentationKey=...;IngestionEndpoint=https://...)"
    )]
    ConnectionString,
    /// `TELEMETRY_CA_FILE` or the HTTPS client.
    #[error("TELEMETRY_CA_FILE: {0}")]
    Transport(#[from] TransportError),
}

/// The running exporters; [`Telemetry::shutdown`] flushes them.
pub struct Telemetry {
    tracer: SdkTracerProvider,
    meter: SdkMeterProvider,
}

impl std::fmt::Debug for Telemetry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Telemetry")
    }
}

impl Telemetry {
    /// Starts exporting when `APPLICATIONINSIGHTS_CONNECTION_STRING` is set
    /// (`None` otherwise: every instrument is then a no-op) and installs the
    /// providers globally. Call inside the runtime: uploads run on it.
    pub fn start_from_env() -> Option<Telemetry> {
        let settings = TelemetrySettings::from_process_env();
        settings.connection_string.as_ref()?;
        match Self::start(&settings) {
            Ok(telemetry) => {
                tracing::info!("telemetry: metrics and traces go to Application Insights");
                Some(telemetry)
            }
            Err(e) => {
                tracing::warn!("warning: telemetry is off: {e}");
                None
            }
        }
    }

    pub(crate) fn start(settings: &TelemetrySettings) -> Result<Telemetry, TelemetryError> {
        let connection_string = settings
            .connection_string
            .as_deref()
            .ok_or(TelemetryError::ConnectionString)?;
        let extra = match &settings.ca_file {
            Some(path) => read_ca_file(path)?,
            None => Vec::new(),
        };
        let client = Uploads {
            client: https_client(&extra, settings.ca_file.as_deref())?,
            runtime: tokio::runtime::Handle::current(),
        };
        let exporter = || {
            opentelemetry_application_insights::Exporter::new_from_connection_string(
                connection_string,
                client.clone(),
            )
            .map_err(|_| TelemetryError::ConnectionString)
        };
        let resource = Resource::builder_empty()
            .with_service_name("pool-resizer")
            .with_attribute(KeyValue::new("service.version", env!("CARGO_PKG_VERSION")))
            .build();
        // At most OTEL_BSP_MAX_QUEUE_SIZE spans wait (SDK default 2048, about 1 KB
        // each: a bounded few MB however long ingestion is down); more are
        // dropped and counted. The SDK reads it and OTEL_BSP_SCHEDULE_DELAY
        // (default 5 s) from the environment.
        let spans = BatchSpanProcessor::builder(exporter()?)
            .with_batch_config(BatchConfigBuilder::default().build())
            .build();
        let tracer = SdkTracerProvider::builder()
            .with_span_processor(spans)
            .with_resource(resource.clone())
            .build();
        let reader = PeriodicReader::builder(exporter()?)
            .with_interval(METRIC_INTERVAL)
            .build();
        let meter = SdkMeterProvider::builder()
            .with_reader(reader)
            .with_resource(resource)
            .build();
        opentelemetry::global::set_tracer_provider(tracer.clone());
        opentelemetry::global::set_meter_provider(meter.clone());
        Ok(Telemetry { tracer, meter })
    }

    /// Sends what is left (the last spans, this minute's metrics) and stops,
    /// giving up at `deadline`: what is not sent by then is dropped, so
    /// shutdown stays within its bound however ingestion is doing. The flush
    /// runs on a thread of its own while this runtime keeps driving uploads.
    pub async fn shutdown(self, deadline: tokio::time::Instant) {
        let (done, flushed) = tokio::sync::oneshot::channel();
        let spawned = std::thread::Builder::new()
            .name("telemetry-flush".into())
            .spawn(move || {
                let _ = self.tracer.shutdown();
                let _ = self.meter.shutdown();
                let _ = done.send(());
            });
        if spawned.is_err() {
            return;
        }
        if tokio::time::timeout_at(deadline, flushed).await.is_err() {
            tracing::warn!("telemetry: not all sent by the shutdown deadline; the rest is dropped");
        }
    }
}

/// The exporter's HTTP client: each upload is spawned on the handler's
/// runtime (the SDK's export threads have none) and bounded by
/// [`UPLOAD_TIMEOUT`].
#[derive(Debug, Clone)]
struct Uploads {
    client: reqwest::Client,
    runtime: tokio::runtime::Handle,
}

#[async_trait::async_trait]
impl HttpClient for Uploads {
    async fn send_bytes(&self, request: Request<Bytes>) -> Result<Response<Bytes>, HttpError> {
        let request = reqwest::Request::try_from(request)?;
        let client = self.client.clone();
        let upload = async move {
            let response = client.execute(request).await?;
            let mut answer = Response::builder().status(response.status());
            if let Some(headers) = answer.headers_mut() {
                headers.extend(response.headers().clone());
            }
            let body = response.bytes().await?;
            Ok::<_, HttpError>(answer.body(body)?)
        };
        match self
            .runtime
            .spawn(async move { tokio::time::timeout(UPLOAD_TIMEOUT, upload).await })
            .await
        {
            Ok(Ok(result)) => result,
            Ok(Err(_elapsed)) => Err("upload timed out".into()),
            Err(stopped) => Err(Box::new(stopped)),
        }
    }
}
