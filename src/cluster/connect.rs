//! Finding the API server: one way for every subcommand that talks to a cluster, so they accept the same
//! kubeconfigs and fail with the same messages.

use std::path::{Path, PathBuf};

use kube::{
    Client, Config,
    config::{KubeConfigOptions, Kubeconfig},
};

/// Why no API client could be made; each names what to fix.
#[derive(Debug, thiserror::Error)]
pub enum ConnectError {
    #[error(
        "no cluster configuration found: not running in a pod with a service account, and no kubeconfig \
         (--kubeconfig, KUBECONFIG or ~/.kube/config): {source}"
    )]
    NoConfig {
        #[source]
        source: kube::config::InferConfigError,
    },
    #[error("cannot read kubeconfig {}: {source}", path.display())]
    ReadKubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("kubeconfig {}: {source}", path.display())]
    Kubeconfig {
        path: PathBuf,
        #[source]
        source: kube::config::KubeconfigError,
    },
    #[error("cannot build the API client for {url}: {source}")]
    Client {
        url: String,
        #[source]
        source: kube::Error,
    },
}

/// A client and the API server it talks to, for messages.
#[derive(Clone)]
pub struct Connection {
    pub client: Client,
    pub url: String,
}

/// Connects with `kubeconfig`, or as kubectl would (KUBECONFIG, ~/.kube/config, the pod's service
/// account); `tune` adjusts the settings (timeouts) before the client is built.
pub async fn connect(
    kubeconfig: Option<&Path>,
    tune: impl FnOnce(&mut Config),
) -> Result<Connection, ConnectError> {
    let mut config = match kubeconfig {
        Some(path) => {
            let file = Kubeconfig::read_from(path)
                .map_err(|source| ConnectError::ReadKubeconfig { path: path.to_owned(), source })?;
            Config::from_custom_kubeconfig(file, &KubeConfigOptions::default())
                .await
                .map_err(|source| ConnectError::Kubeconfig { path: path.to_owned(), source })?
        }
        None => Config::infer().await.map_err(|source| ConnectError::NoConfig { source })?,
    };
    tune(&mut config);
    let url = config.cluster_url.to_string();
    let client =
        Client::try_from(config).map_err(|source| ConnectError::Client { url: url.clone(), source })?;
    Ok(Connection { client, url })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_kubeconfig_that_cannot_be_read_is_named() {
        let Err(err) = connect(Some(Path::new("/nonexistent/kubeconfig")), |_| {}).await else {
            panic!("connected without a kubeconfig")
        };
        assert!(matches!(err, ConnectError::ReadKubeconfig { .. }), "{err}");
        assert!(err.to_string().starts_with("cannot read kubeconfig /nonexistent/kubeconfig: "), "{err}");
    }

    #[tokio::test]
    async fn settings_are_tuned_before_the_client_is_built() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("kubeconfig");
        std::fs::write(
            &path,
            "apiVersion: v1\nkind: Config\ncurrent-context: c\nclusters:\n- name: k\n  cluster: {server: \"https://127.0.0.1:6443\"}\n\
             contexts:\n- name: c\n  context: {cluster: k, user: u}\nusers:\n- name: u\n  user: {token: t}\n",
        )
        .unwrap();
        let mut seen = None;
        let conn = connect(Some(&path), |c| seen = Some(c.cluster_url.to_string())).await.unwrap();
        assert_eq!(conn.url, "https://127.0.0.1:6443/");
        assert_eq!(seen.as_deref(), Some("https://127.0.0.1:6443/"));
    }
}
