//! Where the Batch account is and how the handler signs in to it.

use super::{ACCOUNT_URL_NOT_SET, reader};
use crate::batch::PoolId;
use crate::batch::credential::CredentialKind;
use azure_core::credentials::Secret;
use std::path::PathBuf;
use url::Url;

#[derive(Debug, Clone)]
pub(crate) enum AuthSettings {
    /// `BATCH_ACCOUNT_NAME` + `BATCH_ACCOUNT_KEY`.
    SharedKey { account: String, key: Secret },
    /// Microsoft Entra ID; `AZURE_CLIENT_ID` picks a user-assigned identity.
    Entra {
        kind: CredentialKind,
        client_id: Option<String>,
    },
}

/// The account's settings as read: `url` is `None` when it has a problem.
pub(super) struct BatchSettings {
    pub(super) url: Option<Url>,
    pub(super) default_pool_id: Option<PoolId>,
    pub(super) auth: AuthSettings,
    pub(super) ca_file: Option<PathBuf>,
}

impl BatchSettings {
    /// `env` is the raw lookup: the credential's own detection reads it,
    /// and the key keeps what it is given, trimmed only at its ends.
    pub(super) fn read(
        env: &impl Fn(&str) -> Option<String>,
        get: &impl Fn(&str) -> Option<String>,
        problems: &mut Vec<String>,
    ) -> Self {
        let url = match get("BATCH_ACCOUNT_URL") {
            None => {
                problems.push(format!(
                    "{ACCOUNT_URL_NOT_SET} (e.g. https://myaccount.westeurope.batch.azure.com)"
                ));
                None
            }
            Some(raw) => reader::https_url(problems, "BATCH_ACCOUNT_URL", &raw),
        };
        let default_pool_id = reader::pool_id(get, problems, "BATCH_POOL_ID");
        let auth = AuthSettings::read(env, get, problems);
        BatchSettings {
            url,
            default_pool_id,
            auth,
            ca_file: get("BATCH_CA_FILE").map(PathBuf::from),
        }
    }
}

impl AuthSettings {
    /// Shared Key when both its settings are set, Entra ID when neither is;
    /// one without the other is a problem, never a silent switch.
    fn read(
        env: &impl Fn(&str) -> Option<String>,
        get: &impl Fn(&str) -> Option<String>,
        problems: &mut Vec<String>,
    ) -> Self {
        let half = AuthSettings::Entra {
            kind: CredentialKind::DeveloperTools,
            client_id: None,
        };
        match (
            get("BATCH_ACCOUNT_NAME"),
            env("BATCH_ACCOUNT_KEY").filter(|k| !k.trim().is_empty()),
        ) {
            (Some(account), Some(key)) => AuthSettings::SharedKey {
                account,
                key: Secret::new(key.trim().to_owned()),
            },
            (Some(_), None) => {
                problems.push("BATCH_ACCOUNT_NAME is set but BATCH_ACCOUNT_KEY is not: set both for Shared Key, or neither for Microsoft Entra ID".to_owned());
                half
            }
            (None, Some(_)) => {
                problems.push("BATCH_ACCOUNT_KEY is set but BATCH_ACCOUNT_NAME is not: set both for Shared Key, or neither for Microsoft Entra ID".to_owned());
                half
            }
            (None, None) => AuthSettings::Entra {
                kind: CredentialKind::detect(env),
                client_id: get("AZURE_CLIENT_ID"),
            },
        }
    }
}
