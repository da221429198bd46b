//! Stable rule identifiers: what users grep for, disable in the policy file and see in audit logs.

use std::{fmt, str::FromStr};

macro_rules! rules {
    ($($variant:ident => $id:literal, $summary:literal;)*) => {
        /// Every rule mignet enforces, so a finding can always be traced to its documentation and switched off.
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
        pub enum Rule { $($variant,)* }

        impl Rule {
            /// All rules, in documentation order.
            pub const ALL: &'static [Rule] = &[$(Rule::$variant,)*];

            /// The stable id used in output, policy files and audit annotations.
            pub fn id(self) -> &'static str {
                match self { $(Rule::$variant => $id,)* }
            }

            /// One line saying what the rule protects against.
            pub fn summary(self) -> &'static str {
                match self { $(Rule::$variant => $summary,)* }
            }
        }

        impl FromStr for Rule {
            type Err = UnknownRule;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                match s { $($id => Ok(Rule::$variant),)* _ => Err(UnknownRule(s.to_owned())) }
            }
        }
    };
}

rules! {
    ObjectSchema => "object-schema", "metadata fields must have the types the API server decodes (a string namespace, string labels)";
    NadNamespace => "nad-namespace", "a migration NAD must live in the migration namespace";
    NadConfigMissing => "nad-config-missing", "spec.config must be present: an empty config means an unverifiable on-disk file";
    NadConfigInvalid => "nad-config-invalid", "spec.config must be a JSON CNI config or conflist";
    NadCniVersion => "nad-cni-version", "cniVersion must be a released CNI version";
    NadPluginType => "nad-plugin-type", "the main plugin must be an allowed type (default macvlan)";
    NadMaster => "nad-master", "macvlan needs a valid, dedicated master interface";
    NadMasterShared => "nad-master-shared", "a VLAN on a management interface shares its link (warning)";
    NadMode => "nad-mode", "macvlan mode must be bridge, private, vepa or passthru";
    NadModePassthru => "nad-mode-passthru", "passthru allows one macvlan per NIC (warning)";
    NadMtu => "nad-mtu", "mtu must be 0 or 68-65535";
    NadIpam => "nad-ipam", "IPAM must be present and an allowed type (default whereabouts)";
    NadRange => "nad-range", "whereabouts ranges must parse and be consistent";
    NadRangeHostBits => "nad-range-host-bits", "a CIDR with host bits set is masked by whereabouts (warning)";
    NadRangeBounds => "nad-range-bounds", "range_start/range_end must lie inside their range, in order";
    NadExclude => "nad-exclude", "exclude entries must lie inside their range and leave addresses free";
    NadGateway => "nad-gateway", "the gateway must lie inside a range";
    NadGatewayAllocatable => "nad-gateway-allocatable", "a gateway that is not excluded can be handed out (warning)";
    NadNodeSlice => "nad-node-slice", "Fast IPAM node_slice_size must cut the IPv4 range into a slice per virt-handler node";
    NadRangeTooSmall => "nad-range-too-small", "/31, /32, /127 and /128 cannot allocate";
    NadRangeSelfOverlap => "nad-range-self-overlap", "ranges of one NAD must not overlap";
    NadRangeUnroutable => "nad-range-unroutable", "loopback, link-local, multicast and other special ranges never route";
    NadCapacity => "nad-capacity", "every virt-handler node needs an address";
    NadCapacityLow => "nad-capacity-low", "fewer than twice as many addresses as nodes (warning)";
    NadOverlapReserved => "nad-overlap-reserved", "the migration subnet must not overlap a cluster network";
    NadOverlapNad => "nad-overlap-nad", "the migration subnet must not overlap another network (NAD, UserDefinedNetwork, ClusterUserDefinedNetwork)";
    NadOverlapMigration => "nad-overlap-migration", "other networks must stay off the migration subnet";
    NadOverlapUnknown => "nad-overlap-unknown", "a UserDefinedNetwork or ClusterUserDefinedNetwork that cannot be read may claim the migration subnet (warning)";
    NadInUse => "nad-in-use", "the NAD a HyperConverged migrates over cannot be deleted";
    NadInUseRangeChange => "nad-in-use-range-change", "changing the ranges of the NAD in use needs virt-handler restarts (warning)";
    NadMasterMissing => "nad-master-missing", "the master must exist on every virt-handler node (NodeNetworkState)";
    NadMasterUnknown => "nad-master-unknown", "virt-handler nodes without a readable NodeNetworkState are not checked (warning)";
    NadMasterManagement => "nad-master-management", "the master must not be, or stand on, a node's management interface";
    NadMasterPort => "nad-master-port", "the master must not be a port of a bond or bridge (the kernel refuses it)";
    NadMasterDown => "nad-master-down", "the master is down on some virt-handler nodes (warning)";
    NadMtuMaster => "nad-mtu-master", "mtu must not exceed the master's MTU on any virt-handler node";
    NadMtuMismatch => "nad-mtu-mismatch", "the master's MTU differs between virt-handler nodes (warning)";
    NadRangeHostAddress => "nad-range-host-address", "an address configured on a node's master must not be allocatable";
    HcVersionLayout => "hc-version-layout", "a write through a version whose layout is not the stored one would erase the live-migration settings";
    HcNetworkRemoved => "hc-network-removed", "dropping the network moves migrations to the pod network (warning)";
    HcNetworkChanged => "hc-network-changed", "changing the network restarts every virt-handler (warning)";
    HcNetworkName => "hc-network-name", "the network must be a NAD name (DNS-1123 label)";
    HcNamespace => "hc-namespace", "a HyperConverged or KubeVirt CR with a migration network must live in the migration namespace";
    HcNetworkMissing => "hc-network-missing", "the named NAD must exist in the HyperConverged's (or KubeVirt CR's) namespace";
    HcNetworkInvalid => "hc-network-invalid", "the named NAD must pass every migration NAD rule";
    HcParallel => "hc-parallel", "parallel migration limits must be at least 1";
    HcParallelOutbound => "hc-parallel-outbound", "outbound per node above the cluster limit has no effect (warning)";
    HcTimeout => "hc-timeout", "timeouts must not be negative; 0 turns them off (warning)";
    HcBandwidth => "hc-bandwidth", "bandwidthPerMigration must be a non-negative quantity";
    HcBandwidthLow => "hc-bandwidth-low", "a bandwidth under 1Mi/s is raised to 1Mi/s by KubeVirt (warning)";
    HcTimeoutVsBandwidth => "hc-timeout-vs-bandwidth", "completionTimeoutPerGiB must leave time to copy a GiB at the bandwidth";
    HcDefaults => "hc-defaults", "absent live-migration settings get the policy's defaults (mutating)";
    NncpBreaksMigration => "nncp-breaks-migration", "a NodeNetworkConfigurationPolicy must not remove, down, shrink or enslave the migration master, nor leave its bond without a port";
    NncpMtuShrinksMigration => "nncp-mtu-shrinks-migration", "lowering the master's MTU clamps running macvlans (warning)";
    NncpCaptureUnjudged => "nncp-capture-unjudged", "capture templates resolve per node: not judged (warning)";
    NncpReplacesMigrationPorts => "nncp-replaces-migration-ports", "the policy drops ports of the migration bond: migrations move to the NICs it lists (warning)";
    MigrationInFlight => "migration-in-flight", "the migration network, its NAD's master, range, plugin and IPAM, and the host interfaces under it must not change while a live migration is unfinished";
    MigrationInFlightStale => "migration-in-flight-stale", "migrations unfinished for longer than inFlightMaxAgeSeconds are taken as stuck and ignored (warning)";
    UdnSpec => "udn-spec", "a UserDefinedNetwork or ClusterUserDefinedNetwork must be one OVN-Kubernetes can render (topology, role, subnets)";
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.id())
    }
}

impl serde::Serialize for Rule {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.id())
    }
}

/// A rule id that no rule carries: a typo in a policy file must not silently disable nothing.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("unknown rule id {0:?}")]
pub struct UnknownRule(pub String);

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn ids_are_unique_and_round_trip() {
        let mut seen = HashSet::new();
        for rule in Rule::ALL {
            assert!(seen.insert(rule.id()), "duplicate id {}", rule.id());
            assert_eq!(rule.id().parse::<Rule>(), Ok(*rule));
            assert!(
                ["nad-", "hc-", "object-", "nncp-", "migration-", "udn-"]
                    .iter()
                    .any(|p| rule.id().starts_with(p)),
                "{}",
                rule.id()
            );
        }
    }

    #[test]
    fn unknown_id_is_an_error() {
        assert_eq!("nad-nope".parse::<Rule>(), Err(UnknownRule("nad-nope".into())));
    }
}
