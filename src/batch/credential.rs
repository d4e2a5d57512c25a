//! Which Microsoft Entra credential to use, decided once at start.
//!
//! In Azure Functions the platform sets `IDENTITY_ENDPOINT` and
//! `IDENTITY_HEADER` (App Service managed identity); on a VM there is IMDS
//! (`IMDS_ENDPOINT`/`MSI_ENDPOINT`). With any of those we use
//! `ManagedIdentityCredential`, for the user-assigned identity named by
//! `AZURE_CLIENT_ID` if set. Elsewhere (a laptop) it is `DeveloperToolsCredential`:
//! the Azure CLI or Azure Developer CLI login. Both share our transport, so a
//! token endpoint behind the simulator's (or a proxy's) CA works too.

use azure_core::credentials::TokenCredential;
use azure_core::http::ClientOptions;
use azure_identity::{
    DeveloperToolsCredential, ManagedIdentityCredential, ManagedIdentityCredentialOptions,
    UserAssignedId,
};
use std::sync::Arc;

/// The kind chosen, for the start-up log line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum CredentialKind {
    ManagedIdentity,
    DeveloperTools,
}

impl CredentialKind {
    /// Managed identity when the environment offers one.
    pub(crate) fn detect(env: impl Fn(&str) -> Option<String>) -> Self {
        let present = |name: &str| env(name).is_some_and(|v| !v.trim().is_empty());
        if present("IDENTITY_ENDPOINT") || present("MSI_ENDPOINT") || present("IMDS_ENDPOINT") {
            CredentialKind::ManagedIdentity
        } else {
            CredentialKind::DeveloperTools
        }
    }
}

pub(crate) fn entra_credential(
    kind: CredentialKind,
    user_assigned_client_id: Option<&str>,
    client_options: ClientOptions,
) -> azure_core::Result<Arc<dyn TokenCredential>> {
    Ok(match kind {
        CredentialKind::ManagedIdentity => {
            ManagedIdentityCredential::new(Some(ManagedIdentityCredentialOptions {
                user_assigned_id: user_assigned_client_id
                    .map(|id| UserAssignedId::ClientId(id.to_owned())),
                client_options,
            }))?
        }
        CredentialKind::DeveloperTools => DeveloperToolsCredential::new(None)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn managed_identity_when_the_platform_offers_it() {
        let env = |name: &str| (name == "IDENTITY_ENDPOINT").then(|| "http://x".to_owned());
        assert_eq!(CredentialKind::detect(env), CredentialKind::ManagedIdentity);
        assert_eq!(
            CredentialKind::detect(|_| None),
            CredentialKind::DeveloperTools
        );
        let blank = |_: &str| Some("  ".to_owned());
        assert_eq!(
            CredentialKind::detect(blank),
            CredentialKind::DeveloperTools
        );
    }
}
