//! What can go wrong setting up or driving the city.

use thiserror::Error;

#[derive(Debug, Error)]
pub enum CityError {
    #[error("{path}: {source}")]
    Client {
        path: String,
        #[source]
        source: polis_client::Error,
    },
    #[error("deploying {plugin}: {source}")]
    Deploy {
        plugin: String,
        #[source]
        source: polis_cli::deploy::DeployError,
    },
    #[error("{path} does not hold JSON: {source}")]
    Json {
        path: String,
        #[source]
        source: serde_json::Error,
    },
    #[error("shelter {shelter} cannot be registered: {reason}")]
    Shelter { shelter: String, reason: String },
    #[error("the sample city is malformed: {0}")]
    Sample(String),
    #[error("the district's state file {path}: {source}")]
    StateFile {
        path: String,
        #[source]
        source: std::io::Error,
    },
}

impl CityError {
    pub fn client(path: &str) -> impl FnOnce(polis_client::Error) -> CityError + '_ {
        move |source| CityError::Client {
            path: path.to_string(),
            source,
        }
    }
}
