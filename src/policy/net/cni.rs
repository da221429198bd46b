//! The CNI config inside a NAD's `spec.config`: parsed once, with the field path of every part.

use ipnet::IpNet;
use serde_json::{Map, Value};

use crate::policy::{
    decision::msg,
    ranges::{parse_cidr_or_ip, parse_range},
};

/// CNI versions a runtime accepts (`libcni` `version.All`).
pub const CNI_VERSIONS: &[&str] = &["0.1.0", "0.2.0", "0.3.0", "0.3.1", "0.4.0", "1.0.0", "1.1.0"];

/// A parsed `spec.config`: a single plugin config or a conflist, and where its main plugin sits.
#[derive(Debug, Clone)]
pub struct NetConf {
    root: Map<String, Value>,
    is_list: bool,
}

/// A structural problem with `spec.config`, tied to the field inside it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigProblem {
    /// Path below `spec.config`, e.g. `.plugins[1].type` (empty for the config itself).
    pub field: String,
    pub message: String,
}

impl ConfigProblem {
    fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        ConfigProblem { field: field.into(), message: message.into() }
    }
}

impl NetConf {
    /// Parses the config and checks the shape every CNI runtime needs; returns every shape problem found.
    pub fn parse(text: &str) -> Result<NetConf, Vec<ConfigProblem>> {
        let value: Value = serde_json::from_str(text).map_err(|e| {
            vec![ConfigProblem::new(
                "",
                msg::invalid(text, format!("not valid JSON: {e} (inside spec.config)")),
            )]
        })?;
        let Value::Object(root) = value else {
            return Err(vec![ConfigProblem::new(
                "",
                msg::invalid(text, "must be a JSON object: a CNI config or conflist"),
            )]);
        };
        let mut problems = Vec::new();
        let is_list = root.contains_key("plugins");
        if is_list {
            match root.get("plugins") {
                Some(Value::Array(plugins)) if !plugins.is_empty() => {
                    for (i, p) in plugins.iter().enumerate() {
                        match p {
                            Value::Object(p) => match p.get("type") {
                                Some(Value::String(t)) if !t.is_empty() => {}
                                Some(Value::String(_)) | None => problems.push(ConfigProblem::new(
                                    format!(".plugins[{i}].type"),
                                    msg::required("every plugin needs a type"),
                                )),
                                Some(t) => problems.push(ConfigProblem::new(
                                    format!(".plugins[{i}].type"),
                                    msg::invalid_json(t, "must be a string"),
                                )),
                            },
                            other => problems.push(ConfigProblem::new(
                                format!(".plugins[{i}]"),
                                msg::invalid_json(other, "must be a plugin object with a \"type\""),
                            )),
                        }
                    }
                }
                Some(Value::Array(_)) => problems.push(ConfigProblem::new(
                    ".plugins",
                    msg::required("a conflist needs at least one plugin"),
                )),
                Some(other) => problems.push(ConfigProblem::new(
                    ".plugins",
                    msg::invalid_json(other, "must be an array of plugin objects"),
                )),
                None => {}
            }
        } else {
            match root.get("type") {
                Some(Value::String(t)) if !t.is_empty() => {}
                Some(Value::String(_)) | None => problems.push(ConfigProblem::new(
                    ".type",
                    msg::required("a CNI config needs a plugin type (or a \"plugins\" list)"),
                )),
                Some(t) => {
                    problems.push(ConfigProblem::new(".type", msg::invalid_json(t, "must be a string")))
                }
            }
        }
        if problems.is_empty() { Ok(NetConf { root, is_list }) } else { Err(problems) }
    }

    /// The top-level object (where `cniVersion` and `name` live).
    pub fn root(&self) -> &Map<String, Value> {
        &self.root
    }

    /// The plugin that creates the interface: the config itself, or a conflist's first plugin.
    pub fn main(&self) -> &Map<String, Value> {
        if self.is_list {
            // parse() guarantees a non-empty array of objects
            if let Some(Value::Object(p)) = self.root.get("plugins").and_then(|p| p.get(0)) {
                return p;
            }
        }
        &self.root
    }

    /// Whether the config is a conflist (a `plugins` list) rather than a single plugin config.
    pub fn is_list(&self) -> bool {
        self.is_list
    }

    /// Field path of the main plugin, for messages (`spec.config` or `spec.config.plugins[0]`).
    pub fn main_path(&self) -> &'static str {
        if self.is_list { "spec.config.plugins[0]" } else { "spec.config" }
    }

    /// The main plugin's type.
    pub fn main_type(&self) -> &str {
        self.main().get("type").and_then(Value::as_str).unwrap_or_default()
    }

    /// The host interface the main plugin sits on (`master`), where it names one as a string.
    pub fn master(&self) -> Option<&str> {
        self.main().get("master").and_then(Value::as_str)
    }
}

/// Every network a NAD's config hands addresses from, for the overlap index.
///
/// Lenient on purpose: it reads any config (valid or not) and keeps what parses, covering whereabouts
/// (`range`, `ipRanges`), host-local (`subnet`, `ranges`) and static (`addresses`), in every plugin.
pub fn claimed_ranges(config: &str) -> Vec<IpNet> {
    let mut nets: Vec<IpNet> = claimed_ranges_at(config).into_iter().map(|c| c.net).collect();
    nets.sort();
    nets.dedup();
    nets
}

/// A network claimed by a config, with the field that claims it and the text as written.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Claim {
    pub field: String,
    pub text: String,
    pub net: IpNet,
}

/// Like [`claimed_ranges`], keeping the field each network comes from, for messages.
pub fn claimed_ranges_at(config: &str) -> Vec<Claim> {
    let Ok(Value::Object(root)) = serde_json::from_str::<Value>(config) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    match root.get("plugins") {
        Some(Value::Array(plugins)) => {
            for (i, p) in plugins.iter().enumerate() {
                let base = format!("spec.config.plugins[{i}]");
                if let Some(ipam) = p.get("ipam") {
                    collect_ipam(ipam, &format!("{base}.ipam"), &mut out);
                }
                collect_ovn(p, &base, &mut out);
            }
        }
        _ => {
            if let Some(ipam) = root.get("ipam") {
                collect_ipam(ipam, "spec.config.ipam", &mut out);
            }
            collect_ovn(&Value::Object(root.clone()), "spec.config", &mut out);
        }
    }
    out
}

/// The plugin type of OVN-Kubernetes secondary networks (localnet, layer2, layer3 topologies).
pub const OVN_K8S_OVERLAY: &str = "ovn-k8s-cni-overlay";

/// The topology of an OVN-Kubernetes secondary network config, when the config is one.
pub fn ovn_topology(config: &str) -> Option<String> {
    let root: Value = serde_json::from_str(config).ok()?;
    let plugin = match root.get("plugins") {
        Some(Value::Array(plugins)) => plugins.first()?.clone(),
        _ => root,
    };
    (plugin.get("type")?.as_str()? == OVN_K8S_OVERLAY)
        .then(|| plugin.get("topology").and_then(Value::as_str).unwrap_or("layer3").to_owned())
}

/// OVN-Kubernetes hands addresses from `subnets` (comma-separated CIDRs; a layer3 entry may end in
/// `/hostsubnet`), except those in `excludeSubnets`: what is left is claimed. A localnet network
/// carving the migration subnet out with `excludeSubnets` therefore claims none of it.
fn collect_ovn(plugin: &Value, base: &str, out: &mut Vec<Claim>) {
    if plugin.get("type").and_then(Value::as_str) != Some(OVN_K8S_OVERLAY) {
        return;
    }
    let list = |key: &str| -> Vec<(String, IpNet)> {
        let text = plugin.get(key).and_then(Value::as_str).unwrap_or_default();
        text.split(',')
            .map(str::trim)
            .filter(|t| !t.is_empty())
            .filter_map(|t| ovn_cidr(t).map(|net| (t.to_owned(), net)))
            .collect()
    };
    let excludes: Vec<IpNet> = list("excludeSubnets").into_iter().map(|(_, n)| n).collect();
    let subnets = list("subnets");
    for (text, net) in &subnets {
        for piece in subtract(*net, &excludes) {
            out.push(Claim { field: format!("{base}.subnets"), text: text.clone(), net: piece });
        }
    }
    // a primary network's pods also sit on its join subnet: the one given, or OVN-Kubernetes' default
    if plugin.get("role").and_then(Value::as_str) == Some("primary") {
        let field = format!("{base}.joinSubnet");
        let given = list("joinSubnet");
        if given.is_empty() {
            for d in super::udn::DEFAULT_JOIN.iter() {
                if subnets.iter().any(|(_, s)| s.max_prefix_len() == d.max_prefix_len()) {
                    let text = format!("{d} (the default join subnet)");
                    out.push(Claim { field: field.clone(), text, net: *d });
                }
            }
        }
        for (text, net) in given {
            out.push(Claim { field: field.clone(), text, net });
        }
    }
}

/// A `subnets` entry: `10.1.0.0/16`, or layer3's `10.1.0.0/16/24` (the cluster subnet, then each
/// node's prefix).
fn ovn_cidr(text: &str) -> Option<IpNet> {
    let cidr = match text.matches('/').count() {
        2 => text.rsplit_once('/')?.0,
        _ => text,
    };
    cidr.parse::<IpNet>().ok().map(|n| n.trunc())
}

/// `net` without every network of `excludes`, as the fewest CIDRs.
pub fn subtract(net: IpNet, excludes: &[IpNet]) -> Vec<IpNet> {
    let mut out = vec![net];
    for ex in excludes {
        let mut next = Vec::new();
        for piece in out {
            if !super::ranges::overlaps(&piece, ex) {
                next.push(piece);
            } else if ex.contains(&piece) {
                // fully excluded
            } else {
                // the exclude lies inside: split in halves until it is cut out
                let mut stack = vec![piece];
                while let Some(p) = stack.pop() {
                    if ex.contains(&p) {
                        continue;
                    }
                    if !super::ranges::overlaps(&p, ex) {
                        next.push(p);
                        continue;
                    }
                    match p.subnets(p.prefix_len() + 1) {
                        Ok(halves) => stack.extend(halves),
                        Err(_) => next.push(p),
                    }
                }
            }
        }
        out = next;
    }
    out.sort();
    out
}

/// Reads the claims of one `ipam` object; `base` is its field path.
pub fn collect_ipam(ipam: &Value, base: &str, out: &mut Vec<Claim>) {
    let mut push = |field: String, text: &str, net: Option<IpNet>| {
        if let Some(net) = net {
            out.push(Claim { field, text: text.to_owned(), net: net.trunc() });
        }
    };
    if let Some(r) = ipam.get("range").and_then(Value::as_str) {
        push(format!("{base}.range"), r, parse_range(r).ok().map(|r| r.cidr()));
    }
    for (i, entry) in array(ipam, "ipRanges").iter().enumerate() {
        if let Some(r) = entry.get("range").and_then(Value::as_str) {
            push(format!("{base}.ipRanges[{i}].range"), r, parse_range(r).ok().map(|r| r.cidr()));
        }
    }
    if let Some(s) = ipam.get("subnet").and_then(Value::as_str) {
        push(format!("{base}.subnet"), s, s.parse::<IpNet>().ok());
    }
    for (i, set) in array(ipam, "ranges").iter().enumerate() {
        for (j, r) in set.as_array().map(Vec::as_slice).unwrap_or_default().iter().enumerate() {
            if let Some(s) = r.get("subnet").and_then(Value::as_str) {
                push(format!("{base}.ranges[{i}][{j}].subnet"), s, s.parse::<IpNet>().ok());
            }
        }
    }
    for (i, a) in array(ipam, "addresses").iter().enumerate() {
        if let Some(s) = a.get("address").and_then(Value::as_str) {
            push(format!("{base}.addresses[{i}].address"), s, parse_cidr_or_ip(s));
        }
    }
}

fn array<'a>(v: &'a Value, key: &str) -> &'a [Value] {
    v.get(key).and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    const REFERENCE: &str = r#"{"cniVersion":"0.3.1","name":"migration-bridge","type":"macvlan","master":"bond2","mode":"bridge","ipam":{"type":"whereabouts","range":"192.168.99.0/24"}}"#;

    #[test]
    fn single_config_is_its_own_main_plugin() {
        let c = NetConf::parse(REFERENCE).unwrap();
        assert_eq!(c.main_type(), "macvlan");
        assert_eq!(c.main_path(), "spec.config");
        assert_eq!(c.main().get("master").unwrap(), "bond2");
    }

    #[test]
    fn conflist_main_plugin_is_the_first() {
        let c = NetConf::parse(
            r#"{"cniVersion":"1.0.0","name":"m","plugins":[{"type":"macvlan","master":"eth1"},{"type":"tuning"}]}"#,
        )
        .unwrap();
        assert_eq!(c.main_type(), "macvlan");
        assert_eq!(c.main_path(), "spec.config.plugins[0]");
        assert_eq!(c.root().get("cniVersion").unwrap(), "1.0.0");
    }

    #[test]
    fn shape_problems_name_their_field() {
        let fields = |s: &str| -> Vec<String> {
            NetConf::parse(s).unwrap_err().into_iter().map(|p| p.field).collect()
        };
        assert_eq!(fields("{not json"), vec![""]);
        assert_eq!(fields("[1]"), vec![""]);
        assert_eq!(fields(r#"{"cniVersion":"0.3.1"}"#), vec![".type"]);
        assert_eq!(fields(r#"{"type":7}"#), vec![".type"]);
        assert_eq!(fields(r#"{"plugins":[]}"#), vec![".plugins"]);
        assert_eq!(fields(r#"{"plugins":{}}"#), vec![".plugins"]);
        assert_eq!(
            fields(r#"{"plugins":[{"type":"a"},{"type:":"b"},3]}"#),
            vec![".plugins[1].type", ".plugins[2]"]
        );
    }

    #[test]
    fn json_errors_say_where() {
        let p = NetConf::parse("{\"type\": }").unwrap_err();
        assert!(p[0].message.contains("line 1 column"), "{}", p[0].message);
    }

    #[test]
    fn claims_ranges_of_every_ipam_kind() {
        let n = |s: &str| s.parse::<IpNet>().unwrap();
        assert_eq!(claimed_ranges(REFERENCE), vec![n("192.168.99.0/24")]);
        let wb = r#"{"type":"macvlan","ipam":{"type":"whereabouts","range":"10.1.0.10-10.1.0.20/24",
            "ipRanges":[{"range":"fd00::/64"},{"range":"nope"}]}}"#;
        assert_eq!(claimed_ranges(wb), vec![n("10.1.0.0/24"), n("fd00::/64")]);
        let hl = r#"{"plugins":[{"type":"bridge","ipam":{"type":"host-local","subnet":"10.2.0.0/16",
            "ranges":[[{"subnet":"10.3.0.0/24"}],[{"subnet":"fd01::/64"}]]}},
            {"type":"x","ipam":{"type":"static","addresses":[{"address":"10.4.0.7/24"}]}}]}"#;
        assert_eq!(
            claimed_ranges(hl),
            vec![n("10.2.0.0/16"), n("10.3.0.0/24"), n("10.4.0.0/24"), n("fd01::/64")]
        );
        assert!(claimed_ranges("garbage").is_empty());
        // OVN-Kubernetes secondary networks claim their subnets, less what they exclude
        let l2 = r#"{"cniVersion":"0.3.1","name":"l2","type":"ovn-k8s-cni-overlay","topology":"layer2",
            "subnets":"10.100.200.0/24, fd10::/64","netAttachDefName":"ns1/l2"}"#;
        assert_eq!(claimed_ranges(l2), vec![n("10.100.200.0/24"), n("fd10::/64")]);
        let l3 = r#"{"type":"ovn-k8s-cni-overlay","topology":"layer3","subnets":"10.128.0.0/16/24"}"#;
        assert_eq!(claimed_ranges(l3), vec![n("10.128.0.0/16")]);
        let localnet = r#"{"type":"ovn-k8s-cni-overlay","topology":"localnet","subnets":"192.168.0.0/22",
            "excludeSubnets":"192.168.1.0/24,192.168.2.0/23"}"#;
        assert_eq!(claimed_ranges(localnet), vec![n("192.168.0.0/24")]);
        assert_eq!(ovn_topology(localnet).as_deref(), Some("localnet"));
        assert_eq!(ovn_topology(REFERENCE), None);
        assert!(claimed_ranges(r#"{"type":"macvlan"}"#).is_empty());
    }
}
