//! The policy file: every setting a platform team may change, with OpenShift's defaults.

use std::collections::BTreeMap;

use ipnet::IpNet;
use serde::{Deserialize, Serialize};

/// The default policy as a commented file that loads back to exactly the defaults.
pub const DEFAULT_POLICY_YAML: &str = include_str!("default-policy.yaml");

/// The policy file as written; absent keys take the defaults, unknown keys are an error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct PolicyFile {
    pub migration_namespace: String,
    pub migration_label: String,
    pub name_globs: Vec<String>,
    pub allowed_plugin_types: Vec<String>,
    pub allowed_ipam_types: Vec<String>,
    pub forbidden_interfaces: Vec<String>,
    pub management_interfaces: Vec<String>,
    pub virt_handler_node_selector: BTreeMap<String, String>,
    pub reserved_ranges: ReservedRanges,
    pub hyper_converged_defaults: HcDefaults,
    pub disabled_rules: Vec<String>,
    /// Unfinished migrations older than this (seconds) are taken as stuck and no longer hold the
    /// migration network; 0 never lets one go.
    pub in_flight_max_age_seconds: u64,
}

/// Cluster networks a migration subnet must stay off; a list given in the file replaces that default.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct ReservedRanges {
    pub pod: Vec<IpNet>,
    pub service: Vec<IpNet>,
    #[serde(rename = "externalIP")]
    pub external_ip: Vec<IpNet>,
    pub machine: Vec<IpNet>,
    pub ovn_join: Vec<IpNet>,
    pub ovn_transit: Vec<IpNet>,
    pub ovn_masquerade: Vec<IpNet>,
    pub additional: Vec<NamedRange>,
}

impl Default for ReservedRanges {
    fn default() -> Self {
        let nets = |v: &[&str]| v.iter().filter_map(|s| s.parse().ok()).collect::<Vec<IpNet>>();
        ReservedRanges {
            pod: nets(&["10.128.0.0/14"]),
            service: nets(&["172.30.0.0/16"]),
            external_ip: Vec::new(),
            machine: nets(&["10.0.0.0/16"]),
            ovn_join: nets(&["100.64.0.0/16", "fd98::/64"]),
            ovn_transit: nets(&["100.88.0.0/16", "fd97::/64"]),
            ovn_masquerade: nets(&["fd69::/112"]),
            additional: Vec::new(),
        }
    }
}

/// A site-specific reserved network (storage, BMC, …) with the name denials will use.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NamedRange {
    pub name: String,
    pub cidr: IpNet,
}

/// Values added to absent HyperConverged live-migration fields.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase", deny_unknown_fields, default)]
pub struct HcDefaults {
    #[serde(rename = "completionTimeoutPerGiB")]
    pub completion_timeout_per_gib: i64,
    pub progress_timeout: i64,
    pub parallel_migrations_per_cluster: u32,
    pub parallel_outbound_migrations_per_node: u32,
}

impl Default for HcDefaults {
    fn default() -> Self {
        // HCO 1.19's defaults (hyperconverged-cluster-operator #4426): what a new install gets
        HcDefaults {
            completion_timeout_per_gib: 20,
            progress_timeout: 150,
            parallel_migrations_per_cluster: 5,
            parallel_outbound_migrations_per_node: 1,
        }
    }
}

impl Default for PolicyFile {
    fn default() -> Self {
        let strings = |v: &[&str]| v.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        PolicyFile {
            migration_namespace: "openshift-cnv".into(),
            migration_label: "mignet.io/live-migration".into(),
            name_globs: strings(&["*migration*"]),
            allowed_plugin_types: strings(&["macvlan"]),
            allowed_ipam_types: strings(&["whereabouts"]),
            forbidden_interfaces: strings(&["br-ex", "br-int", "lo"]),
            management_interfaces: Vec::new(),
            virt_handler_node_selector: [("kubevirt.io/schedulable".to_string(), "true".to_string())].into(),
            reserved_ranges: ReservedRanges::default(),
            hyper_converged_defaults: HcDefaults::default(),
            disabled_rules: Vec::new(),
            // a day: longer than any healthy migration (a 256 GiB VM at 150 s/GiB takes under 11 h)
            in_flight_max_age_seconds: 86_400,
        }
    }
}

/// Why a policy file cannot be used; the old policy stays in force where one was loaded.
#[derive(Debug, thiserror::Error)]
pub enum PolicyFileError {
    #[error("{0}")]
    Yaml(String),
}

impl PolicyFile {
    /// Parses a policy file's text.
    pub fn from_yaml(text: &str) -> Result<PolicyFile, PolicyFileError> {
        if text.trim().is_empty() {
            return Ok(PolicyFile::default());
        }
        serde_saphyr::from_str(text).map_err(|e| PolicyFileError::Yaml(e.to_string()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_is_the_default() {
        assert_eq!(PolicyFile::from_yaml("").unwrap(), PolicyFile::default());
        assert_eq!(PolicyFile::from_yaml("# nothing\n").unwrap(), PolicyFile::default());
    }

    #[test]
    fn partial_file_keeps_other_defaults() {
        let p = PolicyFile::from_yaml("migrationNamespace: kubevirt-hyperconverged\n").unwrap();
        assert_eq!(p.migration_namespace, "kubevirt-hyperconverged");
        assert_eq!(p.allowed_plugin_types, vec!["macvlan"]);
        let p = PolicyFile::from_yaml("reservedRanges:\n  pod: [10.132.0.0/14]\n").unwrap();
        assert_eq!(p.reserved_ranges.pod, vec!["10.132.0.0/14".parse::<IpNet>().unwrap()]);
        assert_eq!(p.reserved_ranges.service, ReservedRanges::default().service);
    }

    #[test]
    fn unknown_keys_are_errors() {
        let e = PolicyFile::from_yaml("migrationNamespce: x\n").unwrap_err().to_string();
        assert!(e.contains("migrationNamespce"), "{e}");
        let e = PolicyFile::from_yaml("reservedRanges:\n  pods: []\n").unwrap_err().to_string();
        assert!(e.contains("pods"), "{e}");
    }

    #[test]
    fn bad_cidr_is_an_error() {
        assert!(PolicyFile::from_yaml("reservedRanges:\n  pod: [10.500.0.0/14]\n").is_err());
    }
}
